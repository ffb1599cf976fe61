/**
 * The model version routes of deep-trained models, called by `routes/model-versions.ts` when
 * the model has a deep-training template: start a training job, list, read and delete
 * versions (deleting the version's endpoint deployment too), and read a version's metrics.
 */
import type { ClassifierMetrics } from '#commons/classifier/metrics.ts';
import { TrainingStatusCode } from '#commons/classifier/status.ts';
import { NotFoundError, StatusCode } from '#commons/errors.ts';
import { type ApiRequest, parsePaging } from '#commons/http/api-event.ts';
import { okStatus } from '#commons/http/responses.ts';
import { logger } from '#commons/logger.ts';
import { deleteModelVersion } from '#commons/storage/model-versions.ts';
import { describeComponent, undeployVersion } from '#commons/deep-training/deploy.ts';
import type { DeepModelRecord } from '#commons/deep-training/model-type.ts';
import { startDeepTraining } from '#commons/deep-training/training-job.ts';
import { stopTrainingJob } from '#commons/deep-training/stop.ts';
import {
  type DeepModelVersionRecord,
  getDeepVersion,
  isUnfinished,
  listDeepVersions,
  toClarifaiDeepVersion,
} from '#commons/deep-training/versions.ts';
import { toClarifaiAppModel } from '../api/model-store.ts';

/**
 * Starts training a version and returns the model with it, status queued (21103). The job
 * runs on SageMaker; GET the version to follow it to trained (21100) or failed (21106).
 */
export async function createDeepVersionRoute(request: ApiRequest, record: DeepModelRecord): Promise<unknown> {
  const version = await startDeepTraining(record, request.body);
  logger.info('model version created', { modelId: record.id, versionId: version.id, status: version.status.code });
  return {
    status: okStatus(request.requestId),
    model: { ...toClarifaiAppModel(record), model_version: toClarifaiDeepVersion(version) },
  };
}

export async function listDeepVersionsRoute(request: ApiRequest, record: DeepModelRecord): Promise<unknown> {
  const { page, perPage } = parsePaging(request.query);
  const versions = (await listDeepVersions(request.appId, record.id)).slice((page - 1) * perPage, page * perPage);
  return { status: okStatus(request.requestId), model_versions: versions.map((version) => toClarifaiDeepVersion(version)) };
}

/** Returns the version with the live state of its inference component when it is deployed. */
export async function getDeepVersionRoute(request: ApiRequest, record: DeepModelRecord): Promise<unknown> {
  const version = await getDeepVersion(request.appId, record.id, request.pathParameters.version_id ?? '');
  return { status: okStatus(request.requestId), model_version: toClarifaiDeepVersion(version, await deploymentStatus(version)) };
}

/** Deletes the version after stopping its training job or removing its endpoint deployment. */
export async function deleteDeepVersionRoute(request: ApiRequest, record: DeepModelRecord): Promise<unknown> {
  const version = await getDeepVersion(request.appId, record.id, request.pathParameters.version_id ?? '');
  await deleteDeepVersionResources(version);
  await deleteModelVersion(request.appId, record.id, version.id);
  logger.info('model version deleted', { modelId: record.id, versionId: version.id });
  return { status: okStatus(request.requestId) };
}

/** Stops the version's training job when it still runs, and removes its endpoint deployment. */
export async function deleteDeepVersionResources(version: DeepModelVersionRecord): Promise<void> {
  if (isUnfinished(version)) {
    await stopTrainingJob(version.training_job.name);
  }
  if (version.deployment !== undefined) {
    await undeployVersion(version.deployment);
  }
}

/**
 * Returns the version's held-out metrics (from the job's metrics.json), formatted by
 * `toMetrics`, or `MODEL_METRICS_NOT_FOUND` when the version is not trained.
 */
export async function getDeepVersionMetricsRoute(
  request: ApiRequest,
  record: DeepModelRecord,
  toMetrics: (metrics: ClassifierMetrics) => Record<string, unknown>,
): Promise<unknown> {
  const version = await getDeepVersion(request.appId, record.id, request.pathParameters.version_id ?? '');
  if (version.metrics === undefined) {
    const reason =
      version.status.code === TrainingStatusCode.MODEL_TRAINED
        ? 'its training job wrote no metrics.json'
        : `the version is not trained (status ${version.status.code}: ${version.status.description})`;
    throw new NotFoundError(
      'MODEL_METRICS_NOT_FOUND',
      `Version ${version.id} of model ${record.id} has no metrics because ${reason}. Wait for training to finish, or train a new version.`,
      StatusCode.MODEL_DOES_NOT_EXIST,
    );
  }
  return {
    status: okStatus(request.requestId),
    model_version: { ...toClarifaiDeepVersion(version), metrics: toMetrics(version.metrics) },
  };
}

async function deploymentStatus(version: DeepModelVersionRecord): Promise<Record<string, unknown> | undefined> {
  if (version.deployment === undefined) {
    return undefined;
  }
  try {
    const state = await describeComponent(version.deployment);
    if (state === undefined) {
      return { status: 'NotFound' };
    }
    return {
      status: state.status,
      current_copy_count: state.currentCopyCount,
      desired_copy_count: state.desiredCopyCount,
      ...(state.failureReason === undefined ? {} : { failure_reason: state.failureReason }),
    };
  } catch (error) {
    // The version is still readable when SageMaker cannot be reached; its deployment state is then unknown.
    logger.warn('describing the inference component failed', { versionId: version.id, error });
    return { status: 'Unknown' };
  }
}
