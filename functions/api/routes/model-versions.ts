/**
 * Model version routes of embedding classifiers: train a version from the app's labelled
 * inputs, list, read and delete versions, and read a version's cross-validation metrics.
 * Deep-trained models have the same routes in functions/deep-training/version-routes.ts,
 * and clusterers in cluster-versions.ts.
 */
import type { CalibratedThreshold } from '#commons/classifier/calibration.ts';
import type { ClassifierMetrics } from '#commons/classifier/metrics.ts';
import { EMBEDDING_CLASSIFIER_TYPE, TrainingStatusCode } from '#commons/classifier/model-type.ts';
import { notAClassifier, trainModelVersion } from '#commons/classifier/versions.ts';
import { InvalidInputError, NotFoundError, StatusCode } from '#commons/errors.ts';
import { type ApiRequest, parsePaging } from '#commons/http/api-event.ts';
import { okStatus } from '#commons/http/responses.ts';
import { logger } from '#commons/logger.ts';
import {
  type ModelVersionRecord,
  deleteModelVersion,
  getModelVersion,
  listModelVersions,
} from '#commons/storage/model-versions.ts';
import { type ModelRecord, findModel, getAppModel } from '#commons/storage/models.ts';
import { type DeepModelRecord, isDeepModel } from '#commons/deep-training/model-type.ts';
import {
  createDeepVersionRoute,
  deleteDeepVersionRoute,
  getDeepVersionMetricsRoute,
  getDeepVersionRoute,
  listDeepVersionsRoute,
} from '../../deep-training/version-routes.ts';
import { toClarifaiAppModel } from '../model-store.ts';
import {
  clustererOf,
  createClusterVersionRoute,
  deleteClusterVersionRoute,
  getClusterVersionMetricsRoute,
  getClusterVersionRoute,
  listClusterVersionsRoute,
} from './cluster-versions.ts';

/**
 * Trains a version and returns the model with it. An embedding classifier trains inside the
 * request, so the response carries the final status: trained, or failed with the Clarifai
 * code and details. Deep-trained models and clusterers return the version queued (21103) and
 * train off the request. The optional body field `target_precision` (a Percept extension) is
 * the precision that a classifier version's calibrated thresholds aim for.
 */
export async function createModelVersionRoute(request: ApiRequest): Promise<unknown> {
  const deepModel = await deepModelOf(request);
  if (deepModel !== undefined) {
    return createDeepVersionRoute(request, deepModel);
  }
  const clusterer = await clustererOf(request);
  if (clusterer !== undefined) {
    return createClusterVersionRoute(request, clusterer);
  }
  const targetPrecision = readTargetPrecision(request.body);
  const record = await classifierModel(request);

  // NOTE: training runs synchronously in the API handler, whose Lambda timeout is 30 s, as is
  // the longest an API Gateway HTTP API waits for an integration. Fitting 2,000 synthetic 120-d vectors with 3 concepts took 0.5 s,
  // plus 2.0 s for 5-fold cross-validation (5,000: 1.3 s + 4.5 s), on a 2-core AMD EPYC with
  // Node 24. Reading each input's annotation costs one DynamoDB query per input on top of
  // that, which was not measured at this size. `maxTrainingInputs` caps the labelled inputs
  // from these numbers. Larger sets need a training task off the API.
  const version = await trainModelVersion(request.appId, record, targetPrecision);
  logger.info('model version created', { modelId: record.id, versionId: version.id, status: version.status.code });
  return {
    status: okStatus(request.requestId),
    model: { ...toClarifaiAppModel(record), model_version: toClarifaiVersion(version) },
  };
}

export async function listModelVersionsRoute(request: ApiRequest): Promise<unknown> {
  const deepModel = await deepModelOf(request);
  if (deepModel !== undefined) {
    return listDeepVersionsRoute(request, deepModel);
  }
  const clusterer = await clustererOf(request);
  if (clusterer !== undefined) {
    return listClusterVersionsRoute(request, clusterer);
  }
  const record = await classifierModel(request);
  const { page, perPage } = parsePaging(request.query);
  const versions = (await listModelVersions(request.appId, record.id)).slice((page - 1) * perPage, page * perPage);
  return { status: okStatus(request.requestId), model_versions: versions.map(toClarifaiVersion) };
}

export async function getModelVersionRoute(request: ApiRequest): Promise<unknown> {
  const deepModel = await deepModelOf(request);
  if (deepModel !== undefined) {
    return getDeepVersionRoute(request, deepModel);
  }
  const clusterer = await clustererOf(request);
  if (clusterer !== undefined) {
    return getClusterVersionRoute(request, clusterer);
  }
  const record = await classifierModel(request);
  const version = await getModelVersion(request.appId, record.id, request.pathParameters.version_id ?? '');
  return { status: okStatus(request.requestId), model_version: toClarifaiVersion(version) };
}

export async function deleteModelVersionRoute(request: ApiRequest): Promise<unknown> {
  const deepModel = await deepModelOf(request);
  if (deepModel !== undefined) {
    return deleteDeepVersionRoute(request, deepModel);
  }
  const clusterer = await clustererOf(request);
  if (clusterer !== undefined) {
    return deleteClusterVersionRoute(request, clusterer);
  }
  const record = await classifierModel(request);
  const version = await getModelVersion(request.appId, record.id, request.pathParameters.version_id ?? '');
  await deleteModelVersion(request.appId, record.id, version.id);
  logger.info('model version deleted', { modelId: record.id, versionId: version.id });
  return { status: okStatus(request.requestId) };
}

/** Returns the version's cross-validation metrics, or `MODEL_METRICS_NOT_FOUND` when it has none. */
export async function getModelVersionMetricsRoute(request: ApiRequest): Promise<unknown> {
  const deepModel = await deepModelOf(request);
  if (deepModel !== undefined) {
    return getDeepVersionMetricsRoute(request, deepModel, toClarifaiMetrics);
  }
  const clusterer = await clustererOf(request);
  if (clusterer !== undefined) {
    return getClusterVersionMetricsRoute(request, clusterer);
  }
  const record = await classifierModel(request);
  const version = await getModelVersion(request.appId, record.id, request.pathParameters.version_id ?? '');
  if (version.metrics === undefined) {
    const reason =
      version.status.code === TrainingStatusCode.MODEL_TRAINED
        ? 'a concept had fewer than 2 positive examples, so no cross-validation split was possible'
        : `the version is not trained (status ${version.status.code})`;
    throw new NotFoundError(
      'MODEL_METRICS_NOT_FOUND',
      `Version ${version.id} of model ${record.id} has no metrics because ${reason}. Label more inputs and train a new version.`,
      StatusCode.MODEL_DOES_NOT_EXIST,
    );
  }
  return {
    status: okStatus(request.requestId),
    model_version: { ...toClarifaiVersion(version), metrics: toClarifaiMetrics(version.metrics) },
  };
}

/** Reads the optional `target_precision` of the training request: a number above 0 and at most 1. */
function readTargetPrecision(body: unknown): number | undefined {
  const value = (body as { target_precision?: unknown } | null)?.target_precision;
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 1) {
    throw new InvalidInputError(
      'INVALID_TARGET_PRECISION',
      `target_precision must be a number above 0 and at most 1, got ${JSON.stringify(value)}. Send e.g. {"target_precision": 0.9}, or leave it out to calibrate each concept's threshold for the best F1.`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  return value;
}

/** Returns the request's model when it is deep-trained (its versions are SageMaker training jobs). */
async function deepModelOf(request: ApiRequest): Promise<DeepModelRecord | undefined> {
  const record = await findModel(request.appId, request.pathParameters.model_id ?? '');
  return isDeepModel(record) ? record : undefined;
}

async function classifierModel(request: ApiRequest): Promise<ModelRecord> {
  const record = await getAppModel(request.appId, request.pathParameters.model_id ?? '');
  if (record.model_type_id !== EMBEDDING_CLASSIFIER_TYPE) {
    throw notAClassifier(record);
  }
  return record;
}

/**
 * Returns a version in Clarifai's `model_version` shape, with the embedding model, counts and,
 * when the version has them, its calibrated thresholds in `metrics.calibrated_thresholds`.
 */
function toClarifaiVersion(version: ModelVersionRecord): Record<string, unknown> {
  const calibrated = version.metrics?.calibrated_thresholds;
  return {
    id: version.id,
    created_at: version.created_at,
    modified_at: version.modified_at,
    app_id: version.app_id,
    model_id: version.model_id,
    status: version.status,
    active_concept_count: version.concepts.length,
    total_input_count: version.counts.inputs,
    output_info: {
      data: { concepts: version.concepts.map((concept) => ({ ...concept, app_id: version.app_id })) },
      output_config: {
        model_metadata: {
          embedding_model_id: version.embedding_model.id,
          embedding_model_version_id: version.embedding_model.version_id,
        },
      },
    },
    train_info: {
      computed_embedding_count: version.counts.computed_embeddings,
      scorers: version.scorers.map((scorer) => ({
        concept_id: scorer.conceptId,
        mode: scorer.mode,
        positive_count: scorer.positiveCount,
        negative_count: scorer.negativeCount,
      })),
      ...(version.target_precision === undefined ? {} : { target_precision: version.target_precision }),
    },
    ...(calibrated === undefined ? {} : { metrics: { calibrated_thresholds: calibrated.map(toClarifaiThreshold) } }),
  };
}

function toClarifaiThreshold(threshold: CalibratedThreshold): Record<string, unknown> {
  return {
    concept: { id: threshold.concept_id },
    threshold: threshold.threshold,
    precision: threshold.precision,
    recall: threshold.recall,
    ...(threshold.target_precision === undefined ? {} : { target_precision: threshold.target_precision }),
    method: threshold.method,
  };
}

/** Returns metrics in the field names of Clarifai's `EvalMetrics` where one exists. */
function toClarifaiMetrics(metrics: ClassifierMetrics): Record<string, unknown> {
  return {
    status: { code: StatusCode.SUCCESS, description: 'Ok' },
    summary: {
      macro_avg_precision: metrics.macro.precision,
      macro_avg_recall: metrics.macro.recall,
      macro_avg_f1_score: metrics.macro.f1,
      ...(metrics.macro.roc_auc === undefined ? {} : { macro_avg_roc_auc: metrics.macro.roc_auc }),
      top1_accuracy: metrics.top1_accuracy,
      ...(metrics.mean_average_precision === undefined
        ? {}
        : { mean_avg_precision: metrics.mean_average_precision, iou_threshold: metrics.iou_threshold }),
    },
    cross_validation_folds: metrics.folds,
    metrics_by_class: metrics.per_concept.map((concept) => ({
      concept: { id: concept.concept_id },
      precision: concept.precision,
      recall: concept.recall,
      f1: concept.f1,
      ...(concept.roc_auc === undefined ? {} : { roc_auc: concept.roc_auc }),
      num_pos: concept.positives,
      num_neg: concept.negatives,
      ...(concept.average_precision === undefined ? {} : { avg_precision: concept.average_precision }),
    })),
    confusion_matrix: metrics.confusion_matrix,
    ...(metrics.calibrated_thresholds === undefined
      ? {}
      : { calibrated_thresholds: metrics.calibrated_thresholds.map(toClarifaiThreshold) }),
  };
}
