/**
 * Moving a deep-trained version along with its training job's status events (EventBridge's
 * "SageMaker Training Job State Change"): InProgress → training (21101); Completed → read
 * the metrics and manifest from model.tar.gz, deploy, trained (21100); Failed or Stopped →
 * failed (21106) with the job's FailureReason. SageMaker may send an event more than once
 * and out of order, so each transition is a conditional write that never moves back.
 */
import { DescribeTrainingJobCommand, ListTagsCommand } from '@aws-sdk/client-sagemaker';
import { TrainingStatus, TrainingStatusCode } from '#commons/classifier/status.ts';
import { logger } from '#commons/logger.ts';
import { readModelArtifacts } from '#commons/deep-training/artifacts.ts';
import { sageMakerClient } from '#commons/deep-training/clients.ts';
import { deployVersion } from '#commons/deep-training/deploy.ts';
import { TAG_KEYS } from '#commons/deep-training/training-job.ts';
import { type DeepModelVersionRecord, getDeepVersion, isDeepVersion, putDeepVersionIf } from '#commons/deep-training/versions.ts';

/** The part of the event's `detail` that Percept reads (the detail has DescribeTrainingJob's fields). */
export interface TrainingJobStateDetail {
  TrainingJobName: string;
  TrainingJobArn?: string;
  TrainingJobStatus: 'InProgress' | 'Completed' | 'Failed' | 'Stopping' | 'Stopped' | string;
  SecondaryStatus?: string;
  FailureReason?: string;
  ModelArtifacts?: { S3ModelArtifacts?: string };
  /** The job's tags as a key-value map. */
  Tags?: Record<string, string>;
}

const UNFINISHED = [TrainingStatusCode.MODEL_QUEUED_FOR_TRAINING, TrainingStatusCode.MODEL_TRAINING] as const;

/** Outcome of one event, for logs and tests. */
export type JobStateOutcome = 'training' | 'trained' | 'failed' | 'ignored';

/** Applies one training job status event to its version. Returns what it did. */
export async function applyTrainingJobState(detail: TrainingJobStateDetail): Promise<JobStateOutcome> {
  const ids = await versionIdsOf(detail);
  const logKeys = { trainingJobName: detail.TrainingJobName, status: detail.TrainingJobStatus, ...ids };
  if (ids === undefined) {
    logger.warn('training job has no percept tags', logKeys);
    return 'ignored';
  }
  const version = await getDeepVersion(ids.appId, ids.modelId, ids.versionId).catch(() => undefined);
  if (!isDeepVersion(version) || version.training_job.name !== detail.TrainingJobName) {
    logger.warn('training job has no version', logKeys);
    return 'ignored';
  }
  if (!(UNFINISHED as readonly number[]).includes(version.status.code)) {
    logger.info('training job event after the version finished', { ...logKeys, versionStatus: version.status.code });
    return 'ignored';
  }

  const now = new Date().toISOString();
  switch (detail.TrainingJobStatus) {
    case 'InProgress': {
      const stored = await putDeepVersionIf({ ...version, status: TrainingStatus.training(), modified_at: now }, [TrainingStatusCode.MODEL_QUEUED_FOR_TRAINING]);
      logger.info('deep training started', { ...logKeys, stored });
      return stored ? 'training' : 'ignored';
    }
    case 'Completed':
      return finishCompleted(version, detail, logKeys);
    case 'Failed':
    case 'Stopped': {
      const reason = detail.FailureReason ?? (await describeFailure(detail.TrainingJobName));
      const stored = await putDeepVersionIf(
        { ...version, status: TrainingStatus.failed('MODEL_TRAINING_FAILED', reason), modified_at: now },
        UNFINISHED,
      );
      logger.info('deep training failed', { ...logKeys, reason, stored });
      return stored ? 'failed' : 'ignored';
    }
    default:
      return 'ignored';
  }
}

async function finishCompleted(
  version: DeepModelVersionRecord,
  detail: TrainingJobStateDetail,
  logKeys: Record<string, unknown>,
): Promise<JobStateOutcome> {
  let finished: DeepModelVersionRecord;
  try {
    const modelDataUrl = detail.ModelArtifacts?.S3ModelArtifacts ?? (await describeModelArtifacts(detail.TrainingJobName));
    const { metrics, manifest } = await readModelArtifacts(modelDataUrl);
    const deployment = await deployVersion(version, modelDataUrl);
    finished = { ...version, status: TrainingStatus.trained(), metrics, manifest, deployment, modified_at: new Date().toISOString() };
  } catch (error) {
    logger.error('deploying a trained version failed', { ...logKeys, error });
    const reason = `The training job ${detail.TrainingJobName} completed, but its model could not be deployed: ${(error as Error).message}`;
    finished = { ...version, status: TrainingStatus.failed('MODEL_TRAINING_FAILED', reason), modified_at: new Date().toISOString() };
  }
  const stored = await putDeepVersionIf(finished, UNFINISHED);
  logger.info('deep training finished', { ...logKeys, versionStatus: finished.status.code, stored });
  if (!stored) {
    return 'ignored';
  }
  return finished.status.code === TrainingStatusCode.MODEL_TRAINED ? 'trained' : 'failed';
}

async function versionIdsOf(detail: TrainingJobStateDetail): Promise<{ appId: string; modelId: string; versionId: string } | undefined> {
  let tags = detail.Tags;
  if (tags === undefined && detail.TrainingJobArn !== undefined) {
    const listed = await sageMakerClient().send(new ListTagsCommand({ ResourceArn: detail.TrainingJobArn }));
    tags = Object.fromEntries((listed.Tags ?? []).map((tag) => [tag.Key ?? '', tag.Value ?? '']));
  }
  const appId = tags?.[TAG_KEYS.appId];
  const modelId = tags?.[TAG_KEYS.modelId];
  const versionId = tags?.[TAG_KEYS.versionId];
  return appId === undefined || modelId === undefined || versionId === undefined ? undefined : { appId, modelId, versionId };
}

async function describeModelArtifacts(trainingJobName: string): Promise<string> {
  const job = await sageMakerClient().send(new DescribeTrainingJobCommand({ TrainingJobName: trainingJobName }));
  const uri = job.ModelArtifacts?.S3ModelArtifacts;
  if (uri === undefined) {
    throw new Error(`Training job ${trainingJobName} completed without ModelArtifacts.S3ModelArtifacts.`);
  }
  return uri;
}

async function describeFailure(trainingJobName: string): Promise<string> {
  const job = await sageMakerClient().send(new DescribeTrainingJobCommand({ TrainingJobName: trainingJobName }));
  return job.FailureReason ?? `Training job ${trainingJobName} ended ${job.TrainingJobStatus} (${job.SecondaryStatus}) without a failure reason.`;
}

