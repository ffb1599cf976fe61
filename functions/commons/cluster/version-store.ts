/**
 * Versions of an app's clusterers, stored as model versions (`MODELVERSION#<model>#<version>`
 * in the app's partition) next to those of embedding classifiers. The centroids are too large
 * for an item, so they live in S3 under `model_key`.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import type { Status } from '#commons/clarifai/types.ts';
import { TrainingStatus, TrainingStatusCode } from '#commons/classifier/status.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { appPk, modelVersionSk } from '#commons/storage/keys.ts';
import { getVersionItem, listVersionItems, putVersionIf } from '#commons/storage/model-versions.ts';

export interface ClusterVersionRecord {
  app_id: string;
  model_id: string;
  id: string;
  status: Status;
  /** Model and version of the embedder whose vectors were clustered. */
  embedding_model: { id: string; version_id: string };
  /** Number of clusters; 0 until trained. */
  k: number;
  /** Values per vector; 0 until trained. */
  dim: number;
  iterations: number;
  /** The clusterer's `k` when the version was queued; unset to choose k from the number of vectors. */
  requested_k?: number;
  /** S3 key of the centroids and quantizer; set once trained. */
  model_key?: string;
  /** `vectors`: the app's vectors assigned to clusters; `training_vectors`: the sample k-means trained on. */
  counts: { vectors: number; training_vectors: number };
  /** Vectors per cluster when the version was trained, by cluster index. */
  cluster_sizes: number[];
  /** Whether training built the search index's lists for this version (see docs/search.md). */
  indexed: boolean;
  /** Request id of the training function invocation that claimed the version to train it. */
  training_attempt?: string;
  /** When that invocation started to train the version. */
  training_started_at?: string;
  created_at: string;
  modified_at: string;
}

export async function putClusterVersion(record: ClusterVersionRecord): Promise<void> {
  await documentClient().send(
    new PutCommand({
      TableName: config.tableName,
      Item: { pk: appPk(record.app_id), sk: modelVersionSk(record.model_id, record.id), ...record },
    }),
  );
}

/**
 * A training invocation lasts at most 15 minutes, Lambda's longest timeout, so a version still
 * training after that was left by an invocation that timed out or crashed.
 */
export const ABANDONED_TRAINING_MS = 15 * 60 * 1000;

const STATUS_NAMES = { '#status': 'status', '#code': 'code' };

/**
 * Marks a queued version as training by the invocation `attemptId` and returns it. Returns
 * undefined when another invocation claimed it, it finished, or it does not exist. A version
 * that `attemptId` claimed before is claimed again, because Lambda retries a failed
 * invocation with the same request id. So is a version whose training was abandoned.
 */
export async function claimClusterVersion(
  appId: string,
  modelId: string,
  versionId: string,
  attemptId: string,
  now = new Date(),
): Promise<ClusterVersionRecord | undefined> {
  try {
    const { Attributes } = await documentClient().send(
      new UpdateCommand({
        TableName: config.tableName,
        Key: { pk: appPk(appId), sk: modelVersionSk(modelId, versionId) },
        UpdateExpression: 'SET #status = :training, training_attempt = :attempt, training_started_at = :now, modified_at = :now',
        ConditionExpression:
          'attribute_exists(pk) AND (#status.#code = :queuedCode OR (#status.#code = :trainingCode AND (training_attempt = :attempt OR training_started_at < :abandonedBefore)))',
        ExpressionAttributeNames: STATUS_NAMES,
        ExpressionAttributeValues: {
          ':training': TrainingStatus.training(),
          ':attempt': attemptId,
          ':now': now.toISOString(),
          ':queuedCode': TrainingStatusCode.MODEL_QUEUED_FOR_TRAINING,
          ':trainingCode': TrainingStatusCode.MODEL_TRAINING,
          ':abandonedBefore': new Date(now.getTime() - ABANDONED_TRAINING_MS).toISOString(),
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return stripKeys(Attributes ?? {});
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      return undefined;
    }
    throw error;
  }
}

/**
 * Stores the outcome of a training, unless the version is no longer claimed by the invocation
 * `attemptId` (it was deleted or claimed by another one). Returns whether it stored it.
 */
export async function finishClusterVersion(record: ClusterVersionRecord, attemptId: string): Promise<boolean> {
  return putVersionIf(record, '#status.#code = :trainingCode AND training_attempt = :attempt', {
    ':trainingCode': TrainingStatusCode.MODEL_TRAINING,
    ':attempt': attemptId,
  });
}

/** Stores the version with a failed status unless it left the queue. Returns whether it stored it. */
export async function failQueuedClusterVersion(record: ClusterVersionRecord): Promise<boolean> {
  return putVersionIf(record, '#status.#code = :queuedCode', { ':queuedCode': TrainingStatusCode.MODEL_QUEUED_FOR_TRAINING });
}

/** Returns the version or throws `MODEL_VERSION_NOT_FOUND`. */
export function getClusterVersion(appId: string, modelId: string, versionId: string): Promise<ClusterVersionRecord> {
  return getVersionItem<ClusterVersionRecord>(appId, modelId, versionId);
}

/** Lists a clusterer's versions, newest first. */
export function listClusterVersions(appId: string, modelId: string): Promise<ClusterVersionRecord[]> {
  return listVersionItems<ClusterVersionRecord>(appId, modelId);
}

/**
 * Returns the trained version to predict with: `versionId` when given, else the newest trained
 * one. Throws `MODEL_VERSION_NOT_FOUND` for an unknown version and `MODEL_NOT_TRAINED` when the
 * version is not trained or there is none.
 */
export async function trainedClusterVersion(appId: string, modelId: string, versionId?: string): Promise<ClusterVersionRecord> {
  const version =
    versionId === undefined
      ? (await listClusterVersions(appId, modelId)).find((found) => found.status.code === TrainingStatusCode.MODEL_TRAINED)
      : await getClusterVersion(appId, modelId, versionId);
  if (version === undefined) {
    throw new InvalidInputError(
      'MODEL_NOT_TRAINED',
      `Model ${modelId} has no trained version. Train one with POST /v2/models/${modelId}/versions.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  if (version.status.code !== TrainingStatusCode.MODEL_TRAINED || version.model_key === undefined) {
    throw new InvalidInputError(
      'MODEL_NOT_TRAINED',
      `Version ${version.id} of model ${modelId} has status ${version.status.code} (${version.status.description}), so it cannot predict. Use a trained version, or omit the version to use the newest trained one.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  return version;
}

function stripKeys(item: Record<string, unknown>): ClusterVersionRecord {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as ClusterVersionRecord;
}
