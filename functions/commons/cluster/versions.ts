/**
 * Training a clusterer version from the app's embeddings, and loading a trained version to
 * predict cluster ids with.
 */
import { randomUUID } from 'node:crypto';
import type { OutputData } from '#commons/clarifai/types.ts';
import { TrainingStatus } from '#commons/classifier/status.ts';
import {
  CLUSTERER_TYPE,
  type ClustererParams,
  MAX_CLUSTERS,
  clusterCount,
  clustererParamsOf,
  notAnEmbedder,
} from '#commons/cluster/model-type.ts';
import { type TrainingData, maxTrainingVectors, sampleAnnotatedVectors, sampleIndexedVectors } from '#commons/cluster/training-data.ts';
import { type ClusterVersionRecord, putClusterVersion, trainedClusterVersion } from '#commons/cluster/version-store.ts';
import { InvalidInputError, PerceptError, StatusCode } from '#commons/errors.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { logger } from '#commons/logger.ts';
import { type RunnableModel, resolveRunnableModel } from '#commons/models/app-models.ts';
import { type ClusterModel, getClusterModel, putClusterModel } from '#commons/search/cluster-objects.ts';
import { trainCoarseQuantizer } from '#commons/search/index/coarse.ts';
import { assignClusters, nearestCentroids } from '#commons/search/index/kmeans.ts';
import { trainQuantizer } from '#commons/search/index/quantizer.ts';
import { dot } from '#commons/search/index/vectors.ts';
import { SEARCH_EMBEDDING_MODEL_ID, unitVector } from '#commons/search/indexing.ts';
import { clusterModelKey } from '#commons/search/ivf-keys.ts';
import { buildIndexVersion } from '#commons/search/ivf-versions.ts';
import { searchBackendName } from '#commons/search/select-backend.ts';
import type { ModelRecord } from '#commons/storage/models.ts';

/** The k-means seed of every version, so that training twice on the same vectors gives the same clusters. */
const KMEANS_SEED = 1;

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
  let embedder: RunnableModel;
  try {
    embedder = await resolveRunnableModel(appId, embeddingModelId);
  } catch (error) {
    if (error instanceof PerceptError && (error.code === 'MODEL_NOT_FOUND' || error.code === 'MODEL_NOT_PREDICTABLE')) {
      throw new InvalidInputError(
        'EMBEDDING_MODEL_NOT_FOUND',
        `Clusterer ${record.id} groups the vectors of ${JSON.stringify(embeddingModelId)}, which is not a visual-embedder of app ${JSON.stringify(appId)}: ${error.message}`,
        StatusCode.MODEL_INVALID_ARGUMENT,
        error,
      );
    }
    throw error;
  }
  if (embedder.manifest.model_type_id !== 'visual-embedder') {
    throw notAnEmbedder(embeddingModelId, embedder.manifest.model_type_id);
  }
  return embedder;
}

/**
 * Returns whether the clusterer's versions become the search index's versions: with the
 * `ivf` backend, for a clusterer of the embeddings that the index holds.
 */
export function drivesSearchIndex(params: ClustererParams): boolean {
  return searchBackendName() === 'ivf' && params.embeddingModelId === SEARCH_EMBEDDING_MODEL_ID;
}

/**
 * Trains a new version of a clusterer and stores every outcome: queued (21103), training
 * (21101), then trained (21100) or failed with MODEL_TRAINING_NO_DATA (21110) or
 * MODEL_TRAINING_FAILED (21106). When the clusterer drives the search index, the version's
 * lists are built and it becomes the index's active version before it is marked trained.
 */
export async function trainClusterVersion(appId: string, record: ModelRecord): Promise<ClusterVersionRecord> {
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
    counts: { vectors: 0, training_vectors: 0 },
    cluster_sizes: [],
    indexed: drivesSearchIndex(params),
    created_at: now,
    modified_at: now,
  };
  await putClusterVersion(version);
  logger.info('clusterer training queued', { appId, modelId: record.id, versionId: version.id });

  const finished = await fitVersion(appId, version, params).catch((error: unknown) => {
    logger.error('clusterer training failed', { appId, modelId: record.id, versionId: version.id, error });
    return { ...version, status: TrainingStatus.failed('MODEL_TRAINING_FAILED', (error as Error).message) };
  });
  const stored = { ...finished, modified_at: new Date().toISOString() };
  await putClusterVersion(stored);
  logger.info('clusterer training finished', { appId, modelId: record.id, versionId: version.id, status: stored.status.code });
  return stored;
}

async function fitVersion(appId: string, version: ClusterVersionRecord, params: ClustererParams): Promise<ClusterVersionRecord> {
  await putClusterVersion({ ...version, status: TrainingStatus.training(), modified_at: new Date().toISOString() });
  const indexed = drivesSearchIndex(params);
  const capacity = maxTrainingVectors();
  const data: TrainingData = indexed
    ? await sampleIndexedVectors(appId, capacity, KMEANS_SEED)
    : await sampleAnnotatedVectors(appId, { id: version.embedding_model.id, versionId: version.embedding_model.version_id }, capacity, KMEANS_SEED);

  if (data.count === 0) {
    return {
      ...version,
      status: TrainingStatus.failed(
        'MODEL_TRAINING_NO_DATA',
        `App ${JSON.stringify(appId)} has no input with a ${version.embedding_model.id} embedding yet. Add inputs with POST /v2/inputs, wait until their status is 30000, then train again.`,
      ),
    };
  }
  const sampleCount = data.sample.length / data.dim;
  const k = clusterCount(params, data.count);
  if (k > sampleCount) {
    return {
      ...version,
      counts: { vectors: data.count, training_vectors: sampleCount },
      status: TrainingStatus.failed(
        'MODEL_TRAINING_FAILED',
        `Clusterer ${version.model_id} asks for k = ${k} clusters, but ${sampleCount} vectors are available to train on. Add inputs, or create a clusterer with k at most ${Math.min(sampleCount, MAX_CLUSTERS)}.`,
      ),
    };
  }

  // Above 256 clusters the centroids are trained in two levels (see index/coarse.ts), which
  // keeps training inside the request. Vectors still join their nearest centroid of all k.
  const { centroids } = trainCoarseQuantizer(data.sample, data.dim, {
    nlist: k,
    seed: KMEANS_SEED,
    iterations: params.iterations,
    sampleSize: sampleCount,
  });
  const model: ClusterModel = { dim: data.dim, k, centroids, quantizer: trainQuantizer(data.sample, data.dim) };
  const modelKey = clusterModelKey(appId, version.model_id, version.id);
  await putClusterModel(modelKey, model);

  let clusterSizes: number[];
  let vectorCount = data.count;
  if (indexed) {
    const built = await buildIndexVersion(
      appId,
      { model_id: version.model_id, version_id: version.id, dim: data.dim, k, model_key: modelKey, started_at: new Date().toISOString() },
      model,
    );
    clusterSizes = built.clusterSizes;
    vectorCount = built.vectorCount;
  } else {
    clusterSizes = new Array<number>(k).fill(0);
    for (const cluster of assignClusters(centroids, data.dim, data.sample)) {
      clusterSizes[cluster] = (clusterSizes[cluster] ?? 0) + 1;
    }
  }
  return {
    ...version,
    status: TrainingStatus.trained(),
    k,
    dim: data.dim,
    model_key: modelKey,
    counts: { vectors: vectorCount, training_vectors: sampleCount },
    cluster_sizes: clusterSizes,
    indexed,
  };
}

/**
 * Returns a clusterer ready to predict with a trained version: it embeds each image and
 * returns the nearest cluster. The manifest is the embedding model's with the clusterer's id.
 */
export async function resolveClustererModel(appId: string, record: ModelRecord, versionId?: string): Promise<RunnableModel> {
  const version = await trainedClusterVersion(appId, record.id, versionId);
  const embedder = await resolveClusterEmbedder(appId, record);
  if (embedder.versionId !== version.embedding_model.version_id) {
    // NOTE: centroids trained on another embedder version may not fit its vectors; train a new version.
    logger.warn('embedding model changed since the clusterer was trained', {
      modelId: record.id,
      versionId: version.id,
      trainedWith: version.embedding_model.version_id,
      current: embedder.versionId,
    });
  }
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
