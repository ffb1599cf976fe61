/**
 * The parameters of a `clusterer` model, apart from the checks of a new model in
 * `model-type.ts`. This module loads no model runtime, so the training function can use it.
 */
import type { RawModelParams } from '#commons/workflows/node-data.ts';

export const CLUSTERER_TYPE = 'clusterer';
export const DEFAULT_CLUSTER_EMBEDDING_MODEL_ID = 'general-image-embedding';

/**
 * The maximum number of clusters a version may have. Ingest compares every new vector with every
 * centroid, and version changes touch one DynamoDB partition per cluster.
 */
export const MAX_CLUSTERS = 10_000;

export const DEFAULT_ITERATIONS = 20;
export const MAX_ITERATIONS = 100;

export interface ClustererParams {
  embeddingModelId: string;
  /** The number of clusters. When unset, training chooses it from the number of vectors. */
  k?: number;
  iterations: number;
}

/** Returns the typed parameters of a stored clusterer (checked by `prepareClustererParams` when it was created). */
export function clustererParamsOf(params: RawModelParams): ClustererParams {
  const { embedding_model_id: embeddingModelId, k, iterations } = params.model_metadata;
  return {
    embeddingModelId: typeof embeddingModelId === 'string' ? embeddingModelId : DEFAULT_CLUSTER_EMBEDDING_MODEL_ID,
    ...(typeof k === 'number' ? { k } : {}),
    iterations: typeof iterations === 'number' ? iterations : DEFAULT_ITERATIONS,
  };
}

/**
 * Returns the number of clusters for `count` vectors: `k` when set, else round(4 × √count),
 * between 1 and `count` and at most `MAX_CLUSTERS`.
 */
export function clusterCount(params: ClustererParams, count: number): number {
  return params.k ?? Math.max(1, Math.min(count, MAX_CLUSTERS, Math.round(4 * Math.sqrt(count))));
}
