/**
 * The job-state handler on the local stack's table, bucket and SageMaker. The tests send it
 * the status events that local training jobs never produce, as EventBridge delivers them: a
 * late event, a stopped job, an archive without metrics, a job without Percept's tags.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { create } from 'tar';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrainingStatus } from '#commons/classifier/status.ts';
import { resolveTrainingParams } from '#commons/deep-training/params.ts';
import { DEEP_VERSION_KIND, type DeepModelVersionRecord, getDeepVersion, putDeepVersion } from '#commons/deep-training/versions.ts';
import type { TrainingJobStateDetail } from '#commons/deep-training/job-state.ts';
import { handler } from '../../functions/deep-training/job-state/handler.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { localS3Client } from '../local/helpers.ts';

let stack: LocalStack;
const scratch = mkdtempSync(path.join(tmpdir(), 'percept-job-state-test-'));

function version(id: string): DeepModelVersionRecord {
  return {
    kind: DEEP_VERSION_KIND,
    app_id: 'main',
    model_id: 'pets',
    id,
    model_type_id: 'visual-classifier',
    status: TrainingStatus.queued(),
    concepts: [
      { id: 'cat', name: 'cat' },
      { id: 'dog', name: 'dog' },
    ],
    train_params: resolveTrainingParams({ template: 'classification-resnet18' }, 'model.train_info.params'),
    counts: { inputs: 2, positives: { cat: 1, dog: 1 } },
    training_job: { name: `percept-${id}`, instance_type: 'ml.g5.xlarge', dataset_uri: 's3://b/d/', output_uri: 's3://b/o/' },
    created_at: '2026-01-01T00:00:00.000Z',
    modified_at: '2026-01-01T00:00:00.000Z',
  };
}

function event(id: string, detail: Partial<TrainingJobStateDetail>) {
  return {
    version: '0',
    id: `event-${id}-${detail.TrainingJobStatus}`,
    'detail-type': 'SageMaker Training Job State Change' as const,
    source: 'aws.sagemaker',
    account: '000000000000',
    time: '2026-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: {
      TrainingJobName: `percept-${id}`,
      TrainingJobStatus: 'InProgress',
      Tags: { 'percept:app-id': 'main', 'percept:model-id': 'pets', 'percept:version-id': id },
      ...detail,
    },
  };
}

/** Uploads a model.tar.gz holding the given files and returns its s3:// URI. */
async function uploadArchive(name: string, files: Record<string, string>): Promise<string> {
  const dir = path.join(scratch, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    writeFileSync(path.join(dir, file), content);
  }
  const archive = path.join(scratch, `${name}.tar.gz`);
  await create({ gzip: true, file: archive, cwd: dir }, Object.keys(files));
  const key = `training/main/pets/${name}/output/model.tar.gz`;
  const s3 = localS3Client(stack);
  await s3.send(new PutObjectCommand({ Bucket: stack.bucketName, Key: key, Body: readFileSync(archive) }));
  s3.destroy();
  return `s3://${stack.bucketName}/${key}`;
}

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
});

afterAll(async () => {
  await stack?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('job state handler', () => {
  it('ignores a late in-progress event', async () => {
    await putDeepVersion({ ...version('a1'), status: TrainingStatus.training() });
    const uri = await uploadArchive('a1', { 'metrics.json': 'not json', 'manifest.json': '{}' });
    await handler(event('a1', { TrainingJobStatus: 'Completed', ModelArtifacts: { S3ModelArtifacts: uri } }));

    const late = await handler(event('a1', { TrainingJobStatus: 'InProgress' }));

    expect(late).toEqual({ outcome: 'ignored' });
    expect((await getDeepVersion('main', 'pets', 'a1')).status.code).toBe(21106);
  });

  it('fails a completed job without metrics', async () => {
    await putDeepVersion(version('b2'));
    const uri = await uploadArchive('b2', { 'manifest.json': '{}' });

    const result = await handler(event('b2', { TrainingJobStatus: 'Completed', ModelArtifacts: { S3ModelArtifacts: uri } }));

    const stored = await getDeepVersion('main', 'pets', 'b2');
    expect(result).toEqual({ outcome: 'failed' });
    expect(stored.status.error_code).toBe('MODEL_TRAINING_FAILED');
    expect(stored.status.details).toBe(
      `The training job percept-b2 completed, but its model could not be deployed: ${uri} has no metrics.json; the training script must write it into SM_MODEL_DIR.`,
    );
  });

  it('records a stopped job', async () => {
    await putDeepVersion(version('c3'));

    const started = await handler(event('c3', { TrainingJobStatus: 'InProgress' }));
    const stopped = await handler(event('c3', { TrainingJobStatus: 'Stopped', FailureReason: 'MaxRuntimeExceeded: the job ran longer than 14400 seconds.' }));

    const stored = await getDeepVersion('main', 'pets', 'c3');
    expect(started).toEqual({ outcome: 'training' });
    expect(stopped).toEqual({ outcome: 'failed' });
    expect(stored.status).toEqual({
      code: 21106,
      description: 'Model training failed',
      details: 'MaxRuntimeExceeded: the job ran longer than 14400 seconds.',
      error_code: 'MODEL_TRAINING_FAILED',
    });
  });

  it('ignores a job without percept tags', async () => {
    const result = await handler({ ...event('d4', {}), detail: { TrainingJobName: 'percept-d4', TrainingJobStatus: 'Completed', Tags: {} } });

    expect(result).toEqual({ outcome: 'ignored' });
  });

  it('ignores a job of another version', async () => {
    await putDeepVersion(version('e5'));

    const result = await handler(event('e5', { TrainingJobName: 'percept-other', TrainingJobStatus: 'InProgress' }));

    expect(result).toEqual({ outcome: 'ignored' });
    expect((await getDeepVersion('main', 'pets', 'e5')).status.code).toBe(21103);
  });
});
