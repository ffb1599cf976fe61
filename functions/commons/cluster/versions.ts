/**
 * Queueing a clusterer version for training (the training itself runs in the training
 * function, see `training.ts`), and loading a trained version to predict cluster ids with.
 */
import { randomUUID } from 'node:crypto';
import type { OutputData } from '#commons/clarifai/types.ts';
import { TrainingStatus } from '#commons/classifier/status.ts';
import { CLUSTERER_TYPE, type ClustererParams, clustererParamsOf, notAnEmbedder } from '#commons/cluster/model-type.ts';
import { putClusterTrainingEvent, trainingEventBusName } from '#commons/cluster/training-queue.ts';
import {
  type ClusterVersionRecord,
  failQueuedClusterVersion,
  putClusterVersion,
  trainedClusterVersion,
} from '#commons/cluster/version-store.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { logger } from '#commons/logger.ts';
import type { RunnableModel } from '#commons/models/app-models.ts';
import { resolveEmbeddingModel, warnIfEmbedderChanged } from '#commons/models/embedders.ts';
import { type ClusterModel, getClusterModel } from '#commons/search/cluster-objects.ts';
import { nearestCentroids } from '#commons/search/index/kmeans.ts';
import { dot } from '#commons/search/index/vectors.ts';
import { SEARCH_EMBEDDING_MODEL_ID, unitVector } from '#commons/search/indexing.ts';
import { searchBackendName } from '#commons/search/select-backend.ts';
import type { ModelRecord } from '#commons/storage/models.ts';

/** One cluster of a predicted input: its index in the version, as a string, and the cosine similarity to its centroid. */
export interface PredictedCluster {
  id: string;
  score: number;
}

/** A clusterer's predict output: Clarifai's `data.clusters`. */
export interface ClusterOutputData extends OutputData {
  clusters: PredictedCluster[];
}

/** Resolves the embedding model of a clusterer. Throws a 400 naming the model when it is missing or not a visual-embedder. */
export async function resolveClusterEmbedder(appId: string, record: ModelRecord): Promise<RunnableModel> {
  const { embeddingModelId } = clustererParamsOf(record.params);
  return resolveEmbeddingModel(
    appId,
    embeddingModelId,
    `Clusterer ${record.id} groups the vectors of ${JSON.stringify(embeddingModelId)}`,
    notAnEmbedder,
  );
}

/**
 * Returns whether the clusterer's versions become the search index's versions: with the
 * `ivf` backend, for a clusterer of the embeddings that the index holds.
 */
export function drivesSearchIndex(params: ClustererParams): boolean {
  return searchBackendName() === 'ivf' && params.embeddingModelId === SEARCH_EMBEDDING_MODEL_ID;
}

/**
 * Stores a new version of the clusterer as queued (21103) and puts the event that starts its
 * training in the training function (`training.ts`), then returns the version. When the
 * event cannot be put, the version is stored as failed and the error is thrown.
 */
export async function queueClusterVersion(appId: string, record: ModelRecord): Promise<ClusterVersionRecord> {
  const busName = trainingEventBusName();
  const embedder = await resolveClusterEmbedder(appId, record);
  const params = clustererParamsOf(record.params);
  const now = new Date().toISOString();
  const version: ClusterVersionRecord = {
    app_id: appId,
    model_id: record.id,
    id: randomUUID().replaceAll('-', ''),
    status: TrainingStatus.queued(),
    embedding_model: { id: embedder.manifest.id, version_id: embedder.versionId },
    k: 0,
    dim: 0,
    iterations: params.iterations,
    ...(params.k === undefined ? {} : { requested_k: params.k }),
    counts: { vectors: 0, training_vectors: 0 },
    cluster_sizes: [],
    indexed: drivesSearchIndex(params),
    created_at: now,
    modified_at: now,
  };
  await putClusterVersion(version);

  const ids = { appId, modelId: record.id, versionId: version.id };
  try {
    await putClusterTrainingEvent(busName, { app_id: appId, model_id: record.id, version_id: version.id });
  } catch (error) {
    logger.error('clusterer training event failed, marking the version failed', { ...ids, busName, error });
    const reason = `The training could not be started, because putting its event on ${busName} failed: ${(error as Error).message}. Train again with POST /v2/models/${record.id}/versions.`;
    await failQueuedClusterVersion({ ...version, status: TrainingStatus.failed('MODEL_TRAINING_FAILED', reason), modified_at: new Date().toISOString() });
    throw error;
  }
  logger.info('clusterer training queued', { ...ids, busName });
  return version;
}

/**
 * Returns a clusterer ready to predict with a trained version: it embeds each image and
 * returns the nearest cluster. The manifest is the embedding model's with the clusterer's id.
 */
export async function resolveClustererModel(appId: string, record: ModelRecord, versionId?: string): Promise<RunnableModel> {
  const version = await trainedClusterVersion(appId, record.id, versionId);
  const embedder = await resolveClusterEmbedder(appId, record);
  // NOTE: centroids trained on another embedder version may not fit its vectors, so a new version should be trained.
  warnIfEmbedderChanged('embedding model changed since the clusterer was trained', record.id, version, embedder);
  const model = await getClusterModel(version.model_key as string);
  const manifest = { ...embedder.manifest, id: record.id, name: record.name, description: record.description, created_at: record.created_at, concepts: [] };
  return {
    manifest,
    versionId: version.id,
    record,
    async predict(images: readonly DecodedImage[]): Promise<OutputData[]> {
      const embeddings = await embedder.predict(images);
      return embeddings.map((data): ClusterOutputData => ({ clusters: [nearestClusterOf(model, unitVector(data.embeddings?.[0]?.vector ?? []))] }));
    },
  };
}

function nearestClusterOf(model: ClusterModel, vector: Float32Array): PredictedCluster {
  if (vector.length !== model.dim) {
    throw new Error(`The embedding has ${vector.length} values, but the clusterer was trained on ${model.dim}. Train a new clusterer version.`);
  }
  const cluster = nearestCentroids(model.centroids, model.dim, vector, 1)[0] as number;
  return { id: String(cluster), score: dot(model.centroids, cluster * model.dim, vector, 0, model.dim) };
}

/** Returns whether the model is a clusterer. */
export function isClusterer(record: ModelRecord): boolean {
  return record.model_type_id === CLUSTERER_TYPE;
}
