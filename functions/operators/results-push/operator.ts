/**
 * Results push: publishes the upstream outputs of an input as one EventBridge event on the
 * bus named by `EVENT_BUS_NAME`, so other systems receive workflow results without polling.
 * The output forwards the first upstream output, with the event id in `metadata.event_id`.
 */
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { logger } from '#commons/logger.ts';
import type { NodeTaskEvent } from '#commons/workflows/node-data.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { eventBridgeClient, eventBusName } from '../shared/eventbridge.ts';
import { ParamReader } from '../shared/params.ts';
import { forwardedFields, ranUpstream } from '../shared/upstream.ts';

export interface ResultsPushParams {
  /** The event's `source`, which EventBridge rules match on. */
  source: string;
  /** The event's `detail-type`. */
  detailType: string;
}

export const DEFAULT_SOURCE = 'percept.workflow';
export const DEFAULT_DETAIL_TYPE = 'Workflow Result';

// An entry must be smaller than 256 KB, counting the UTF-8 bytes of its source, detail type
// and detail ("Calculating PutEvents event entry size", Amazon EventBridge User Guide).
const ENTRY_SIZE_LIMIT = 256 * 1024;

// EventBridge rejects a source starting with "aws." (reserved for AWS services).
const SOURCE_PATTERN = /^(?!aws\.)[A-Za-z0-9._/-]{1,256}$/;
const DETAIL_TYPE_PATTERN = /^[\x20-\x7e]{1,128}$/;

/** Builds the event detail: the input and every upstream output that ran. */
export function resultDetail(event: NodeTaskEvent): Record<string, unknown> {
  return {
    app_id: event.input.app_id,
    input_id: event.input.id,
    node_id: event.node.id,
    ...(event.crop === undefined ? {} : { crop: event.crop }),
    outputs: ranUpstream(event).map((output) => ({
      node_id: output.node_id,
      model: output.model,
      data: output.data,
      ...(output.metadata === undefined ? {} : { metadata: output.metadata }),
    })),
  };
}

export const resultsPush: Operator<ResultsPushParams> = {
  typeId: 'results-push',
  description: 'Publishes the upstream outputs of each input as an EventBridge event.',
  inputKinds: ['concepts', 'regions', 'crops', 'embeddings'],
  outputKind: 'passthrough',

  validateParams(raw) {
    const params = new ParamReader('results-push', raw);
    const source = params.string('source', DEFAULT_SOURCE, SOURCE_PATTERN, 'an event source of letters, digits and . _ / -, not starting with "aws."');
    const detailType = params.string('detail_type', DEFAULT_DETAIL_TYPE, DETAIL_TYPE_PATTERN, 'a detail type of 1 to 128 printable ASCII characters');
    params.rejectUnknownKeys();
    return { source, detailType };
  },

  async run(event, params) {
    const detail = JSON.stringify(resultDetail(event));
    const size = Buffer.byteLength(detail) + Buffer.byteLength(params.source) + Buffer.byteLength(params.detailType);
    if (size >= ENTRY_SIZE_LIMIT) {
      throw new InvalidInputError(
        'RESULT_TOO_LARGE',
        `The result of input ${event.input.id} is ${size} bytes as an event entry, but EventBridge takes entries below ${ENTRY_SIZE_LIMIT} bytes. ` +
          'Put a thresholder before results-push to send fewer concepts or regions.',
        StatusCode.MODEL_INVALID_ARGUMENT,
      );
    }

    const response = await eventBridgeClient().send(
      new PutEventsCommand({
        Entries: [{ EventBusName: eventBusName(), Source: params.source, DetailType: params.detailType, Detail: detail }],
      }),
    );
    const [entry] = response.Entries ?? [];
    if ((response.FailedEntryCount ?? 0) > 0 || entry?.EventId === undefined) {
      throw new Error(
        `EventBridge did not accept the result event of input ${event.input.id}: ${entry?.ErrorCode ?? 'no error code'} ${entry?.ErrorMessage ?? ''}`.trim(),
      );
    }

    logger.info('result event published', { eventId: entry.EventId, bytes: size });
    return outputOf(event, { ...forwardedFields(event), metadata: { event_id: entry.EventId } });
  },
};
