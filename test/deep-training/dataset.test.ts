/** The dataset export of labelled inputs and the training job request built from it. */
import { describe, expect, it } from 'vitest';
import { PerceptError } from '#commons/errors.ts';
import { buildDataset, imagesManifest, trainingKeys } from '#commons/deep-training/dataset.ts';
import { resolveTrainingParams } from '#commons/deep-training/params.ts';
import { manifestModelId, readVersionOverrides, trainingJobRequest } from '#commons/deep-training/training-job.ts';
import type { InputConcept, InputRecord } from '#commons/storage/inputs.ts';

const CONCEPTS = [
  { id: 'cat', name: 'Cat' },
  { id: 'dog', name: 'Dog' },
];

function input(id: string, labels: Array<[string, 0 | 1]>, overrides: Partial<InputRecord> = {}): InputRecord {
  const concepts: InputConcept[] = labels.map(([conceptId, value]) => ({ id: conceptId, name: conceptId, value }));
  return {
    app_id: 'main',
    id,
    created_at: '2026-01-01T00:00:00.000Z',
    modified_at: '2026-01-01T00:00:00.000Z',
    image: { bucket: 'percept-bucket', key: `uploads/main/${id}` },
    concepts,
    status: { code: 30000, description: 'Download complete' },
    source: 'api',
    ...overrides,
  };
}

function rejection(inputs: InputRecord[]): PerceptError {
  try {
    buildDataset('main', 'pets', CONCEPTS, inputs);
  } catch (error) {
    if (error instanceof PerceptError) {
      return error;
    }
    throw error;
  }
  throw new Error('the dataset was accepted');
}

describe('dataset export', () => {
  it('keeps inputs with a positive label', () => {
    const dataset = buildDataset('main', 'pets', CONCEPTS, [
      input('a', [['cat', 1], ['dog', 0]]),
      input('b', [['dog', 1], ['cat', 1]]),
      input('c', [['cat', 0], ['dog', 0]]),
      input('d', [['bird', 1]]),
      input('e', [['dog', 1]], { status: { code: 30002, description: 'Download failed' } }),
    ]);

    expect(dataset.lines).toEqual([
      { input_id: 'a', image: 'uploads/main/a', concepts: ['cat'] },
      { input_id: 'b', image: 'uploads/main/b', concepts: ['cat', 'dog'] },
    ]);
    expect(dataset.concepts).toEqual(CONCEPTS);
    expect(dataset.positives).toEqual({ cat: 2, dog: 1 });
    expect(dataset.imagesBucket).toBe('percept-bucket');
  });

  it('manifest lists keys under the bucket', () => {
    const dataset = buildDataset('main', 'pets', CONCEPTS, [input('a', [['cat', 1]]), input('b', [['dog', 1]])]);

    expect(imagesManifest(dataset)).toEqual([{ prefix: 's3://percept-bucket/' }, 'uploads/main/a', 'uploads/main/b']);
  });

  it('rejects no labelled inputs', () => {
    const error = rejection([input('c', [['cat', 0]])]);

    expect(error.code).toBe('MODEL_TRAINING_NO_DATA');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toBe(
      'No input of app "main" is labelled with a concept of model pets (cat, dog) with value 1. Label inputs with PATCH /v2/inputs, then train again.',
    );
  });

  it('rejects a concept without positives', () => {
    const error = rejection([input('a', [['cat', 1], ['dog', 0]])]);

    expect(error.code).toBe('MODEL_TRAINING_NO_POSITIVES');
    expect(error.message).toBe(
      'Concepts "dog" of model pets have no positive example. Label at least one input with value 1 for each, then train again.',
    );
  });

  it('rejects images in two buckets', () => {
    const error = rejection([
      input('a', [['cat', 1]]),
      input('b', [['dog', 1]], { image: { bucket: 'other-bucket', key: 'uploads/b' } }),
    ]);

    expect(error.code).toBe('TRAINING_IMAGES_IN_SEVERAL_BUCKETS');
    expect(error.message).toContain('are in the buckets percept-bucket, other-bucket');
  });
});

describe('training job request', () => {
  const params = resolveTrainingParams({ template: 'classification-resnet18', epochs: 3 }, 'model.train_info.params');
  const keys = trainingKeys('main', 'Pets_v2', '0123456789abcdef0123456789abcdef');
  const request = trainingJobRequest(
    { app_id: 'main', model_id: 'Pets_v2', id: '0123456789abcdef0123456789abcdef', model_type_id: 'visual-classifier', train_params: params },
    'percept-bucket',
    keys,
    {
      roleArn: 'arn:aws:iam::123456789012:role/training',
      imageUri: '763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5.1-gpu-py311-cu124-ubuntu22.04-sagemaker',
      sourceUri: 's3://assets/source.tar.gz',
      instanceType: 'ml.g5.xlarge',
      maxRuntimeSeconds: 3600,
      volumeSizeGb: 30,
      region: 'us-east-1',
    },
  );

  it('runs the script in script mode', () => {
    expect(request.TrainingJobName).toBe('percept-0123456789abcdef0123456789abcdef');
    expect(request.AlgorithmSpecification).toEqual({
      TrainingImage: '763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.5.1-gpu-py311-cu124-ubuntu22.04-sagemaker',
      TrainingInputMode: 'File',
    });
    expect(request.HyperParameters).toMatchObject({
      sagemaker_program: '"train.py"',
      sagemaker_submit_directory: '"s3://assets/source.tar.gz"',
      sagemaker_region: '"us-east-1"',
      epochs: '3',
      model_id: '"pets-v2"',
    });
    expect(request.ResourceConfig).toEqual({ InstanceType: 'ml.g5.xlarge', InstanceCount: 1, VolumeSizeInGB: 30 });
    expect(request.StoppingCondition).toEqual({ MaxRuntimeInSeconds: 3600 });
  });

  it('reads images by manifest and labels by prefix', () => {
    expect(request.InputDataConfig?.map((channel) => [channel.ChannelName, channel.DataSource?.S3DataSource?.S3DataType, channel.DataSource?.S3DataSource?.S3Uri])).toEqual([
      ['images', 'ManifestFile', 's3://percept-bucket/training/main/Pets_v2/0123456789abcdef0123456789abcdef/manifest/images.manifest'],
      ['labels', 'S3Prefix', 's3://percept-bucket/training/main/Pets_v2/0123456789abcdef0123456789abcdef/dataset/'],
    ]);
    expect(request.OutputDataConfig).toEqual({ S3OutputPath: 's3://percept-bucket/training/main/Pets_v2/0123456789abcdef0123456789abcdef/output/' });
  });

  it('tags the job with its version', () => {
    expect(request.Tags).toEqual([
      { Key: 'percept:app-id', Value: 'main' },
      { Key: 'percept:model-id', Value: 'Pets_v2' },
      { Key: 'percept:version-id', Value: '0123456789abcdef0123456789abcdef' },
    ]);
  });

  it('manifest ids follow the manifest rule', () => {
    expect(manifestModelId('Pets_v2.1')).toBe('pets-v2-1');
    expect(manifestModelId('_x')).toBe('x');
    expect(manifestModelId('___')).toBe('deep-trained-model');
  });

  it('rejects two versions in the request', () => {
    expect(() => readVersionOverrides({ model_versions: [{}, {}] }, params)).toThrow(
      'model_versions must be a list of one version, got [{},{}].',
    );
  });

  it('keeps params without overrides', () => {
    expect(readVersionOverrides({}, params)).toBe(params);
    expect(readVersionOverrides({ model_versions: [{ train_info: { params: { seed: 7 } } }] }, params)).toEqual({ ...params, seed: 7 });
  });
});
