/**
 * The vectors a clusterer version trains on: a uniform random sample of the app's
 * embeddings, read from the search index's vector store when the clusterer groups the
 * indexed embeddings, or else from the embedding annotations of the app's inputs.
 */
import { forEachPage } from '#commons/search/dynamo-batch.ts';
import { Random } from '#commons/search/index/random.ts';
import { unitVector } from '#commons/search/indexing.ts';
import { mapConcurrently } from '#commons/search/search-inputs.ts';
import { forEachVectorPage } from '#commons/search/vector-store.ts';
import { listAnnotations } from '#commons/storage/annotations.ts';
import { INPUT_SK_PREFIX, appPk } from '#commons/storage/keys.ts';

export const MAX_TRAINING_VECTORS_ENV = 'CLUSTER_MAX_TRAINING_VECTORS';

/**
 * Vectors that k-means trains on by default. Lloyd iterations cost sample × clusters × dim
 * multiply-adds each, and training runs inside the 30 s API request.
 */
export const DEFAULT_MAX_TRAINING_VECTORS = 20_000;

// Annotation queries that run at the same time.
const ANNOTATION_CONCURRENCY = 16;

export interface TrainingData {
  /** Row-major sample of unit vectors, at most the maximum sample size. */
  sample: Float32Array;
  dim: number;
  /** Vectors seen, of which `sample` is a uniform random subset. */
  count: number;
}

/** Returns `CLUSTER_MAX_TRAINING_VECTORS` or the default; throws an `Error` naming the variable when it is not a positive whole number. */
export function maxTrainingVectors(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[MAX_TRAINING_VECTORS_ENV]?.trim() ?? '';
  if (raw === '') {
    return DEFAULT_MAX_TRAINING_VECTORS;
  }
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value === 0) {
    throw new Error(
      `Environment variable ${MAX_TRAINING_VECTORS_ENV} must be a positive whole number of vectors, got ${JSON.stringify(raw)}. Unset it to use the default of ${DEFAULT_MAX_TRAINING_VECTORS}.`,
    );
  }
  return value;
}

/**
 * A reservoir sample (Algorithm R): after n vectors, each of them is in the sample
 * with probability capacity / n. Vectors of another dimension than the first are skipped.
 */
class Reservoir {
  private rows: Float32Array[] = [];
  private seen = 0;
  private dim = 0;
  private readonly random: Random;

  public constructor(
    private readonly capacity: number,
    seed: number,
  ) {
    this.random = new Random(seed);
  }

  public add(vector: Float32Array): void {
    if (this.dim === 0) {
      this.dim = vector.length;
    }
    if (vector.length !== this.dim || vector.length === 0) {
      return;
    }
    this.seen += 1;
    if (this.rows.length < this.capacity) {
      this.rows.push(vector);
      return;
    }
    const slot = this.random.nextInt(this.seen);
    if (slot < this.capacity) {
      this.rows[slot] = vector;
    }
  }

  public result(): TrainingData {
    const sample = new Float32Array(this.rows.length * this.dim);
    this.rows.forEach((row, index) => sample.set(row, index * this.dim));
    return { sample, dim: this.dim, count: this.seen };
  }
}

/** Samples the vectors of the search index's vector store. */
export async function sampleIndexedVectors(appId: string, capacity: number, seed: number): Promise<TrainingData> {
  const reservoir = new Reservoir(capacity, seed);
  await forEachVectorPage(appId, (stored) => {
    for (const entry of stored) {
      reservoir.add(entry.vector);
    }
  });
  return reservoir.result();
}

/**
 * Samples the embeddings that `embedder` (at its current version) stored as annotations on the
 * app's inputs. Inputs without such an annotation are skipped. One query per input, so this
 * is the slower source.
 */
export async function sampleAnnotatedVectors(
  appId: string,
  embedder: { id: string; versionId: string },
  capacity: number,
  seed: number,
): Promise<TrainingData> {
  const reservoir = new Reservoir(capacity, seed);
  await forEachPage(
    appPk(appId),
    async (items) => {
      const annotationLists = await mapConcurrently(items, ANNOTATION_CONCURRENCY, (item) => listAnnotations(appId, item.id as string));
      for (const annotations of annotationLists) {
        const match = annotations.findLast(
          (annotation) =>
            annotation.worker.model.id === embedder.id &&
            annotation.worker.model.model_version.id === embedder.versionId &&
            (annotation.data.embeddings?.[0]?.vector.length ?? 0) > 0,
        );
        if (match !== undefined) {
          reservoir.add(unitVector(match.data.embeddings?.[0]?.vector ?? []));
        }
      }
    },
    { prefix: INPUT_SK_PREFIX },
  );
  return reservoir.result();
}
