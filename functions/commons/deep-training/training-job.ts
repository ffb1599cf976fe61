/**
 * Starting a version of a deep-trained model: export the dataset, store the version as
 * queued, and create the SageMaker training job that runs sagemaker/training/train.py in
 * script mode on the PyTorch training image. The job's status events move the version on
 * (see `job-state.ts`).
 */
import { randomUUID } from 'node:crypto';
import { CreateTrainingJobCommand, type CreateTrainingJobCommandInput } from '@aws-sdk/client-sagemaker';
import { TrainingStatus } from '#commons/classifier/status.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { logger } from '#commons/logger.ts';
import { sageMakerClient } from '#commons/deep-training/clients.ts';
import { buildDataset, listAppInputs, trainingKeys, writeDataset, type TrainingDataset, type TrainingKeys } from '#commons/deep-training/dataset.ts';
import { ServiceUnavailableError } from '#commons/deep-training/errors.ts';
import type { DeepModelRecord } from '#commons/deep-training/model-type.ts';
import { type DeepTrainingParams, resolveTrainingParams, toHyperParameters } from '#commons/deep-training/params.ts';
import { DEFAULT_TRAINING_VOLUME_GB, deepTrainingSettings, versionResourceName } from '#commons/deep-training/settings.ts';
import { DEEP_VERSION_KIND, type DeepModelVersionRecord, putDeepVersion } from '#commons/deep-training/versions.ts';

/** Tag keys that carry a training job's app, model and version into its status events. */
export const TAG_KEYS = { appId: 'percept:app-id', modelId: 'percept:model-id', versionId: 'percept:version-id' } as const;

export interface TrainingJobSettings {
  roleArn: string;
  imageUri: string;
  sourceUri: string;
  instanceType: string;
  maxRuntimeSeconds: number;
  volumeSizeGb: number;
  region: string;
}

/** Returns the CreateTrainingJob request of a version. */
export function trainingJobRequest(
  version: Pick<DeepModelVersionRecord, 'app_id' | 'model_id' | 'id' | 'model_type_id' | 'train_params'>,
  bucket: string,
  keys: TrainingKeys,
  settings: TrainingJobSettings,
): CreateTrainingJobCommandInput {
  return {
    TrainingJobName: versionResourceName(version.id),
    RoleArn: settings.roleArn,
    AlgorithmSpecification: { TrainingImage: settings.imageUri, TrainingInputMode: 'File' },
    HyperParameters: {
      // Script mode: the training toolkit downloads this tar.gz and runs the program in it.
      sagemaker_program: JSON.stringify('train.py'),
      sagemaker_submit_directory: JSON.stringify(settings.sourceUri),
      sagemaker_region: JSON.stringify(settings.region),
      ...toHyperParameters(version.train_params, version.model_type_id),
      // manifest.json's id follows the manifest rule (lower-case letters, digits, '-'). Predictions report the model's own id.
      model_id: JSON.stringify(manifestModelId(version.model_id)),
    },
    InputDataConfig: [
      {
        ChannelName: 'images',
        DataSource: {
          S3DataSource: { S3DataType: 'ManifestFile', S3Uri: `s3://${bucket}/${keys.imagesManifest}`, S3DataDistributionType: 'FullyReplicated' },
        },
        InputMode: 'File',
      },
      {
        ChannelName: 'labels',
        DataSource: {
          S3DataSource: { S3DataType: 'S3Prefix', S3Uri: `s3://${bucket}/${keys.datasetPrefix}`, S3DataDistributionType: 'FullyReplicated' },
        },
        ContentType: 'application/jsonlines',
        InputMode: 'File',
      },
    ],
    OutputDataConfig: { S3OutputPath: `s3://${bucket}/${keys.outputPrefix}` },
    ResourceConfig: { InstanceType: settings.instanceType as never, InstanceCount: 1, VolumeSizeInGB: settings.volumeSizeGb },
    StoppingCondition: { MaxRuntimeInSeconds: settings.maxRuntimeSeconds },
    Tags: [
      { Key: TAG_KEYS.appId, Value: version.app_id },
      { Key: TAG_KEYS.modelId, Value: version.model_id },
      { Key: TAG_KEYS.versionId, Value: version.id },
    ],
  };
}

/** Returns `modelId` in the manifest id form: lower case, other characters replaced by '-', at most 63. */
export function manifestModelId(modelId: string): string {
  const cleaned = modelId.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 63);
  return cleaned === '' ? 'deep-trained-model' : cleaned;
}

/** Reads the optional overrides `model_versions[0].train_info.params` of a training request. */
export function readVersionOverrides(body: unknown, base: DeepTrainingParams): DeepTrainingParams {
  const versions = (body as { model_versions?: unknown } | null)?.model_versions;
  if (versions === undefined) {
    return base;
  }
  if (!Array.isArray(versions) || versions.length !== 1) {
    throw new InvalidInputError(
      'INVALID_TRAINING_PARAMETER',
      `model_versions must be a list of one version, got ${JSON.stringify(versions)}. Send {"model_versions": [{"train_info": {"params": {"epochs": 5}}}]} or an empty body.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const params = (versions[0] as { train_info?: { params?: unknown } } | null)?.train_info?.params;
  return params === undefined ? base : resolveTrainingParams(params, 'model_versions[0].train_info.params', base);
}

/**
 * Exports the dataset, stores a queued version and creates its training job. Throws a 400
 * before storing anything when the overrides or the labelled inputs are invalid. When
 * SageMaker rejects the job, the version is stored as failed with SageMaker's message and
 * `TRAINING_JOB_NOT_STARTED` (HTTP 503) is thrown with the same message.
 */
export async function startDeepTraining(record: DeepModelRecord, body: unknown): Promise<DeepModelVersionRecord> {
  const params = readVersionOverrides(body, record.train_info.params);
  const concepts = record.params.concepts.map((concept) => ({ id: concept.id, name: concept.name ?? concept.id }));
  const dataset: TrainingDataset = buildDataset(record.app_id, record.id, concepts, await listAppInputs(record.app_id), record.model_type_id);

  const bucket = config.bucketName;
  const versionId = randomUUID().replaceAll('-', '');
  const keys = trainingKeys(record.app_id, record.id, versionId);
  const settings: TrainingJobSettings = {
    roleArn: deepTrainingSettings.trainingRoleArn,
    imageUri: deepTrainingSettings.trainingImageUri,
    sourceUri: deepTrainingSettings.trainingSourceUri,
    instanceType: deepTrainingSettings.trainingInstanceType,
    maxRuntimeSeconds: deepTrainingSettings.maxTrainingSeconds,
    volumeSizeGb: DEFAULT_TRAINING_VOLUME_GB,
    region: process.env.AWS_REGION ?? 'us-east-1',
  };
  const now = new Date().toISOString();
  const version: DeepModelVersionRecord = {
    kind: DEEP_VERSION_KIND,
    app_id: record.app_id,
    model_id: record.id,
    id: versionId,
    model_type_id: record.model_type_id,
    status: TrainingStatus.queued(),
    concepts,
    train_params: params,
    counts: { inputs: dataset.lines.length, positives: dataset.positives },
    training_job: {
      name: versionResourceName(versionId),
      instance_type: settings.instanceType,
      dataset_uri: `s3://${bucket}/${keys.datasetPrefix}`,
      output_uri: `s3://${bucket}/${keys.outputPrefix}`,
    },
    created_at: now,
    modified_at: now,
  };

  await writeDataset(bucket, keys, dataset);
  await putDeepVersion(version);
  const logKeys = { appId: record.app_id, modelId: record.id, versionId, trainingJobName: version.training_job.name };
  logger.info('deep training queued', { ...logKeys, inputs: dataset.lines.length, instanceType: settings.instanceType });

  try {
    // The version is not written again here: the job's status events may already be updating it.
    await sageMakerClient().send(new CreateTrainingJobCommand(trainingJobRequest(version, bucket, keys, settings)));
    return version;
  } catch (error) {
    const reason = `SageMaker did not start training job ${version.training_job.name}: ${(error as Error).message}`;
    logger.error('training job not started', { ...logKeys, error });
    await putDeepVersion({
      ...version,
      status: TrainingStatus.failed('MODEL_TRAINING_FAILED', reason),
      modified_at: new Date().toISOString(),
    });
    throw new ServiceUnavailableError('TRAINING_JOB_NOT_STARTED', reason, error);
  }
}
