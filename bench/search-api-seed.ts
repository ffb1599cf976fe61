/**
 * Fills an app of the local stack with inputs, their `general-image-embedding` annotations
 * and their vectors, through the storage and search backend code that the handlers use.
 * `createInput` is called as `POST /v2/inputs` calls it, `putAnnotations` as the workflow's
 * write-annotations task calls it, and the search backend's `upsert` as `indexAnnotations`
 * calls it. The image upload and the workflow are skipped, because they take far longer per input.
 */
import type { OutputData } from '#commons/clarifai/types.ts';
import { modelVersionId } from '#commons/models/runtime.ts';
import { searchBackend } from '#commons/search/select-backend.ts';
import { modelAnnotation, putAnnotations } from '#commons/storage/annotations.ts';
import { InputStatus, createInput } from '#commons/storage/inputs.ts';
import { uploadKey } from '#commons/storage/images.ts';
import { DIM, EMBEDDING_MODEL_ID } from './search-api-data.ts';

/** Input records written at the same time, as from concurrent `POST /v2/inputs` requests. */
const INPUT_CONCURRENCY = 16;
/** Inputs per `putAnnotations` or `upsert` call, and how many such calls run at the same time. */
const CHUNK_SIZE = 250;
const CHUNK_CONCURRENCY = 4;

export interface SeedInput {
  id: string;
  /** Row of the input's unit vector in the corpus. */
  row: number;
  metadata: Record<string, unknown>;
}

/** Items written per second, by kind. */
export interface SeedRates {
  inputs: number;
  annotations: number;
  vectors: number;
}

async function forEachConcurrently<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}

function chunksOf<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    chunks.push(items.slice(start, start + size));
  }
  return chunks;
}

async function timed(count: number, work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return count / ((performance.now() - started) / 1000);
}

/**
 * Stores each input as ingested (status 30000), then its embedding annotation, then its vector.
 * The annotation contains the unit vector, which is also what the index stores.
 */
export async function seedInputs(appId: string, bucketName: string, inputs: readonly SeedInput[], vectors: Float32Array): Promise<SeedRates> {
  const now = new Date().toISOString();
  const vectorOf = (row: number): Float32Array => vectors.subarray(row * DIM, (row + 1) * DIM);

  const inputRate = await timed(inputs.length, () =>
    forEachConcurrently(inputs, INPUT_CONCURRENCY, (input) =>
      createInput({
        app_id: appId,
        id: input.id,
        created_at: now,
        modified_at: now,
        image: { bucket: bucketName, key: uploadKey('uploads/', appId, input.id), format: 'JPEG' },
        metadata: input.metadata,
        status: InputStatus.success(),
        source: 'api',
      }),
    ),
  );

  const versionId = await modelVersionId(EMBEDDING_MODEL_ID);
  const chunks = chunksOf(inputs, CHUNK_SIZE);
  const annotationRate = await timed(inputs.length, () =>
    forEachConcurrently(chunks, CHUNK_CONCURRENCY, (chunk) =>
      putAnnotations(
        chunk.map((input) => {
          const data: OutputData = { embeddings: [{ vector: Array.from(vectorOf(input.row)), num_dimensions: DIM }] };
          return modelAnnotation(appId, input.id, { id: EMBEDDING_MODEL_ID, versionId }, data, 'image-embedding');
        }),
      ),
    ),
  );

  const backend = searchBackend();
  const vectorRate = await timed(inputs.length, () =>
    forEachConcurrently(chunks, CHUNK_CONCURRENCY, (chunk) =>
      backend.upsert(
        appId,
        chunk.map((input) => ({ inputId: input.id, vector: vectorOf(input.row) })),
      ),
    ),
  );
  return { inputs: inputRate, annotations: annotationRate, vectors: vectorRate };
}
