/**
 * Deep training on the local stack, over HTTP as a Clarifai client calls it: labelled photos,
 * a deep-training visual-classifier, a version trained by sagemaker/training/train.py, its
 * metrics, and predictions through the local endpoint process of sagemaker/serving/server.ts.
 * The local SageMaker runs the script with /usr/bin/python3 and PyTorch on CPU, so the file
 * needs python3-torch and python3-torchvision (`npm run setup:deep-training`).
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { SageMakerClient, UpdateInferenceComponentRuntimeConfigCommand } from '@aws-sdk/client-sagemaker';
import { describe, expect, it } from 'vitest';
import { VARIANTS, addInputs, deepModelRequest, photoVariant, unseenVariant } from './deep-training-helpers.ts';
import { callApi, localS3Client, useLocalStack, waitForDeployment, waitForVersion } from './helpers.ts';

const PHOTOS = { cat: 'chelsea.jpg', rocket: 'rocket.jpg', coffee: 'coffee.jpg' } as const;
type ConceptId = keyof typeof PHOTOS;
const CONCEPTS = Object.keys(PHOTOS) as ConceptId[];

// Tiny settings so that CPU training takes seconds: 64-pixel inputs, 3 epochs.
const TINY_TRAINING = { template: 'classification-mobilenet-v3-small', image_size: 64, epochs: 3, batch_size: 4, holdout_fraction: 0.25 };

function deepModel(id: string, concepts: readonly string[], params: Record<string, unknown> = TINY_TRAINING) {
  return deepModelRequest(id, 'visual-classifier', concepts, params);
}

const unseen: Partial<Record<ConceptId, string>> = {};

const local = useLocalStack(async (stack) => {
  const inputs: Array<{ id: string; data: Record<string, unknown> }> = [];
  for (const concept of CONCEPTS) {
    for (const [name, { transform }] of Object.entries(VARIANTS)) {
      const labels = CONCEPTS.map((other) => ({ id: other, value: other === concept ? 1 : 0 }));
      inputs.push({ id: `${concept}-${name}`, data: { image: { base64: await photoVariant(PHOTOS[concept], transform) }, concepts: labels } });
    }
    unseen[concept] = await unseenVariant(PHOTOS[concept]);
  }
  // Two inputs of a model whose images are deleted below, so that its training job fails.
  for (const concept of ['left', 'right']) {
    inputs.push({ id: `broken-${concept}`, data: { image: { base64: await photoVariant('camera.jpg', (image) => image) }, concepts: [{ id: concept, value: 1 }] } });
  }
  await addInputs(stack, inputs);
  await stack.idle();
});

describe('deep training', () => {
  let versionId: string;

  it('trains, deploys and reports metrics', async () => {
    const created = await callApi(local.stack, 'POST', '/v2/models', deepModel('photos-deep', CONCEPTS));
    expect(created.httpStatus, JSON.stringify(created.body)).toBe(200);
    expect(created.body.model.train_info.params).toMatchObject({ ...TINY_TRAINING, backbone: 'mobilenet_v3_small', augmentation: 'light' });

    const started = await callApi(local.stack, 'POST', '/v2/models/photos-deep/versions', {
      model_versions: [{ train_info: { params: { epochs: 2 } } }],
    });
    expect(started.httpStatus, JSON.stringify(started.body)).toBe(200);
    const queued = started.body.model.model_version;
    versionId = queued.id;
    expect(queued.status.code).toBe(21103);
    expect(queued.total_input_count).toBe(12);
    expect(queued.train_info.params.epochs).toBe(2);
    expect(queued.train_info.training_job.name).toBe(`percept-${versionId}`);

    const finished = await waitForVersion(local.stack, 'photos-deep', versionId, { timeoutMs: 75_000 });
    expect(finished.status.code, JSON.stringify(finished.status)).toBe(21100);
    expect(finished.deployment.inference_component_name).toBe(`percept-${versionId}`);
    const deployed = await waitForDeployment(local.stack, 'photos-deep', versionId);
    expect(deployed.deployment.status, JSON.stringify(deployed.deployment)).toBe('InService');
    expect(deployed.deployment.current_copy_count).toBe(1);
    const jobEvents = local.stack
      .events()
      .filter((event) => event.source === 'aws.sagemaker' && event.detail.TrainingJobName === `percept-${versionId}`);
    expect(jobEvents.map((event) => event.detail.TrainingJobStatus)).toEqual(['InProgress', 'Completed']);

    const metrics = await callApi(local.stack, 'GET', `/v2/models/photos-deep/versions/${versionId}/metrics`);
    expect(metrics.httpStatus, JSON.stringify(metrics.body)).toBe(200);
    const evaluation = metrics.body.model_version.metrics;
    expect(evaluation.metrics_by_class.map((row: any) => row.concept.id)).toEqual(CONCEPTS);
    expect(evaluation.summary.top1_accuracy).toBeGreaterThanOrEqual(0);
    expect(evaluation.summary.top1_accuracy).toBeLessThanOrEqual(1);
    expect(evaluation.confusion_matrix.labels).toEqual(CONCEPTS);
  });

  it('predicts through the endpoint', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models/photos-deep/outputs', {
      inputs: CONCEPTS.map((concept) => ({ id: `unseen-${concept}`, data: { image: { base64: unseen[concept] } } })),
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    expect(body.outputs).toHaveLength(3);
    for (const output of body.outputs) {
      expect(output.model.id).toBe('photos-deep');
      const concepts = output.data.concepts as Array<{ id: string; value: number }>;
      expect(concepts.map((concept) => concept.id).sort()).toEqual([...CONCEPTS].sort());
      for (const concept of concepts) {
        expect(concept.value).toBeGreaterThanOrEqual(0);
        expect(concept.value).toBeLessThanOrEqual(1);
      }
    }
  });

  it('predicts with a named version', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'POST', `/v2/models/photos-deep/versions/${versionId}/outputs`, {
      inputs: [{ id: 'unseen', data: { image: { base64: unseen.rocket } } }],
      model: { output_info: { output_config: { max_concepts: 1 } } },
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    expect(body.outputs[0].data.concepts).toHaveLength(1);
  });

  it('runs as a workflow node', async () => {
    const created = await callApi(local.stack, 'POST', '/v2/workflows', {
      workflows: [{ id: 'deep-photos', nodes: [{ id: 'classify', model: { id: 'photos-deep' } }] }],
    });
    expect(created.httpStatus, JSON.stringify(created.body)).toBe(200);

    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/workflows/deep-photos/results', {
      inputs: [{ id: 'unseen', data: { image: { base64: unseen.cat } } }],
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    const [output] = body.results[0].outputs;
    expect(output.model.id).toBe('photos-deep');
    expect(output.data.concepts.map((concept: any) => concept.id).sort()).toEqual([...CONCEPTS].sort());
  });

  it('wakes a version scaled to zero', async () => {
    const sageMaker = new SageMakerClient({ endpoint: local.stack.sageMakerEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    await sageMaker.send(
      new UpdateInferenceComponentRuntimeConfigCommand({ InferenceComponentName: `percept-${versionId}`, DesiredRuntimeConfig: { CopyCount: 0 } }),
    );
    sageMaker.destroy();
    const request = { inputs: [{ id: 'unseen', data: { image: { base64: unseen.coffee } } }] };

    const cold = await callApi(local.stack, 'POST', '/v2/models/photos-deep/outputs', request);
    const woken = await waitForDeployment(local.stack, 'photos-deep', versionId);
    const warm = await callApi(local.stack, 'POST', '/v2/models/photos-deep/outputs', request);

    expect(cold.httpStatus).toBe(503);
    expect(cold.body.status.error_code).toBe('MODEL_ENDPOINT_SCALED_TO_ZERO');
    expect(cold.body.status.details).toBe(
      `Inference component percept-${versionId} had scaled to zero copies and is starting one now. Retry in a few minutes.`,
    );
    expect(woken.deployment).toMatchObject({ status: 'InService', desired_copy_count: 1, current_copy_count: 1 });
    expect(warm.httpStatus, JSON.stringify(warm.body)).toBe(200);
  });

  it('deletes a version and its deployment', async () => {
    const deleted = await callApi(local.stack, 'DELETE', `/v2/models/photos-deep/versions/${versionId}`);
    const read = await callApi(local.stack, 'GET', `/v2/models/photos-deep/versions/${versionId}`);
    const predicted = await callApi(local.stack, 'POST', '/v2/models/photos-deep/outputs', { inputs: [{ data: { image: { base64: unseen.cat } } }] });

    expect(deleted.httpStatus, JSON.stringify(deleted.body)).toBe(200);
    expect(read.httpStatus).toBe(404);
    expect(predicted.httpStatus).toBe(400);
    expect(predicted.body.status.error_code).toBe('MODEL_NOT_TRAINED');
  });

  it('fails a version whose images are gone', async () => {
    await callApi(local.stack, 'POST', '/v2/models', deepModel('broken-deep', ['left', 'right']));
    const s3 = localS3Client(local.stack);
    await s3.send(new DeleteObjectCommand({ Bucket: local.stack.bucketName, Key: 'uploads/main/broken-left' }));
    s3.destroy();

    const started = await callApi(local.stack, 'POST', '/v2/models/broken-deep/versions', {});
    expect(started.httpStatus, JSON.stringify(started.body)).toBe(200);
    const finished = await waitForVersion(local.stack, 'broken-deep', started.body.model.model_version.id, { timeoutMs: 75_000 });

    expect(finished.status.code).toBe(21106);
    expect(finished.status.error_code).toBe('MODEL_TRAINING_FAILED');
    expect(finished.status.details).toContain('ClientError');
    expect(finished.status.details).toContain('uploads/main/broken-left');
  });
});

describe('deep training errors', () => {
  it('rejects an unknown template', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models', deepModel('unknown-template', CONCEPTS, { template: 'alexnet' }));

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_TRAINING_TEMPLATE');
    expect(body.status.details).toContain('model.train_info.params.template "alexnet" is not a deep-training template.');
  });

  it('rejects an unknown backbone', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models', deepModel('unknown-backbone', CONCEPTS, { ...TINY_TRAINING, backbone: 'vgg16' }));

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_BACKBONE');
    expect(body.status.details).toContain('model.train_info.params.backbone "vgg16" is not a supported network.');
  });

  it('rejects zero epochs', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models', deepModel('zero-epochs', CONCEPTS, { ...TINY_TRAINING, epochs: 0 }));

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_TRAINING_PARAMETER');
    expect(body.status.details).toBe('model.train_info.params.epochs must be a whole number from 1 to 1000, got 0.');
  });

  it('rejects a concept without positives', async () => {
    await callApi(local.stack, 'POST', '/v2/models', deepModel('with-dog', ['cat', 'dog']));

    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models/with-dog/versions', {});

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('MODEL_TRAINING_NO_POSITIVES');
    expect(body.status.details).toContain('Concepts "dog" of model with-dog have no positive example.');
  });

  it('rejects a model without labelled inputs', async () => {
    await callApi(local.stack, 'POST', '/v2/models', deepModel('unlabelled', ['sky', 'sea']));

    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models/unlabelled/versions', {});

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('MODEL_TRAINING_NO_DATA');
    expect(body.status.details).toContain('No input of app "main" is labelled with a concept of model unlabelled (sky, sea)');
  });

  it('rejects a bad version override', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models/photos-deep/versions', {
      model_versions: [{ train_info: { params: { learning_rate: -1 } } }],
    });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_TRAINING_PARAMETER');
    expect(body.status.details).toBe('model_versions[0].train_info.params.learning_rate must be a number above 0 and at most 1, got -1.');
  });

  it('rejects metrics of an unknown version', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'GET', '/v2/models/photos-deep/versions/0123456789abcdef0123456789abcdef/metrics');

    expect(httpStatus).toBe(404);
    expect(body.status.error_code).toBe('MODEL_VERSION_NOT_FOUND');
  });
});
