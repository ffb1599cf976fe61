/**
 * `POST /v2/models/{id}/versions` of a clusterer when its training event cannot be put: the
 * version must not stay queued forever. EventBridge is made unreachable by pointing the SDK at
 * a closed port on 127.0.0.1 before the API's first training request creates its client.
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { callApi } from '../local/helpers.ts';

let stack: LocalStack;

/** Returns a port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
});

afterAll(async () => {
  await stack?.stop();
});

describe('clusterer version queue', () => {
  it('fails the version when the event cannot be put', async () => {
    await callApi(stack, 'POST', '/v2/models', {
      model: { id: 'groups', model_type_id: 'clusterer', output_info: { output_config: { model_metadata: { k: 2 } } } },
    });
    const eventBridgeEndpoint = process.env.AWS_ENDPOINT_URL_EVENTBRIDGE;
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = `http://127.0.0.1:${await closedPort()}`;
    let response;
    try {
      response = await callApi(stack, 'POST', '/v2/models/groups/versions', {});
    } finally {
      process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = eventBridgeEndpoint;
    }
    const listed = await callApi(stack, 'GET', '/v2/models/groups/versions');

    expect(response.httpStatus).toBe(500);
    expect(response.body.status.error_code).toBe('INTERNAL_ERROR');
    expect(listed.body.model_versions).toHaveLength(1);
    const [version] = listed.body.model_versions;
    expect(version.status.code).toBe(21106);
    expect(version.status.error_code).toBe('MODEL_TRAINING_FAILED');
    expect(version.status.details).toMatch(
      /^The training could not be started, because putting its event on percept-events failed: .+\. Train again with POST \/v2\/models\/groups\/versions\.$/,
    );
    expect(version.train_info.search_index).toBe('inactive');
  });
});
