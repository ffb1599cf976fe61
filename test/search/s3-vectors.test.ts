/**
 * The s3-vectors search backend against the local S3 Vectors endpoint, with embeddings of
 * the fixture photos from general-image-embedding. The SDK client is the shared one from
 * clients.ts, pointed at the endpoint through AWS_ENDPOINT_URL_S3VECTORS as in the local stack.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  ConflictException,
  CreateIndexCommand,
  GetIndexCommand,
  GetVectorsCommand,
  ListIndexesCommand,
  ListVectorsCommand,
  NotFoundException,
  PutVectorsCommand,
  QueryVectorsCommand,
  S3VectorsClient,
  ValidationException,
} from '@aws-sdk/client-s3vectors';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3VectorsClient } from '#commons/aws/clients.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { predict } from '#commons/models/index.ts';
import type { VectorEntry } from '#commons/search/backend.ts';
import {
  DIMENSION_MAX,
  PUT_VECTORS_MAX,
  QUERY_TOP_K_MAX,
  S3VectorsBackend,
  putBatchSize,
  vectorIndexName,
} from '#commons/search/backends/s3-vectors.ts';
import { type LocalS3Vectors, startLocalS3Vectors } from '../../local/s3-vectors.ts';
import { cropFraction, edit, embeddingOf, loadImage } from '../zoo/helpers.ts';

const MODEL = 'general-image-embedding';
const PHOTOS = ['astronaut.jpg', 'camera.jpg', 'chelsea.jpg', 'coffee.jpg', 'rocket.jpg'];
const BUCKET = 'percept-vectors-test';

let local: LocalS3Vectors;
let dataDir: string;
let backend: S3VectorsBackend;
let client: S3VectorsClient;
/** Embedding of each fixture photo, by file name. */
const originals = new Map<string, Float32Array>();
/** Embedding of an altered copy of each photo (half size, brighter, 10 % cropped off each side). */
const copies = new Map<string, Float32Array>();

async function embed(images: DecodedImage[]): Promise<Float32Array[]> {
  const outputs = await predict(MODEL, images);
  return outputs.map((output) => Float32Array.from(embeddingOf(output).vector));
}

async function alteredCopy(image: DecodedImage): Promise<DecodedImage> {
  const smaller = await edit(image, (pipeline) => pipeline.resize(Math.round(image.width / 2)).linear(1.2, 15));
  return cropFraction(smaller, { top_row: 0.1, left_col: 0.1, bottom_row: 0.9, right_col: 0.9 });
}

function entriesOf(names: readonly string[]): VectorEntry[] {
  return names.map((name) => ({ inputId: name, vector: originals.get(name) as Float32Array }));
}

/** Returns a unit vector of `dimension` values that is 1 at `position`. */
function basisVector(dimension: number, position: number): Float32Array {
  const vector = new Float32Array(dimension);
  vector[position % dimension] = 1;
  return vector;
}

async function vectorKeys(appId: string): Promise<string[]> {
  const keys: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await client.send(
      new ListVectorsCommand({ vectorBucketName: BUCKET, indexName: vectorIndexName(appId), maxResults: 1000, nextToken }),
    );
    keys.push(...(page.vectors ?? []).map((vector) => vector.key as string));
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
  return keys.sort();
}

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'percept-s3-vectors-test-'));
  local = await startLocalS3Vectors({ dataDir });
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_S3VECTORS: local.endpoint,
    VECTOR_BUCKET_NAME: BUCKET,
  });
  await local.ensureBucket(BUCKET);
  client = s3VectorsClient();
  backend = new S3VectorsBackend();

  const images = await Promise.all(PHOTOS.map((name) => loadImage(name)));
  const originalVectors = await embed(images);
  const copyVectors = await embed(await Promise.all(images.map((image) => alteredCopy(image))));
  PHOTOS.forEach((name, index) => {
    originals.set(name, originalVectors[index] as Float32Array);
    copies.set(name, copyVectors[index] as Float32Array);
  });
});

afterAll(async () => {
  await local?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('s3-vectors backend', () => {
  it('ranks the original of an altered copy first', async () => {
    await backend.upsert('photos', entriesOf(PHOTOS));

    for (const name of PHOTOS) {
      const hits = await backend.search({ appId: 'photos', vector: copies.get(name) as Float32Array, topK: 3 });

      expect(hits, name).toHaveLength(3);
      expect(hits[0]?.inputId, name).toBe(name);
      expect(hits[0]?.score, name).toBeGreaterThan(0.85);
      expect(hits[0]!.score - hits[1]!.score, `${name} against the next photo`).toBeGreaterThan(0.15);
      expect(hits.map((hit) => hit.score), name).toEqual([...hits.map((hit) => hit.score)].sort((a, b) => b - a));
    }
  });

  it('scores an identical vector 1', async () => {
    await backend.upsert('photos', entriesOf(PHOTOS));

    const hits = await backend.search({ appId: 'photos', vector: originals.get('coffee.jpg') as Float32Array, topK: 1 });

    expect(hits[0]?.inputId).toBe('coffee.jpg');
    expect(hits[0]?.score).toBeCloseTo(1, 5);
  });

  it('creates a cosine float32 index', async () => {
    await backend.upsert('photos', entriesOf(PHOTOS));

    const { index } = await client.send(new GetIndexCommand({ vectorBucketName: BUCKET, indexName: vectorIndexName('photos') }));

    expect(index?.dimension).toBe(120);
    expect(index?.distanceMetric).toBe('cosine');
    expect(index?.dataType).toBe('float32');
  });

  it('upsert replaces the vector of an input', async () => {
    await backend.upsert('replaced', entriesOf(['chelsea.jpg', 'rocket.jpg']));
    await backend.upsert('replaced', [{ inputId: 'chelsea.jpg', vector: originals.get('coffee.jpg') as Float32Array }]);

    const hits = await backend.search({ appId: 'replaced', vector: copies.get('coffee.jpg') as Float32Array, topK: 2 });

    expect(hits[0]?.inputId).toBe('chelsea.jpg');
    expect(hits[0]?.score).toBeGreaterThan(0.85);
    expect(await vectorKeys('replaced')).toEqual(['chelsea.jpg', 'rocket.jpg']);
  });

  it('remove deletes vectors and ignores unknown ids', async () => {
    await backend.upsert('removal', entriesOf(PHOTOS));

    await backend.remove('removal', ['chelsea.jpg', 'never-indexed']);

    const hits = await backend.search({ appId: 'removal', vector: copies.get('chelsea.jpg') as Float32Array, topK: 10 });
    expect(hits.map((hit) => hit.inputId)).not.toContain('chelsea.jpg');
    expect(hits).toHaveLength(PHOTOS.length - 1);
    expect(await vectorKeys('removal')).toEqual(PHOTOS.filter((name) => name !== 'chelsea.jpg'));
  });

  it('remove from an app without index does nothing', async () => {
    await expect(backend.remove('no-index-app', ['a', 'b'])).resolves.toBeUndefined();
  });

  it('allow filters the hits', async () => {
    await backend.upsert('allowed', entriesOf(PHOTOS));
    const allowed = new Set(['astronaut.jpg', 'rocket.jpg']);

    const hits = await backend.search({
      appId: 'allowed',
      vector: copies.get('chelsea.jpg') as Float32Array,
      topK: 5,
      allow: (inputId) => allowed.has(inputId),
    });

    expect(hits.map((hit) => hit.inputId).sort()).toEqual([...allowed].sort());
  });

  it('allow rejecting all returns no hits', async () => {
    await backend.upsert('allowed', entriesOf(PHOTOS));

    const hits = await backend.search({ appId: 'allowed', vector: copies.get('chelsea.jpg') as Float32Array, topK: 5, allow: () => false });

    expect(hits).toEqual([]);
  });

  it('second app gets its own index', async () => {
    await backend.upsert('catalogue-a', entriesOf(['chelsea.jpg', 'coffee.jpg']));
    await backend.upsert('catalogue-b', entriesOf(['rocket.jpg']));

    const hitsA = await backend.search({ appId: 'catalogue-a', vector: copies.get('rocket.jpg') as Float32Array, topK: 10 });
    const hitsB = await backend.search({ appId: 'catalogue-b', vector: copies.get('chelsea.jpg') as Float32Array, topK: 10 });

    expect(hitsA.map((hit) => hit.inputId).sort()).toEqual(['chelsea.jpg', 'coffee.jpg']);
    expect(hitsB.map((hit) => hit.inputId)).toEqual(['rocket.jpg']);
    const { indexes } = await client.send(new ListIndexesCommand({ vectorBucketName: BUCKET, prefix: 'app-catalogue-' }));
    expect(indexes?.map((index) => index.indexName).sort()).toEqual(
      [vectorIndexName('catalogue-a'), vectorIndexName('catalogue-b')].sort(),
    );
  });

  it('app without index returns no hits', async () => {
    const hits = await backend.search({ appId: 'empty-app', vector: originals.get('rocket.jpg') as Float32Array, topK: 5 });

    expect(hits).toEqual([]);
  });

  it('upsert splits large batches', async () => {
    const count = PUT_VECTORS_MAX * 2 + 17;
    const entries = Array.from({ length: count }, (_, position) => ({
      inputId: `synthetic-${String(position).padStart(4, '0')}`,
      vector: basisVector(120, position),
    }));

    await backend.upsert('large', entries);

    expect(await vectorKeys('large')).toEqual(entries.map((entry) => entry.inputId));
  });

  it('caps topK at the service maximum', async () => {
    const entries = Array.from({ length: QUERY_TOP_K_MAX + 20 }, (_, position) => ({
      inputId: `capped-${position}`,
      vector: basisVector(120, position),
    }));
    await backend.upsert('capped', entries);

    const hits = await backend.search({ appId: 'capped', vector: basisVector(120, 3), topK: QUERY_TOP_K_MAX + 50 });

    expect(hits).toHaveLength(QUERY_TOP_K_MAX);
    expect(hits[0]?.inputId).toBe('capped-3');
  });

  it('concurrent first upserts share one index', async () => {
    const other = new S3VectorsBackend();

    await Promise.all([
      backend.upsert('raced', entriesOf(['astronaut.jpg'])),
      other.upsert('raced', entriesOf(['camera.jpg'])),
    ]);

    expect(await vectorKeys('raced')).toEqual(['astronaut.jpg', 'camera.jpg']);
  });
});

describe('s3-vectors backend errors', () => {
  it('missing bucket raises VECTOR_BUCKET_NOT_FOUND', async () => {
    const misconfigured = new S3VectorsBackend({ vectorBucketName: 'no-such-vector-bucket' });
    const expected = {
      code: 'VECTOR_BUCKET_NOT_FOUND',
      httpStatus: 500,
      message: expect.stringContaining('S3 Vectors bucket no-such-vector-bucket does not exist'),
    };

    await expect(misconfigured.upsert('photos', entriesOf(['chelsea.jpg']))).rejects.toMatchObject(expected);
    await expect(misconfigured.search({ appId: 'photos', vector: originals.get('chelsea.jpg') as Float32Array, topK: 1 })).rejects.toMatchObject(expected);
    await expect(misconfigured.remove('photos', ['chelsea.jpg'])).rejects.toMatchObject(expected);
  });

  it('missing VECTOR_BUCKET_NAME raises', () => {
    const saved = process.env.VECTOR_BUCKET_NAME;
    delete process.env.VECTOR_BUCKET_NAME;
    try {
      expect(() => new S3VectorsBackend()).toThrow('Environment variable VECTOR_BUCKET_NAME is missing');
    } finally {
      process.env.VECTOR_BUCKET_NAME = saved;
    }
  });

  it('upsert of another dimension raises VECTOR_DIMENSION_MISMATCH', async () => {
    await backend.upsert('dimensions', entriesOf(['coffee.jpg']));

    await expect(backend.upsert('dimensions', [{ inputId: 'short', vector: basisVector(64, 0) }])).rejects.toMatchObject({
      code: 'VECTOR_DIMENSION_MISMATCH',
      httpStatus: 400,
      message: expect.stringContaining('stores vectors of 120 values'),
    });
  });

  it('upsert of mixed dimensions raises VECTOR_DIMENSION_MISMATCH', async () => {
    const mixed = [...entriesOf(['coffee.jpg']), { inputId: 'short', vector: basisVector(64, 0) }];

    await expect(backend.upsert('mixed', mixed)).rejects.toMatchObject({
      code: 'VECTOR_DIMENSION_MISMATCH',
      message: expect.stringContaining('Input short has a vector of 64 values'),
    });
    await expect(client.send(new GetIndexCommand({ vectorBucketName: BUCKET, indexName: vectorIndexName('mixed') }))).rejects.toBeInstanceOf(
      NotFoundException,
    );
  });

  it('upsert above the maximum dimension raises VECTOR_DIMENSION_INVALID', async () => {
    await expect(backend.upsert('huge', [{ inputId: 'huge', vector: new Float32Array(DIMENSION_MAX + 1) }])).rejects.toMatchObject({
      code: 'VECTOR_DIMENSION_INVALID',
      message: expect.stringContaining(`1 to ${DIMENSION_MAX} values`),
    });
  });

  it('search with another dimension raises VECTOR_DIMENSION_MISMATCH', async () => {
    await backend.upsert('dimensions', entriesOf(['coffee.jpg']));

    await expect(backend.search({ appId: 'dimensions', vector: basisVector(64, 0), topK: 1 })).rejects.toMatchObject({
      code: 'VECTOR_DIMENSION_MISMATCH',
      message: expect.stringContaining('The query vector has 64 values'),
    });
  });

  it('search with topK 0 raises INVALID_TOP_K', async () => {
    await expect(backend.search({ appId: 'photos', vector: originals.get('coffee.jpg') as Float32Array, topK: 0 })).rejects.toMatchObject({
      code: 'INVALID_TOP_K',
      message: 'topK 0 is invalid. Ask for 1 to 100 hits.',
    });
  });
});

describe('s3-vectors index names and batches', () => {
  it('index names follow the S3 Vectors rules', () => {
    const appIds = ['main', 'Main', 'my_app.v2', '-', 'A'.repeat(255), '9-lives_', 'x'];
    const names = appIds.map((appId) => vectorIndexName(appId));

    for (const name of names) {
      expect(name).toMatch(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/);
    }
    expect(new Set(names).size).toBe(appIds.length);
    expect(vectorIndexName('main')).toMatch(/^app-main-[0-9a-f]{16}$/);
  });

  it('batch size keeps requests under 20 MiB', () => {
    expect(putBatchSize(120)).toBe(PUT_VECTORS_MAX);
    const largest = putBatchSize(DIMENSION_MAX);
    expect(largest).toBeLessThan(PUT_VECTORS_MAX);
    const worstCaseValue = '-1.2345678901234567e-38,';
    const worstCaseBytes = largest * (DIMENSION_MAX * worstCaseValue.length + 1024 + 64);
    expect(worstCaseBytes).toBeLessThan(20 * 1024 * 1024);
  });
});

describe('local S3 Vectors endpoint', () => {
  it('returns NotFoundException for a missing index', async () => {
    const request = client.send(new GetIndexCommand({ vectorBucketName: BUCKET, indexName: 'no-such-index' }));

    await expect(request).rejects.toBeInstanceOf(NotFoundException);
    await expect(request).rejects.toMatchObject({
      name: 'NotFoundException',
      message: 'The specified index could not be found: no-such-index.',
      $metadata: { httpStatusCode: 404 },
    });
  });

  it('returns ConflictException for an existing index', async () => {
    const create = () =>
      client.send(new CreateIndexCommand({ vectorBucketName: BUCKET, indexName: 'conflict', dataType: 'float32', dimension: 4, distanceMetric: 'cosine' }));
    await create();

    await expect(create()).rejects.toBeInstanceOf(ConflictException);
    await expect(create()).rejects.toMatchObject({ message: `An index named conflict already exists in ${BUCKET}.` });
  });

  it('returns ValidationException for invalid requests', async () => {
    await backend.upsert('photos', entriesOf(PHOTOS));
    const indexName = vectorIndexName('photos');
    const cases = [
      {
        request: new PutVectorsCommand({ vectorBucketName: BUCKET, indexName, vectors: [{ key: 'short', data: { float32: [1, 0] } }] }),
        message: `vectors[0].data.float32 must hold 120 numbers, the dimension of index ${indexName}; got 2.`,
      },
      {
        request: new QueryVectorsCommand({ vectorBucketName: BUCKET, indexName, topK: 101, queryVector: { float32: Array.from(basisVector(120, 0)) } }),
        message: 'topK 101 is invalid. Use an integer from 1 to 100.',
      },
      {
        request: new CreateIndexCommand({ vectorBucketName: BUCKET, indexName: 'Bad_Name', dataType: 'float32', dimension: 4, distanceMetric: 'cosine' }),
        message: expect.stringContaining('Index name Bad_Name is invalid'),
      },
      {
        request: new CreateIndexCommand({ vectorBucketName: BUCKET, indexName: 'too-wide', dataType: 'float32', dimension: 4097, distanceMetric: 'cosine' }),
        message: 'dimension 4097 is invalid. Use an integer from 1 to 4096.',
      },
    ];

    for (const { request, message } of cases) {
      const sent = client.send(request as Parameters<S3VectorsClient['send']>[0]);
      await expect(sent).rejects.toBeInstanceOf(ValidationException);
      await expect(sent).rejects.toMatchObject({ message, $metadata: { httpStatusCode: 400 } });
    }
  });

  it('keeps vectors across a restart', async () => {
    const folder = await mkdtemp(path.join(os.tmpdir(), 'percept-s3-vectors-restart-'));
    const clientOf = (endpoint: string) =>
      new S3VectorsClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    try {
      const first = await startLocalS3Vectors({ dataDir: folder });
      await first.ensureBucket('restart-bucket');
      const writer = new S3VectorsBackend({ client: clientOf(first.endpoint), vectorBucketName: 'restart-bucket' });
      await writer.upsert('kept', entriesOf(['rocket.jpg', 'coffee.jpg']));
      await writer.remove('kept', ['coffee.jpg']);
      await first.stop();

      const second = await startLocalS3Vectors({ dataDir: folder });
      try {
        const reader = clientOf(second.endpoint);
        const { vectors } = await reader.send(
          new GetVectorsCommand({ vectorBucketName: 'restart-bucket', indexName: vectorIndexName('kept'), keys: ['rocket.jpg', 'coffee.jpg'], returnData: true }),
        );

        expect(vectors?.map((vector) => vector.key)).toEqual(['rocket.jpg']);
        expect(vectors?.[0]?.data?.float32).toEqual(Array.from(originals.get('rocket.jpg') as Float32Array));
      } finally {
        await second.stop();
      }
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
