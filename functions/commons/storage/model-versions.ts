/**
 * Model versions: one item per version of an app's model. The reads and conditional writes
 * serve every model type that trains versions (embedding classifiers, clusterers,
 * deep-trained models). An embedding classifier's item contains its status, concept scorers
 * and training counts. By estimate, 120-d weights for a few dozen concepts
 * take a few tens of KB, well below DynamoDB's 400 KB item limit.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import type { Status } from '#commons/clarifai/types.ts';
import type { CalibratedThreshold } from '#commons/classifier/calibration.ts';
import type { ClassifierMetrics } from '#commons/classifier/metrics.ts';
import { TrainingStatusCode } from '#commons/classifier/status.ts';
import type { ConceptScorer } from '#commons/classifier/train.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, NotFoundError, StatusCode } from '#commons/errors.ts';
import { appPk, modelVersionSk, modelVersionSkPrefix } from '#commons/storage/keys.ts';
import { queryByPrefix } from '#commons/storage/query.ts';

export interface ModelVersionRecord {
  app_id: string;
  model_id: string;
  id: string;
  status: Status;
  /** Model and version of the embedder whose vectors the scorers take. */
  embedding_model: { id: string; version_id: string };
  concepts: Array<{ id: string; name: string }>;
  /** One scorer per concept, in the order of `concepts`. Empty until the version is trained. */
  scorers: ConceptScorer[];
  /** Labelled inputs used, and how many of their embeddings were computed because no annotation had them. */
  counts: { inputs: number; computed_embeddings: number };
  metrics?: ClassifierMetrics;
  /** Precision requested for the calibrated thresholds (`target_precision` of the training request). */
  target_precision?: number;
  created_at: string;
  modified_at: string;
}

export async function putModelVersion(record: ModelVersionRecord): Promise<void> {
  await documentClient().send(
    new PutCommand({
      TableName: config.tableName,
      Item: { pk: appPk(record.app_id), sk: modelVersionSk(record.model_id, record.id), ...record },
    }),
  );
}

/** Returns the version or throws `MODEL_VERSION_NOT_FOUND`. */
export function getModelVersion(appId: string, modelId: string, versionId: string): Promise<ModelVersionRecord> {
  return getVersionItem<ModelVersionRecord>(appId, modelId, versionId);
}

/** Lists a model's versions, newest first. */
export function listModelVersions(appId: string, modelId: string): Promise<ModelVersionRecord[]> {
  return listVersionItems<ModelVersionRecord>(appId, modelId);
}

/**
 * Returns a version item of any model type (embedding classifier, clusterer, deep-trained
 * model), without its keys, or throws `MODEL_VERSION_NOT_FOUND`.
 */
export async function getVersionItem<T>(appId: string, modelId: string, versionId: string): Promise<T> {
  const { Item } = await documentClient().send(
    new GetCommand({ TableName: config.tableName, Key: { pk: appPk(appId), sk: modelVersionSk(modelId, versionId) } }),
  );
  if (Item === undefined) {
    throw new NotFoundError(
      'MODEL_VERSION_NOT_FOUND',
      `Model ${JSON.stringify(modelId)} has no version ${JSON.stringify(versionId)}. List its versions with GET /v2/models/${modelId}/versions.`,
      StatusCode.MODEL_DOES_NOT_EXIST,
    );
  }
  return stripKeys<T>(Item);
}

/** Lists the version items of a model of any type, newest first. */
export async function listVersionItems<T>(appId: string, modelId: string): Promise<T[]> {
  const items = await queryByPrefix(appPk(appId), modelVersionSkPrefix(modelId));
  return items
    .map((item) => stripKeys<VersionKeys>(item))
    .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id)) as T[];
}

/**
 * Stores a version item only when `condition` holds for the stored one, so that a late or
 * repeated event never moves a version backwards. `#status` and `#code` name the status code
 * in the condition. Returns whether the item was stored.
 */
export async function putVersionIf(
  record: VersionKeys,
  condition: string,
  values: Record<string, unknown>,
): Promise<boolean> {
  try {
    await documentClient().send(
      new PutCommand({
        TableName: config.tableName,
        Item: { pk: appPk(record.app_id), sk: modelVersionSk(record.model_id, record.id), ...record },
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#status': 'status', '#code': 'code' },
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      return false;
    }
    throw error;
  }
}

/** The fields every version item has, whatever its model type. */
interface VersionKeys {
  app_id: string;
  model_id: string;
  id: string;
  created_at: string;
}

export async function deleteModelVersion(appId: string, modelId: string, versionId: string): Promise<void> {
  await documentClient().send(
    new DeleteCommand({ TableName: config.tableName, Key: { pk: appPk(appId), sk: modelVersionSk(modelId, versionId) } }),
  );
}

/**
 * Returns the trained version to predict with: `versionId` when given, else the newest
 * trained one. Throws `MODEL_VERSION_NOT_FOUND` for an unknown version and
 * `MODEL_NOT_TRAINED` when the version is not trained or there is none.
 */
export async function trainedVersion(appId: string, modelId: string, versionId?: string): Promise<ModelVersionRecord> {
  if (versionId !== undefined) {
    const version = await getModelVersion(appId, modelId, versionId);
    if (version.status.code !== TrainingStatusCode.MODEL_TRAINED) {
      throw new InvalidInputError(
        'MODEL_NOT_TRAINED',
        `Version ${versionId} of model ${modelId} has status ${version.status.code} (${version.status.description}), so it cannot predict. Use a trained version, or omit the version to use the newest trained one.`,
        StatusCode.MODEL_INVALID_ARGUMENT,
      );
    }
    return version;
  }
  const newest = (await listModelVersions(appId, modelId)).find(
    (version) => version.status.code === TrainingStatusCode.MODEL_TRAINED,
  );
  if (newest === undefined) {
    throw new InvalidInputError(
      'MODEL_NOT_TRAINED',
      `Model ${modelId} has no trained version. Train one with POST /v2/models/${modelId}/versions.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  return newest;
}

/**
 * Returns the calibrated thresholds of a trained version (the newest trained one when
 * `versionId` is undefined), with the id of that version. Throws as `trainedVersion` does,
 * and `MODEL_NOT_CALIBRATED` when the version has no calibrated thresholds.
 */
export async function calibratedThresholdsOf(
  appId: string,
  modelId: string,
  versionId?: string,
): Promise<{ versionId: string; thresholds: CalibratedThreshold[] }> {
  const version = await trainedVersion(appId, modelId, versionId);
  const thresholds = version.metrics?.calibrated_thresholds ?? [];
  if (thresholds.length === 0) {
    throw new InvalidInputError(
      'MODEL_NOT_CALIBRATED',
      `Version ${version.id} of model ${modelId} has no calibrated thresholds, because it has no cross-validation metrics (a concept had fewer than 2 positive examples) or was trained before calibration existed. Label at least 2 inputs with value 1 for each concept and train a new version with POST /v2/models/${modelId}/versions.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  return { versionId: version.id, thresholds };
}

function stripKeys<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as T;
}
