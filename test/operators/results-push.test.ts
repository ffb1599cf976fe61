import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NodeOutput } from '#commons/workflows/node-data.ts';
import { resultsPush } from '../../functions/operators/results-push/operator.ts';
import { FAILING_BUS, type LocalEventBus, startEventBus } from './event-bus.ts';
import { PAGE_LINES, cropFixture, modelOutput, nodeEvent, readFixture, runOperator } from './helpers.ts';

let bus: LocalEventBus;
let page: NodeOutput;
let upright: NodeOutput;

beforeAll(async () => {
  bus = await startEventBus();
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_EVENTBRIDGE: bus.endpoint,
  });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  page = await modelOutput('detection', 'ocr-text-detector', await readFixture('page.png'));
  upright = await modelOutput('orientation', 'ocr-text-orientation', await cropFixture('page.png', PAGE_LINES['heading words']));
});

beforeEach(() => {
  process.env.EVENT_BUS_NAME = 'percept-results';
  bus.requests.length = 0;
});

afterAll(async () => {
  await bus?.stop();
});

describe('results-push', () => {
  it('publishes the workflow result', async () => {
    const event = nodeEvent(resultsPush, { inputId: 'page.png', upstream: [page, upright] });

    const output = await runOperator(resultsPush, {}, event);

    expect(bus.requests).toHaveLength(1);
    const [request] = bus.requests;
    expect(request?.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(request?.entries).toHaveLength(1);
    const entry = request?.entries[0];
    expect(entry?.EventBusName).toBe('percept-results');
    expect(entry?.Source).toBe('percept.workflow');
    expect(entry?.DetailType).toBe('Workflow Result');
    const detail = JSON.parse(entry?.Detail ?? '{}');
    expect(detail.app_id).toBe('main');
    expect(detail.input_id).toBe('page.png');
    expect(detail.node_id).toBe('results-push-node');
    expect(detail.outputs.map((result: NodeOutput) => result.node_id)).toEqual(['detection', 'orientation']);
    expect(detail.outputs[0].data.regions).toEqual(page.data.regions);
    expect(detail.outputs[1].data.concepts).toEqual(upright.data.concepts);
    expect(output.metadata).toEqual({ event_id: request?.eventIds[0] });
    expect(output.data).toEqual(page.data);
  });

  it('uses the configured source and detail type', async () => {
    const params = { model_metadata: { source: 'acme.scanning', detail_type: 'Page Scanned' } };

    await runOperator(resultsPush, params, nodeEvent(resultsPush, { upstream: [upright] }));

    expect(bus.requests[0]?.entries[0]?.Source).toBe('acme.scanning');
    expect(bus.requests[0]?.entries[0]?.DetailType).toBe('Page Scanned');
  });

  it('rejects a result above 256 KB', async () => {
    const regions = Array.from({ length: 400 }, () => page.data.regions ?? []).flat();
    const large = { ...page, data: { regions } };

    await expect(runOperator(resultsPush, {}, nodeEvent(resultsPush, { inputId: 'large.png', upstream: [large] }))).rejects.toThrow(
      expect.objectContaining({
        code: 'RESULT_TOO_LARGE',
        message: expect.stringMatching(
          /^The result of input large\.png is \d+ bytes as an event entry, but EventBridge takes entries below 262144 bytes\. Put a thresholder before results-push to send fewer concepts or regions\.$/,
        ),
      }),
    );
    expect(bus.requests).toHaveLength(0);
  });

  it('fails when EventBridge rejects the entry', async () => {
    process.env.EVENT_BUS_NAME = FAILING_BUS;

    await expect(runOperator(resultsPush, {}, nodeEvent(resultsPush, { inputId: 'page.png', upstream: [upright] }))).rejects.toThrow(
      'EventBridge did not accept the result event of input page.png: InternalFailure The event could not be stored.',
    );
  });

  it('fails without EVENT_BUS_NAME', async () => {
    delete process.env.EVENT_BUS_NAME;

    await expect(runOperator(resultsPush, {}, nodeEvent(resultsPush, { upstream: [upright] }))).rejects.toThrow(
      'Environment variable EVENT_BUS_NAME is missing. Set it to the event bus that results-push publishes to.',
    );
    expect(bus.requests).toHaveLength(0);
  });

  it('rejects a source reserved for AWS', () => {
    expect(() => resultsPush.validateParams({ concepts: [], model_metadata: { source: 'aws.s3' } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid results-push parameter output_info.output_config.model_metadata.source: got "aws.s3". ' +
          'Set it to an event source of letters, digits and . _ / -, not starting with "aws.".',
      }),
    );
  });
});
