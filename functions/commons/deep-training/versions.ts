/**
 * Versions of deep-trained models. They share the table key of every model version
 * (`MODELVERSION#<model>#<version>`), so listing, reading and `trainedVersion` work for them
 * as for embedding classifiers. The `kind` field distinguishes the two record shapes.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import type { Status } from '#commons/clarifai/types.ts';
import type { ClassifierMetrics } from '#commons/classifier/metrics.ts';
import { TrainingStatusCode } from '#commons/classifier/status.ts';
import { config } from '#commons/config.ts';
import type { DeepTrainingParams } from '#commons/deep-training/params.ts';
import { appPk, modelVersionSk } from '#commons/storage/keys.ts';
import { getVersionItem, listVersionItems, putVersionIf } from '#commons/storage/model-versions.ts';

export const DEEP_VERSION_KIND = 'deep-training';

/** The serving place of a trained version: one inference component on the shared endpoint. */
export interface DeepDeployment {
  endpoint_name: string;
  inference_component_name: string;
  model_name: string;
  /** `s3://` URI of the model.tar.gz the serving container loads. */
  model_data_url: string;
  /** `pending` until Application Auto Scaling accepted the component's scaling target. */
  auto_scaling?: 'registered' | 'pending';
}

export interface DeepModelVersionRecord {
  kind: typeof DEEP_VERSION_KIND;
  app_id: string;
  model_id: string;
  id: string;
  model_type_id: string;
  status: Status;
  concepts: Array<{ id: string; name: string }>;
  train_params: DeepTrainingParams;
  /** Labelled inputs in the dataset, and positive examples per concept id. */
  counts: { inputs: number; positives: Record<string, number> };
  training_job: {
    name: string;
    instance_type: string;
    /** `s3://` URIs of the dataset prefix and the job's output path. */
    dataset_uri: string;
    output_uri: string;
  };
  /** The held-out split's metrics from the job's `metrics.json`. */
  metrics?: ClassifierMetrics;
  /** The Percept model manifest from the job's `manifest.json`. */
  manifest?: Record<string, unknown>;
  deployment?: DeepDeployment;
  created_at: string;
  modified_at: string;
}

export function isDeepVersion(version: unknown): version is DeepModelVersionRecord {
  return (version as { kind?: unknown } | undefined)?.kind === DEEP_VERSION_KIND;
}

export async function putDeepVersion(version: DeepModelVersionRecord): Promise<void> {
  await documentClient().send(
    new PutCommand({
      TableName: config.tableName,
      Item: { pk: appPk(version.app_id), sk: modelVersionSk(version.model_id, version.id), ...version },
    }),
  );
}

/**
 * Stores `version` only if the stored version's status code is one of `expectedCodes`, so
 * that a late or repeated training job event never moves a version backwards. Returns
 * whether it was stored.
 */
export function putDeepVersionIf(version: DeepModelVersionRecord, expectedCodes: readonly number[]): Promise<boolean> {
  const values = Object.fromEntries(expectedCodes.map((code, index) => [`:code${index}`, code]));
  return putVersionIf(version, `#status.#code IN (${Object.keys(values).join(', ')})`, values);
}

/** Returns a version of a deep-trained model, or throws `MODEL_VERSION_NOT_FOUND`. */
export function getDeepVersion(appId: string, modelId: string, versionId: string): Promise<DeepModelVersionRecord> {
  return getVersionItem<DeepModelVersionRecord>(appId, modelId, versionId);
}

/** Lists a deep-trained model's versions, newest first. */
export async function listDeepVersions(appId: string, modelId: string): Promise<DeepModelVersionRecord[]> {
  return listVersionItems<DeepModelVersionRecord>(appId, modelId);
}

/** Returns whether the version's status can still change (queued or training). */
export function isUnfinished(version: DeepModelVersionRecord): boolean {
  return (
    version.status.code === TrainingStatusCode.MODEL_QUEUED_FOR_TRAINING ||
    version.status.code === TrainingStatusCode.MODEL_TRAINING
  );
}

/**
 * Returns a version in Clarifai's `model_version` shape: status, concepts, counts, the
 * resolved hyperparameters in `train_info.params`, and Percept's `train_info.training_job`
 * and `deployment` (with the inference component's status when `deploymentStatus` is given).
 */
export function toClarifaiDeepVersion(
  version: DeepModelVersionRecord,
  deploymentStatus?: Record<string, unknown>,
): Record<string, unknown> {
  return {
    id: version.id,
    created_at: version.created_at,
    modified_at: version.modified_at,
    app_id: version.app_id,
    model_id: version.model_id,
    model_type_id: version.model_type_id,
    status: version.status,
    active_concept_count: version.concepts.length,
    total_input_count: version.counts.inputs,
    output_info: {
      data: { concepts: version.concepts.map((concept) => ({ ...concept, app_id: version.app_id })) },
    },
    train_info: {
      params: version.train_params,
      positive_counts: version.concepts.map((concept) => ({
        concept_id: concept.id,
        positive_count: version.counts.positives[concept.id] ?? 0,
      })),
      training_job: {
        name: version.training_job.name,
        instance_type: version.training_job.instance_type,
        dataset_uri: version.training_job.dataset_uri,
        output_uri: version.training_job.output_uri,
      },
    },
    ...(version.deployment === undefined
      ? {}
      : {
          deployment: {
            endpoint_name: version.deployment.endpoint_name,
            inference_component_name: version.deployment.inference_component_name,
            model_data_url: version.deployment.model_data_url,
            ...deploymentStatus,
          },
        }),
  };
}
