/**
 * Training of a queued clusterer version, which the training function runs for each
 * "Clusterer Version Queued" event: k-means on a sample of the app's embeddings, then, when
 * the clusterer drives the search index, the index's lists. This module loads no model
 * runtime (ONNX, sharp), because the version record names the embedding model already.
 *
 * The version moves only forward: queued (21103), training (21101), then trained (21100) or
 * failed (21106 MODEL_TRAINING_FAILED, 21110 MODEL_TRAINING_NO_DATA). Each step is a
 * conditional write, so a duplicate or late event changes nothing.
 */
import { TrainingStatus, TrainingStatusCode } from '#commons/classifier/status.ts';
import { MAX_CLUSTERS, clusterCount } from '#commons/cluster/params.ts';
import type { ClusterTrainingDetail } from '#commons/cluster/training-events.ts';
import { type TrainingData, maxTrainingVectors, sampleAnnotatedVectors, sampleIndexedVectors } from '#commons/cluster/training-data.ts';
import { type ClusterVersionRecord, claimClusterVersion, finishClusterVersion, getClusterVersion } from '#commons/cluster/version-store.ts';
import { NotFoundError } from '#commons/errors.ts';
import { logger } from '#commons/logger.ts';
import { type ClusterModel, putClusterModel } from '#commons/search/cluster-objects.ts';
import { trainCoarseQuantizer } from '#commons/search/index/coarse.ts';
import { assignClusters } from '#commons/search/index/kmeans.ts';
import { trainQuantizer } from '#commons/search/index/quantizer.ts';
import { clusterModelKey } from '#commons/search/ivf-keys.ts';
import { buildIndexVersion, dropIndexVersion } from '#commons/search/ivf-versions.ts';

/** The k-means seed of every version, so that training twice on the same vectors gives the same clusters. */
const KMEANS_SEED = 1;

/** The result of the training function for one event. */
export type TrainingOutcome = 'trained' | 'failed' | 'ignored';

/**
 * Trains the version named by `detail` when it is queued, and stores the outcome. `attemptId`
 * names this invocation (its Lambda request id), so that a retry of the same invocation may
 * claim the version again while a duplicate event is ignored. Errors of the training itself are
 * stored as MODEL_TRAINING_FAILED; errors of storing the outcome are thrown.
 */
export async function trainQueuedClusterVersion(detail: ClusterTrainingDetail, attemptId: string): Promise<TrainingOutcome> {
  const ids = { appId: detail.app_id, modelId: detail.model_id, versionId: detail.version_id };
  const claimed = await claimClusterVersion(detail.app_id, detail.model_id, detail.version_id, attemptId);
  if (claimed === undefined) {
    logger.info('clusterer training event ignored: the version is missing, finished or claimed by another invocation', ids);
    return 'ignored';
  }
  logger.info('clusterer training started', { ...ids, indexed: claimed.indexed, requestedK: claimed.requested_k ?? 'default' });

  let finished: ClusterVersionRecord;
  try {
    finished = await fitVersion(claimed);
  } catch (error) {
    logger.error('clusterer training failed', { ...ids, error });
    finished = { ...claimed, status: TrainingStatus.failed('MODEL_TRAINING_FAILED', (error as Error).message) };
  }

  if (!(await finishClusterVersion({ ...finished, modified_at: new Date().toISOString() }, attemptId))) {
    await discardDeletedVersion(claimed);
    return 'ignored';
  }
  logger.info('clusterer training finished', { ...ids, status: finished.status.code, k: finished.k, vectors: finished.counts.vectors });
  return finished.status.code === TrainingStatusCode.MODEL_TRAINED ? 'trained' : 'failed';
}

/**
 * Removes what the training wrote when the version was deleted while it trained. A version that
 * another invocation claimed keeps its objects, because that invocation writes them again.
 */
async function discardDeletedVersion(version: ClusterVersionRecord): Promise<void> {
  const ids = { appId: version.app_id, modelId: version.model_id, versionId: version.id };
  try {
    await getClusterVersion(version.app_id, version.model_id, version.id);
    logger.warn('clusterer training result dropped: another invocation claimed the version', ids);
    return;
  } catch (error) {
    if (!(error instanceof NotFoundError)) {
      throw error;
    }
  }
  // NOTE: when the build had already activated the version, dropping it makes search exact
  // until the next training, because the build deleted the previous version's lists.
  logger.warn('clusterer version deleted while it trained, deleting its index lists and objects', ids);
  await dropIndexVersion(version.app_id, version.model_id, version.id);
}

async function fitVersion(version: ClusterVersionRecord): Promise<ClusterVersionRecord> {
  const appId = version.app_id;
  const started = Date.now();
  const capacity = maxTrainingVectors();
  const data: TrainingData = version.indexed
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
  const params = { embeddingModelId: version.embedding_model.id, iterations: version.iterations, ...(version.requested_k === undefined ? {} : { k: version.requested_k }) };
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

  // Above 256 clusters the centroids are trained in two levels (see index/coarse.ts), which is
  // faster. Vectors still join their nearest centroid of all k.
  const { centroids } = trainCoarseQuantizer(data.sample, data.dim, {
    nlist: k,
    seed: KMEANS_SEED,
    iterations: version.iterations,
    sampleSize: sampleCount,
  });
  const model: ClusterModel = { dim: data.dim, k, centroids, quantizer: trainQuantizer(data.sample, data.dim) };
  const modelKey = clusterModelKey(appId, version.model_id, version.id);
  await putClusterModel(modelKey, model);
  const trained = Date.now();

  let clusterSizes: number[];
  let vectorCount = data.count;
  if (version.indexed) {
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
  logger.info('clusterer version fitted', {
    appId,
    modelId: version.model_id,
    versionId: version.id,
    k,
    trainingVectors: sampleCount,
    vectors: vectorCount,
    sampleAndKMeansMs: trained - started,
    buildMs: Date.now() - trained,
  });
  return {
    ...version,
    status: TrainingStatus.trained(),
    k,
    dim: data.dim,
    model_key: modelKey,
    counts: { vectors: vectorCount, training_vectors: sampleCount },
    cluster_sizes: clusterSizes,
  };
}
