/**
 * Tests the `ivf` backend against the local stack's DynamoDB (dynalite) and S3 (s3rver), with
 * synthetic clustered vectors. The cases cover exact search before a version exists, the build
 * of a version, writes and removals while and after it builds, and the switch to a newer version.
 */
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IvfBackend } from '#commons/search/backends/ivf.ts';
import { type ClusterModel, putClusterModel } from '#commons/search/cluster-objects.ts';
import { type IndexVersion, readIndexState } from '#commons/search/index-state.ts';
import { trainKMeans } from '#commons/search/index/kmeans.ts';
import { trainQuantizer } from '#commons/search/index/quantizer.ts';
import { Random } from '#commons/search/index/random.ts';
import { clusterModelKey, versionPrefix } from '#commons/search/ivf-keys.ts';
import { buildIndexVersion, dropIndexVersion, indexStatusOf } from '#commons/search/ivf-versions.ts';
import { readListDelta } from '#commons/search/list-deltas.ts';
import { getVectors } from '#commons/search/vector-store.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { localS3Client } from '../local/helpers.ts';

const DIM = 16;
const CENTERS = 12;
const APP = 'ivf-test';

let stack: LocalStack;
const backend = new IvfBackend();
const random = new Random(7);

function unit(values: Float32Array): Float32Array {
  const norm = Math.hypot(...values);
  return values.map((value) => value / norm);
}

const centers = Array.from({ length: CENTERS }, () => unit(Float32Array.from({ length: DIM }, () => random.nextGaussian())));

/** Returns a vector near center `c`: the center plus Gaussian noise of standard deviation `spread`, normalized. */
function near(c: number, spread = 0.15): Float32Array {
  const center = centers[c] as Float32Array;
  return unit(center.map((value) => value + spread * random.nextGaussian()));
}

const vectors = new Map<string, Float32Array>();

function dotOf(a: Float32Array, b: Float32Array): number {
  return a.reduce((sum, value, index) => sum + value * (b[index] as number), 0);
}

/** Returns the exact top `k` input ids of `query` over `vectors`. */
function exactTop(query: Float32Array, k: number): string[] {
  return [...vectors]
    .map(([inputId, vector]) => ({ inputId, score: dotOf(vector, query) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k)
    .map((hit) => hit.inputId);
}

async function upsertAll(entries: Array<{ inputId: string; vector: Float32Array }>): Promise<void> {
  await backend.upsert(APP, entries);
  for (const entry of entries) {
    vectors.set(entry.inputId, entry.vector);
  }
}

/** Trains a model on the current vectors, stores it and builds its lists. */
async function trainVersion(versionId: string, k: number): Promise<IndexVersion> {
  const data = new Float32Array(vectors.size * DIM);
  [...vectors.values()].forEach((vector, row) => data.set(vector, row * DIM));
  const model: ClusterModel = { dim: DIM, k, centroids: trainKMeans(data, DIM, { k, seed: 3 }), quantizer: trainQuantizer(data, DIM) };
  const version: IndexVersion = {
    model_id: 'groups',
    version_id: versionId,
    dim: DIM,
    k,
    model_key: clusterModelKey(APP, 'groups', versionId),
    started_at: new Date().toISOString(),
  };
  await putClusterModel(version.model_key, model);
  await buildIndexVersion(APP, version, model);
  return version;
}

async function searchIds(query: Float32Array, topK: number): Promise<string[]> {
  return (await backend.search({ appId: APP, vector: query, topK })).map((hit) => hit.inputId);
}

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  const entries = Array.from({ length: 600 }, (_, index) => ({ inputId: `v${String(index).padStart(4, '0')}`, vector: near(index % CENTERS) }));
  await upsertAll(entries);
});

afterAll(async () => {
  await stack?.stop();
});

describe('ivf backend', () => {
  it('searches exactly before a version exists', async () => {
    for (let c = 0; c < CENTERS; c += 1) {
      const query = near(c, 0.3);
      const hits = await backend.search({ appId: APP, vector: query, topK: 10 });

      expect(hits.map((hit) => hit.inputId)).toEqual(exactTop(query, 10));
      expect(hits[0]?.score).toBeCloseTo(dotOf(vectors.get(hits[0]?.inputId ?? '') as Float32Array, query), 5);
    }
    expect((await readIndexState(APP)).active).toBeUndefined();
  });

  it('keeps only allowed ids', async () => {
    const query = near(0, 0.3);
    const allowed = new Set([...vectors.keys()].filter((inputId) => inputId.endsWith('5')));

    const hits = await backend.search({ appId: APP, vector: query, topK: 5, allow: (inputId) => allowed.has(inputId) });

    expect(hits.map((hit) => hit.inputId)).toEqual(exactTop(query, 600).filter((inputId) => allowed.has(inputId)).slice(0, 5));
  });

  it('builds a version and searches its lists', async () => {
    const version = await trainVersion('first', CENTERS);

    expect(await indexStatusOf(APP, 'first')).toBe('active');
    expect((await readIndexState(APP)).active?.version_id).toBe(version.version_id);
    // The default probes (16) cover all 12 lists, and re-ranking restores the exact order.
    for (let c = 0; c < CENTERS; c += 1) {
      const query = near(c, 0.3);
      expect(await searchIds(query, 10)).toEqual(exactTop(query, 10));
    }
  });

  it('finds most neighbors when probing few lists', async () => {
    process.env.SEARCH_IVF_PROBES = '2';
    try {
      let found = 0;
      for (let c = 0; c < CENTERS; c += 1) {
        const query = near(c, 0.1);
        const expected = new Set(exactTop(query, 10));
        found += (await searchIds(query, 10)).filter((inputId) => expected.has(inputId)).length;
      }
      expect(found / (CENTERS * 10)).toBeGreaterThanOrEqual(0.9);
    } finally {
      delete process.env.SEARCH_IVF_PROBES;
    }
  });

  it('adds, moves and removes inputs after the build', async () => {
    const added = near(3, 0.01);
    await upsertAll([{ inputId: 'added', vector: added }]);
    expect((await searchIds(added, 1))[0]).toBe('added');

    // The same input moves to another cluster: the old list gets a removal, the new one the code.
    const moved = near(8, 0.01);
    await upsertAll([{ inputId: 'added', vector: moved }]);
    expect((await searchIds(moved, 1))[0]).toBe('added');
    expect(await searchIds(added, 600)).toEqual(exactTop(added, 600));
    expect((await searchIds(added, 600)).filter((inputId) => inputId === 'added')).toHaveLength(1);

    await backend.remove(APP, ['added']);
    vectors.delete('added');
    expect(await searchIds(moved, 600)).not.toContain('added');
    expect((await getVectors(APP, ['added'])).size).toBe(0);
  });

  it('indexes vectors written while a version builds', async () => {
    const written = Array.from({ length: 40 }, (_, index) => ({ inputId: `during-${index}`, vector: near(index % CENTERS, 0.02) }));

    const building = trainVersion('second', 8);
    await Promise.all(written.map((entry) => upsertAll([entry])));
    const version = await building;

    expect((await readIndexState(APP)).active?.version_id).toBe(version.version_id);
    expect(await indexStatusOf(APP, 'first')).toBe('inactive');
    for (const entry of written) {
      expect((await searchIds(entry.vector, 1))[0], entry.inputId).toBe(entry.inputId);
    }
  });

  it('deletes the lists of the replaced version', async () => {
    const listed = await localS3Client(stack).send(
      new ListObjectsV2Command({ Bucket: stack.bucketName, Prefix: versionPrefix(APP, 'groups', 'first') }),
    );
    const keys = (listed.Contents ?? []).map((object) => object.Key);
    const deltas = await Promise.all(Array.from({ length: CENTERS }, (_, cluster) => readListDelta(APP, 'first', cluster)));

    // The model stays, so the old version can still predict.
    expect(keys).toEqual([clusterModelKey(APP, 'groups', 'first')]);
    expect(deltas.every((delta) => delta.size === 0)).toBe(true);
  });

  it('falls back to exact search when the active version is dropped', async () => {
    await dropIndexVersion(APP, 'groups', 'second');
    const query = near(5, 0.3);

    expect((await readIndexState(APP)).active).toBeUndefined();
    expect(await searchIds(query, 10)).toEqual(exactTop(query, 10));
  });
});
