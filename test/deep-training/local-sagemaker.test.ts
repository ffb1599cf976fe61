/**
 * The local SageMaker's responses that the local stack test does not reach: a Python without
 * PyTorch, and InvokeEndpoint calls that SageMaker rejects. Also the training source archive
 * and the model.tar.gz reader.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateEndpointCommand, CreateEndpointConfigCommand, CreateTrainingJobCommand, SageMakerClient } from '@aws-sdk/client-sagemaker';
import { InvokeEndpointCommand, SageMakerRuntimeClient } from '@aws-sdk/client-sagemaker-runtime';
import { list } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readTarMembers } from '#commons/deep-training/artifacts.ts';
import { trainingSourceFiles, writeTrainingSourceArchive } from '#commons/deep-training/source-archive.ts';
import { type LocalSageMaker, startLocalSageMaker } from '../../local/sagemaker.ts';

// Nothing listens on port 9 of 127.0.0.1: these tests never reach S3 or EventBridge.
const UNUSED_ENDPOINT = 'http://127.0.0.1:9';
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

let sageMaker: LocalSageMaker;
let control: SageMakerClient;
let runtime: SageMakerRuntimeClient;

beforeAll(async () => {
  sageMaker = await startLocalSageMaker({ s3Endpoint: UNUSED_ENDPOINT, eventBridgeEndpoint: UNUSED_ENDPOINT, python: '/nonexistent/python3' });
  control = new SageMakerClient({ endpoint: sageMaker.endpoint, region: 'us-east-1', credentials });
  runtime = new SageMakerRuntimeClient({ endpoint: sageMaker.endpoint, region: 'us-east-1', credentials });
  await control.send(
    new CreateEndpointConfigCommand({
      EndpointConfigName: 'percept-test',
      ExecutionRoleArn: 'arn:aws:iam::000000000000:role/test',
      ProductionVariants: [{ VariantName: 'AllTraffic', InstanceType: 'ml.g5.xlarge', InitialInstanceCount: 1 }],
    }),
  );
  await control.send(new CreateEndpointCommand({ EndpointName: 'percept-test', EndpointConfigName: 'percept-test' }));
});

afterAll(async () => {
  control?.destroy();
  runtime?.destroy();
  await sageMaker?.stop();
});

describe('local sagemaker', () => {
  it('names the fix when torch is missing', async () => {
    const error = await control
      .send(
        new CreateTrainingJobCommand({
          TrainingJobName: 'percept-no-torch',
          RoleArn: 'arn:aws:iam::000000000000:role/test',
          AlgorithmSpecification: { TrainingImage: 'local', TrainingInputMode: 'File' },
          OutputDataConfig: { S3OutputPath: 's3://bucket/output/' },
          ResourceConfig: { InstanceType: 'ml.g5.xlarge', InstanceCount: 1, VolumeSizeInGB: 30 },
          StoppingCondition: { MaxRuntimeInSeconds: 60 },
        }),
      )
      .catch((caught: unknown) => caught as Error);

    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).toBe('ValidationException');
    expect((error as Error).message).toContain('/nonexistent/python3 could not be run');
    expect((error as Error).message).toContain('npm run setup:deep-training');
    expect(sageMaker.trainingJobs()).toEqual([]);
  });

  it('requires the inference component header', async () => {
    const error = await runtime
      .send(new InvokeEndpointCommand({ EndpointName: 'percept-test', ContentType: 'application/json', Body: Buffer.from('{}') }))
      .catch((caught: unknown) => caught as Error);

    expect((error as Error).name).toBe('ValidationError');
    expect((error as Error).message).toBe(
      'Inference Component Name header is required for endpoints to which you plan to deploy inference components.',
    );
  });

  it('rejects an unknown endpoint', async () => {
    const error = await runtime
      .send(new InvokeEndpointCommand({ EndpointName: 'percept-missing', InferenceComponentName: 'x', ContentType: 'application/json', Body: Buffer.from('{}') }))
      .catch((caught: unknown) => caught as Error);

    expect((error as Error).name).toBe('ValidationError');
    expect((error as Error).message).toBe('Endpoint percept-missing of account 000000000000 not found.');
  });
});

describe('training source archive', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'percept-source-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('packs sources without bytecode', async () => {
    const source = path.join(dir, 'source');
    mkdirSync(path.join(source, 'pkg', '__pycache__'), { recursive: true });
    writeFileSync(path.join(source, 'train.py'), 'print("train")\n');
    writeFileSync(path.join(source, 'pkg', '__init__.py'), '');
    writeFileSync(path.join(source, 'pkg', '__pycache__', '__init__.cpython-311.pyc'), 'bytecode');
    const archive = path.join(dir, 'source.tar.gz');

    writeTrainingSourceArchive(source, archive);

    const entries: string[] = [];
    await list({ file: archive, onReadEntry: (entry) => entries.push(entry.path) });
    expect(trainingSourceFiles(source)).toEqual(['pkg/__init__.py', 'train.py']);
    expect(entries).toEqual(['pkg/__init__.py', 'train.py']);
  });

  it('reads members of the archive', async () => {
    const archive = path.join(dir, 'source.tar.gz');

    const members = await readTarMembers(readFileSync(archive), ['train.py', 'missing.json']);

    expect([...members.keys()]).toEqual(['train.py']);
    expect(members.get('train.py')?.toString('utf8')).toBe('print("train")\n');
  });
});
