/**
 * The clusterer training function (functions/cluster/train-version/handler.ts) against the
 * local stack's DynamoDB and S3, with versions stored as the API queues them and 600 synthetic
 * clustered vectors in the app's vector store. The cases cover training, failure, and the
 * conditional writes that keep duplicate, late and concurrent events from moving a version
 * backwards.
 */
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrainingStatus } from '#commons/classifier/status.ts';
import { CLUSTER_TRAINING_DETAIL_TYPE, CLUSTER_TRAINING_SOURCE } from '#commons/cluster/training-events.ts';
import { type ClusterVersionRecord, claimClusterVersion, finishClusterVersion, getClusterVersion, putClusterVersion } from '#commons/cluster/version-store.ts';
import { IvfBackend } from '#commons/search/backends/ivf.ts';
import { readIndexState } from '#commons/search/index-state.ts';
import { handler } from '../../functions/cluster/train-version/handler.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { clusteredVectors, exactTop } from './clustered-vectors.ts';

const APP = 'train-version-test';
const MODEL = 'groups';
const DIM = 16;
const VECTOR_COUNT = 600;

let stack: LocalStack;
let versionCount = 0;
const source = clusteredVectors({ dim: DIM, centers: 12, noise: 0.3, seed: 3 });
const vectors = new Map<string, Float32Array>();

/** Stores a queued version as `POST /v2/models/{id}/versions` does, and returns it. */
async function queuedVersion(requestedK?: number): Promise<ClusterVersionRecord> {
  versionCount += 1;
  const now = new Date().toISOString();
  const version: ClusterVersionRecord = {
    app_id: APP,
    model_id: MODEL,
    id: `version-${versionCount}`,
    status: TrainingStatus.queued(),
    embedding_model: { id: 'general-image-embedding', version_id: 'synthetic' },
    k: 0,
    dim: 0,
    iterations: 10,
    ...(requestedK === undefined ? {} : { requested_k: requestedK }),
    counts: { vectors: 0, training_vectors: 0 },
    cluster_sizes: [],
    indexed: true,
    created_at: now,
    modified_at: now,
  };
  await putClusterVersion(version);
  return version;
}

function queuedEvent(version: ClusterVersionRecord, detail: unknown = { app_id: APP, model_id: MODEL, version_id: version.id }) {
  return {
    version: '0',
    id: `event-${version.id}`,
    'detail-type': CLUSTER_TRAINING_DETAIL_TYPE,
    source: CLUSTER_TRAINING_SOURCE,
    account: '000000000000',
    time: new Date().toISOString(),
    region: 'us-east-1',
    resources: [],
    detail,
  } as Parameters<typeof handler>[0];
}

function invocation(requestId: string): Context {
  return { awsRequestId: requestId, functionName: 'percept-cluster-train-version' } as Context;
}

async function statusOf(version: ClusterVersionRecord): Promise<number> {
  return (await getClusterVersion(APP, MODEL, version.id)).status.code;
}

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  for (let index = 0; index < VECTOR_COUNT; index += 1) {
    vectors.set(`input-${String(index).padStart(4, '0')}`, source.draw());
  }
  await new IvfBackend().upsert(APP, [...vectors].map(([inputId, vector]) => ({ inputId, vector })));
});

afterAll(async () => {
  await stack?.stop();
});

describe('cluster training function', () => {
  it('trains a queued version', async () => {
    const version = await queuedVersion(12);

    const result = await handler(queuedEvent(version), invocation('request-1'));
    const stored = await getClusterVersion(APP, MODEL, version.id);

    expect(result).toEqual({ outcome: 'trained' });
    expect(stored.status.code).toBe(21100);
    expect(stored.k).toBe(12);
    expect(stored.dim).toBe(DIM);
    expect(stored.counts).toEqual({ vectors: VECTOR_COUNT, training_vectors: VECTOR_COUNT });
    expect(stored.cluster_sizes.reduce((sum, size) => sum + size, 0)).toBe(VECTOR_COUNT);
    expect(stored.training_attempt).toBe('request-1');
    expect((await readIndexState(APP)).active?.version_id).toBe(version.id);
    const query = source.draw();
    const hits = await new IvfBackend().search({ appId: APP, vector: query, topK: 10 });
    expect(hits.map((hit) => hit.inputId)).toEqual(exactTop(vectors, query, 10));
  });

  it('ignores a duplicate event', async () => {
    const version = await queuedVersion(12);
    await handler(queuedEvent(version), invocation('request-2'));
    const trained = await getClusterVersion(APP, MODEL, version.id);

    const result = await handler(queuedEvent(version), invocation('request-3'));

    expect(result).toEqual({ outcome: 'ignored' });
    expect(await getClusterVersion(APP, MODEL, version.id)).toEqual(trained);
  });

  it('ignores an event while another invocation trains', async () => {
    const version = await queuedVersion(12);
    const claimed = await claimClusterVersion(APP, MODEL, version.id, 'request-4');

    const result = await handler(queuedEvent(version), invocation('request-5'));

    expect(claimed?.status.code).toBe(21101);
    expect(result).toEqual({ outcome: 'ignored' });
    expect(await getClusterVersion(APP, MODEL, version.id)).toEqual(claimed);
  });

  it('resumes when lambda retries the invocation', async () => {
    const version = await queuedVersion(12);
    await claimClusterVersion(APP, MODEL, version.id, 'request-6');

    const result = await handler(queuedEvent(version), invocation('request-6'));

    expect(result).toEqual({ outcome: 'trained' });
    expect(await statusOf(version)).toBe(21100);
  });

  it('takes over an abandoned training', async () => {
    const version = await queuedVersion(12);
    const sixteenMinutesAgo = new Date(Date.now() - 16 * 60 * 1000);
    await claimClusterVersion(APP, MODEL, version.id, 'request-7', sixteenMinutesAgo);

    const result = await handler(queuedEvent(version), invocation('request-8'));

    expect(result).toEqual({ outcome: 'trained' });
    expect((await getClusterVersion(APP, MODEL, version.id)).training_attempt).toBe('request-8');
  });

  it('keeps the result of the invocation that holds the version', async () => {
    const version = await queuedVersion(12);
    const abandoned = await claimClusterVersion(APP, MODEL, version.id, 'request-9', new Date(Date.now() - 16 * 60 * 1000));
    await handler(queuedEvent(version), invocation('request-10'));

    // The first invocation finishes late, after the second took the version over and trained it.
    const stored = await finishClusterVersion(
      { ...(abandoned as ClusterVersionRecord), status: TrainingStatus.failed('MODEL_TRAINING_FAILED', 'late result') },
      'request-9',
    );

    expect(stored).toBe(false);
    expect(await statusOf(version)).toBe(21100);
  });

  it('fails with more clusters than vectors', async () => {
    const version = await queuedVersion(VECTOR_COUNT + 1);

    const result = await handler(queuedEvent(version), invocation('request-11'));
    const stored = await getClusterVersion(APP, MODEL, version.id);

    expect(result).toEqual({ outcome: 'failed' });
    expect(stored.status.code).toBe(21106);
    expect(stored.status.error_code).toBe('MODEL_TRAINING_FAILED');
    expect(stored.status.details).toBe(
      `Clusterer ${MODEL} asks for k = ${VECTOR_COUNT + 1} clusters, but ${VECTOR_COUNT} vectors are available to train on. Add inputs, or create a clusterer with k at most ${VECTOR_COUNT}.`,
    );
  });

  it('fails without vectors', async () => {
    const version = { ...(await queuedVersion(2)), app_id: 'empty-app' };
    await putClusterVersion(version);

    const result = await handler(queuedEvent(version, { app_id: 'empty-app', model_id: MODEL, version_id: version.id }), invocation('request-12'));
    const stored = await getClusterVersion('empty-app', MODEL, version.id);

    expect(result).toEqual({ outcome: 'failed' });
    expect(stored.status.code).toBe(21110);
    expect(stored.status.details).toMatch(/^App "empty-app" has no input with a general-image-embedding embedding yet\./);
  });

  it('ignores an unknown version', async () => {
    const version = { ...(await queuedVersion(12)), id: 'never-stored' };

    const result = await handler(queuedEvent(version), invocation('request-13'));

    expect(result).toEqual({ outcome: 'ignored' });
  });

  it('ignores a malformed event', async () => {
    const version = await queuedVersion(12);

    const result = await handler(queuedEvent(version, { app_id: APP, model_id: MODEL }), invocation('request-14'));

    expect(result).toEqual({ outcome: 'ignored' });
    expect(await statusOf(version)).toBe(21103);
  });
});
