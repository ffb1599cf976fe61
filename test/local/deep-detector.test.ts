/**
 * Deep training of a visual-detector on the local stack, over HTTP as a Clarifai client calls
 * it: photos labelled with boxes through POST /v2/annotations, a detector version trained by
 * sagemaker/training/train.py (SSDlite), its metrics, and predictions with regions through
 * the local endpoint process. Needs python3-torch and python3-torchvision
 * (`npm run setup:deep-training`).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { VARIANTS, addInputs, deepModelRequest, photoVariant, unseenVariant } from './deep-training-helpers.ts';
import { callApi, useLocalStack, waitForDeployment, waitForVersion } from './helpers.ts';

interface Box {
  top_row: number;
  left_col: number;
  bottom_row: number;
  right_col: number;
}

// Boxes drawn by hand on the fixture photos and checked by drawing them on the images: the
// cat's head, the espresso cup, the astronaut's face and the shuttle model behind her, and
// the launcher on its pad.
const PHOTOS: Record<string, Array<{ concept: string; box: Box }>> = {
  'chelsea.jpg': [{ concept: 'cat', box: { top_row: 0.08, left_col: 0.12, bottom_row: 0.96, right_col: 0.84 } }],
  'coffee.jpg': [{ concept: 'cup', box: { top_row: 0.03, left_col: 0.28, bottom_row: 0.68, right_col: 0.7 } }],
  'astronaut.jpg': [
    { concept: 'face', box: { top_row: 0.145, left_col: 0.335, bottom_row: 0.355, right_col: 0.545 } },
    { concept: 'rocket', box: { top_row: 0, left_col: 0.7, bottom_row: 0.55, right_col: 0.9 } },
  ],
  'rocket.jpg': [{ concept: 'rocket', box: { top_row: 0.29, left_col: 0.47, bottom_row: 0.94, right_col: 0.535 } }],
};
const CONCEPTS = ['cat', 'cup', 'face', 'rocket'];

// Tiny settings so that CPU training takes seconds: 96-pixel inputs, 60 epochs. A detector
// trained from scratch on 12 images this way learns where the boxes tend to be more than what
// is in them. It still scores a few anchors above the manifest's score threshold of 0.3 (about
// 0.4 to 0.7 in trial runs), so predictions have regions. The test checks the pipeline, not accuracy.
const TINY_DETECTOR = {
  template: 'detection-ssdlite-mobilenet-v3',
  image_size: 96,
  epochs: 60,
  learning_rate: 0.005,
  batch_size: 4,
  holdout_fraction: 0.25,
};

function mirror(box: Box): Box {
  return { ...box, left_col: 1 - box.right_col, right_col: 1 - box.left_col };
}

function detectorModel(id: string, concepts: readonly string[], params: Record<string, unknown> = TINY_DETECTOR) {
  return deepModelRequest(id, 'visual-detector', concepts, params);
}

const unseen: string[] = [];

const local = useLocalStack(async (stack) => {
  const inputs: Array<{ id: string; data: Record<string, unknown> }> = [];
  const annotations: unknown[] = [];
  for (const [file, objects] of Object.entries(PHOTOS)) {
    for (const [name, { transform, mirrored }] of Object.entries(VARIANTS)) {
      const id = `${path.parse(file).name}-${name}`;
      inputs.push({ id, data: { image: { base64: await photoVariant(file, transform) } } });
      for (const { concept, box } of objects) {
        const bounding_box = mirrored ? mirror(box) : box;
        annotations.push({ input_id: id, data: { regions: [{ region_info: { bounding_box }, data: { concepts: [{ id: concept, value: 1 }] } }] } });
      }
    }
    unseen.push(await unseenVariant(file));
  }
  // A box of a concept on one input only, for the error test below.
  annotations.push({
    input_id: 'chelsea-plain',
    data: { regions: [{ region_info: { bounding_box: { top_row: 0.3, left_col: 0.3, bottom_row: 0.5, right_col: 0.5 } }, data: { concepts: [{ id: 'eye', value: 1 }] } }] },
  });

  await addInputs(stack, inputs);
  const labelled = await callApi(stack, 'POST', '/v2/annotations', { annotations });
  if (labelled.httpStatus !== 200) {
    throw new Error(`labelling the boxes failed: ${JSON.stringify(labelled.body)}`);
  }
  await stack.idle();
});

describe('deep detector', () => {
  let versionId: string;

  it('trains on labelled boxes', async () => {
    const created = await callApi(local.stack, 'POST', '/v2/models', detectorModel('objects-deep', CONCEPTS));
    expect(created.httpStatus, JSON.stringify(created.body)).toBe(200);
    expect(created.body.model.model_type_id).toBe('visual-detector');
    expect(created.body.model.train_info.params).toMatchObject({ ...TINY_DETECTOR, backbone: 'ssdlite320_mobilenet_v3_large' });

    const started = await callApi(local.stack, 'POST', '/v2/models/objects-deep/versions', {});
    expect(started.httpStatus, JSON.stringify(started.body)).toBe(200);
    const queued = started.body.model.model_version;
    versionId = queued.id;
    expect(queued.status.code).toBe(21103);
    expect(queued.total_input_count).toBe(16);
    expect(queued.train_info.positive_counts).toEqual([
      { concept_id: 'cat', positive_count: 4 },
      { concept_id: 'cup', positive_count: 4 },
      { concept_id: 'face', positive_count: 4 },
      { concept_id: 'rocket', positive_count: 8 },
    ]);

    const finished = await waitForVersion(local.stack, 'objects-deep', versionId, { timeoutMs: 150_000 });
    expect(finished.status.code, JSON.stringify(finished.status)).toBe(21100);
    const deployed = await waitForDeployment(local.stack, 'objects-deep', versionId);
    expect(deployed.deployment.status, JSON.stringify(deployed.deployment)).toBe('InService');
    // Training and deployment took 29 to 45 s on a 2-core machine shared with other test runs.
  }, 240_000);

  it('reports held-out metrics', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'GET', `/v2/models/objects-deep/versions/${versionId}/metrics`);

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    const metrics = body.model_version.metrics;
    expect(metrics.metrics_by_class.map((row: any) => row.concept.id)).toEqual(CONCEPTS);
    for (const row of metrics.metrics_by_class) {
      // Each concept keeps at least one labelled box in the held-out split.
      expect(row.num_pos).toBeGreaterThanOrEqual(1);
      expect(row.precision).toBeGreaterThanOrEqual(0);
      expect(row.recall).toBeLessThanOrEqual(1);
    }
    expect(metrics.cross_validation_folds).toBe(1);
    expect(metrics.confusion_matrix.labels).toEqual(CONCEPTS);
  });

  it('predicts regions through the endpoint', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models/objects-deep/outputs', {
      inputs: unseen.map((base64, index) => ({ id: `unseen-${index}`, data: { image: { base64 } } })),
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    expect(body.outputs).toHaveLength(unseen.length);
    for (const output of body.outputs) {
      expect(output.model.id).toBe('objects-deep');
      const regions = output.data.regions as Array<Record<string, any>>;
      expect(regions.length, JSON.stringify(output.data)).toBeGreaterThan(0);
      for (const region of regions) {
        const box = region.region_info.bounding_box as Box;
        for (const side of Object.values(box)) {
          expect(side).toBeGreaterThanOrEqual(0);
          expect(side).toBeLessThanOrEqual(1);
        }
        expect(box.top_row).toBeLessThan(box.bottom_row);
        expect(box.left_col).toBeLessThan(box.right_col);
        const [concept] = region.data.concepts;
        expect(CONCEPTS).toContain(concept.id);
        // The manifest's score threshold of train.py's detector.
        expect(concept.value).toBeGreaterThanOrEqual(0.3);
        expect(concept.value).toBeLessThanOrEqual(1);
      }
    }
  });
});

describe('deep detector workflow', () => {
  it('runs as a workflow node', async () => {
    const created = await callApi(local.stack, 'POST', '/v2/workflows', {
      workflows: [{ id: 'find-objects', nodes: [{ id: 'detect', model: { id: 'objects-deep' } }] }],
    });
    expect(created.httpStatus, JSON.stringify(created.body)).toBe(200);

    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/workflows/find-objects/results', {
      inputs: [{ id: 'unseen', data: { image: { base64: unseen[0] } } }],
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    const [output] = body.results[0].outputs;
    expect(output.model.id).toBe('objects-deep');
    expect(output.data.regions.length).toBeGreaterThan(0);
    expect(CONCEPTS).toContain(output.data.regions[0].data.concepts[0].id);
  });
});

describe('deep detector errors', () => {
  it('rejects a concept boxed on one input', async () => {
    await callApi(local.stack, 'POST', '/v2/models', detectorModel('cat-eyes', ['cat', 'eye']));

    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models/cat-eyes/versions', {});

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('MODEL_TRAINING_TOO_FEW_REGIONS');
    expect(body.status.details).toBe(
      'Concepts "eye" (1) of model cat-eyes have labelled boxes on fewer than 2 inputs (the number in brackets). A detector needs boxes of each concept on at least 2 inputs, one to train on and one to evaluate on. Label more boxes with POST /v2/annotations, then train again.',
    );
  });

  it('rejects a detector without boxes', async () => {
    await callApi(local.stack, 'POST', '/v2/models', detectorModel('sky-finder', ['sky']));

    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models/sky-finder/versions', {});

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('MODEL_TRAINING_NO_DATA');
    expect(body.status.details).toBe(
      'No input of app "main" has a box labelled with a concept of model sky-finder (sky) with value 1. Label boxes with POST /v2/annotations, then train again.',
    );
  });

  it('rejects a classifier template', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models', detectorModel('wrong-template', CONCEPTS, { template: 'classification-resnet18' }));

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_TRAINING_TEMPLATE');
    expect(body.status.details).toBe('Template classification-resnet18 trains a visual-classifier, not a visual-detector. Choose a template of this model type.');
  });

  it('rejects a classifier backbone', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models', detectorModel('wrong-backbone', CONCEPTS, { ...TINY_DETECTOR, backbone: 'resnet18' }));

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_BACKBONE');
    expect(body.status.details).toBe(
      'model.train_info.params.backbone "resnet18" is not a supported network. Use one of ssdlite320_mobilenet_v3_large for a visual-detector.',
    );
  });

  it('rejects a classifier template for a version', async () => {
    const { httpStatus, body } = await callApi(local.stack, 'POST', '/v2/models/objects-deep/versions', {
      model_versions: [{ train_info: { params: { template: 'classification-mobilenet-v3-small' } } }],
    });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_TRAINING_TEMPLATE');
    expect(body.status.details).toBe(
      'model_versions[0].train_info.params.template classification-mobilenet-v3-small trains a visual-classifier, but this model is a visual-detector. Choose a template of the model\'s type.',
    );
  });
});
