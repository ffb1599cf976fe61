/**
 * Model version routes of clusterers: queue a version for training (k-means on the app's
 * embeddings, and the search index's lists when the clusterer drives the index, in the
 * training function), list, read and delete versions. `model-versions.ts` sends a request
 * here when its model is a clusterer.
 */
import { TrainingStatusCode } from '#commons/classifier/status.ts';
import { CLUSTERER_TYPE } from '#commons/cluster/model-type.ts';
import { type ClusterVersionRecord, getClusterVersion, listClusterVersions } from '#commons/cluster/version-store.ts';
import { queueClusterVersion } from '#commons/cluster/versions.ts';
import { NotFoundError, StatusCode } from '#commons/errors.ts';
import { type ApiRequest, parsePaging } from '#commons/http/api-event.ts';
import { okStatus } from '#commons/http/responses.ts';
import { logger } from '#commons/logger.ts';
import { type IndexStatus, dropIndexVersion, indexStatusOf } from '#commons/search/ivf-versions.ts';
import { deleteModelVersion } from '#commons/storage/model-versions.ts';
import { type ModelRecord, findModel } from '#commons/storage/models.ts';
import { toClarifaiAppModel } from '../model-store.ts';

/** Returns the request's model when it is a clusterer. */
export async function clustererOf(request: ApiRequest): Promise<ModelRecord | undefined> {
  const record = await findModel(request.appId, request.pathParameters.model_id ?? '');
  return record?.model_type_id === CLUSTERER_TYPE ? record : undefined;
}

/**
 * Queues a new version and returns the model with it, with status 21103 (queued). The
 * training function trains it off the request and marks it 21101 (training), then 21100
 * (trained) or failed (21106, or 21110 without embeddings). Clients poll
 * `GET /v2/models/{model_id}/versions/{version_id}` for the outcome. Until the version is
 * trained, searches use the index's previous version (or exact search).
 */
export async function createClusterVersionRoute(request: ApiRequest, record: ModelRecord): Promise<unknown> {
  // Training runs in the training function, which has 15 minutes, because inside the request
  // it reached API Gateway's 30 s limit: 28.4 s at 100,000 vectors (k = 1265, a 20,000-vector
  // sample, all vectors written to lists) on a 2-core AMD EPYC under a load average of about 5
  // (bench/RESULTS.md, "Search through the local API").
  const version = await queueClusterVersion(request.appId, record);
  logger.info('clusterer version created', { modelId: record.id, versionId: version.id, status: version.status.code });
  return {
    status: okStatus(request.requestId),
    model: { ...toClarifaiAppModel(record), model_version: await toClarifaiClusterVersion(version) },
  };
}

export async function listClusterVersionsRoute(request: ApiRequest, record: ModelRecord): Promise<unknown> {
  const { page, perPage } = parsePaging(request.query);
  const versions = (await listClusterVersions(request.appId, record.id)).slice((page - 1) * perPage, page * perPage);
  return { status: okStatus(request.requestId), model_versions: await Promise.all(versions.map(toClarifaiClusterVersion)) };
}

export async function getClusterVersionRoute(request: ApiRequest, record: ModelRecord): Promise<unknown> {
  const version = await getClusterVersion(request.appId, record.id, request.pathParameters.version_id ?? '');
  return { status: okStatus(request.requestId), model_version: await toClarifaiClusterVersion(version) };
}

/**
 * Deletes a version with its S3 objects. When searches used it, they become exact over the
 * app's vectors until another version is trained.
 */
export async function deleteClusterVersionRoute(request: ApiRequest, record: ModelRecord): Promise<unknown> {
  const version = await getClusterVersion(request.appId, record.id, request.pathParameters.version_id ?? '');
  await dropIndexVersion(request.appId, record.id, version.id);
  await deleteModelVersion(request.appId, record.id, version.id);
  logger.info('clusterer version deleted', { modelId: record.id, versionId: version.id });
  return { status: okStatus(request.requestId) };
}

/** Clusterers have no evaluation metrics; the version itself lists its cluster sizes. */
export async function getClusterVersionMetricsRoute(request: ApiRequest, record: ModelRecord): Promise<unknown> {
  const version = await getClusterVersion(request.appId, record.id, request.pathParameters.version_id ?? '');
  throw new NotFoundError(
    'MODEL_METRICS_NOT_FOUND',
    `Version ${version.id} of clusterer ${record.id} has no metrics, because clusters are trained without labels. Read the cluster sizes in train_info of GET /v2/models/${record.id}/versions/${version.id}.`,
    StatusCode.MODEL_DOES_NOT_EXIST,
  );
}

/**
 * Returns a version in Clarifai's `model_version` shape. `train_info.search_index` is
 * `pending` while the version is queued or trains k-means, `building` while its lists are
 * written, `active` when searches probe them, `inactive` for a replaced or failed version,
 * and `not_indexed` when the clusterer does not drive the index.
 */
async function toClarifaiClusterVersion(version: ClusterVersionRecord): Promise<Record<string, unknown>> {
  let searchIndex: IndexStatus | 'pending' | 'not_indexed' = 'not_indexed';
  if (version.indexed && version.status.code === TrainingStatusCode.MODEL_QUEUED_FOR_TRAINING) {
    // The build starts only after the training function marked the version training.
    searchIndex = 'pending';
  } else if (version.indexed) {
    searchIndex = await indexStatusOf(version.app_id, version.id);
    if (searchIndex === 'inactive' && version.status.code === TrainingStatusCode.MODEL_TRAINING) {
      searchIndex = 'pending';
    }
  }
  return {
    id: version.id,
    created_at: version.created_at,
    modified_at: version.modified_at,
    app_id: version.app_id,
    model_id: version.model_id,
    status: version.status,
    total_input_count: version.counts.vectors,
    output_info: {
      output_config: {
        model_metadata: {
          embedding_model_id: version.embedding_model.id,
          embedding_model_version_id: version.embedding_model.version_id,
          // Before training, k is what the clusterer asked for, if anything.
          ...(version.k > 0 ? { k: version.k } : version.requested_k === undefined ? {} : { k: version.requested_k }),
          iterations: version.iterations,
        },
      },
    },
    train_info: {
      k: version.k,
      num_dimensions: version.dim,
      training_vector_count: version.counts.training_vectors,
      cluster_sizes: version.cluster_sizes,
      search_index: searchIndex,
    },
  };
}
