import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { IMAGES_DIR, callApi, waitForInput } from './helpers.ts';

let stack: LocalStack;

type Image = ReturnType<typeof sharp>;
type Augmentation = (image: Image, width: number, height: number) => Image;

const PHOTOS = { cat: 'chelsea.jpg', rocket: 'rocket.jpg', coffee: 'coffee.jpg' } as const;
type ConceptId = keyof typeof PHOTOS;
const CONCEPTS = Object.keys(PHOTOS) as ConceptId[];

// Training copies of each photo: the photo, a mirror image, a crop and a brighter copy.
const TRAINING_VARIANTS: Record<string, Augmentation> = {
  plain: (image) => image,
  flipped: (image) => image.flop(),
  cropped: (image, width, height) =>
    image.extract({ left: Math.round(width * 0.1), top: Math.round(height * 0.1), width: Math.round(width * 0.8), height: Math.round(height * 0.8) }),
  bright: (image) => image.modulate({ brightness: 1.25 }),
};

// A copy that no version trains on: mirrored, cropped towards the bottom right and darker.
const unseenVariant: Augmentation = (image, width, height) =>
  image
    .flop()
    .extract({ left: Math.round(width * 0.15), top: Math.round(height * 0.15), width: Math.round(width * 0.8), height: Math.round(height * 0.8) })
    .modulate({ brightness: 0.8 });

async function augment(file: string, variant: Augmentation): Promise<string> {
  const { data, info } = await sharp(path.join(IMAGES_DIR, file)).resize({ width: 320 }).toBuffer({ resolveWithObject: true });
  const bytes = await variant(sharp(data), info.width, info.height).jpeg({ quality: 90 }).toBuffer();
  return bytes.toString('base64');
}

async function createClassifier(id: string, concepts: string[], metadata: Record<string, unknown> = {}) {
  return callApi(stack, 'POST', '/v2/models', {
    model: {
      id,
      model_type_id: 'embedding-classifier',
      output_info: {
        data: { concepts: concepts.map((concept) => ({ id: concept })) },
        output_config: { model_metadata: { embedding_model_id: 'general-image-embedding', ...metadata } },
      },
    },
  });
}

const unseen: Partial<Record<ConceptId, string>> = {};

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });

  const inputs: Array<{ id: string; data: Record<string, unknown> }> = [];
  for (const concept of CONCEPTS) {
    for (const [name, variant] of Object.entries(TRAINING_VARIANTS)) {
      // Each input is a positive of its concept and a negative of the other two.
      const labels = CONCEPTS.map((other) => ({ id: other, value: other === concept ? 1 : 0 }));
      inputs.push({
        id: `${concept}-${name}`,
        data: { image: { base64: await augment(PHOTOS[concept], variant) }, concepts: labels },
      });
    }
    unseen[concept] = await augment(PHOTOS[concept], unseenVariant);
  }
  const added = await callApi(stack, 'POST', '/v2/inputs', { inputs });
  if (added.httpStatus !== 200) {
    throw new Error(`adding the labelled inputs failed: ${JSON.stringify(added.body)}`);
  }
  for (const input of inputs) {
    await waitForInput(stack, input.id);
  }
});

afterAll(async () => {
  await stack?.stop();
});

describe('embedding classifier', () => {
  let versionId: string;

  it('trains a version from labelled inputs', async () => {
    const created = await createClassifier('photos', CONCEPTS);
    expect(created.httpStatus, JSON.stringify(created.body)).toBe(200);
    expect(created.body.model.model_type_id).toBe('embedding-classifier');

    const trained = await callApi(stack, 'POST', '/v2/models/photos/versions', {});

    expect(trained.httpStatus, JSON.stringify(trained.body)).toBe(200);
    const version = trained.body.model.model_version;
    expect(version.id).toMatch(/^[0-9a-f]{32}$/);
    expect(version.status.code).toBe(21100);
    expect(version.total_input_count).toBe(12);
    // The default workflow stored every input's embedding, so none was computed again.
    expect(version.train_info.computed_embedding_count).toBe(0);
    expect(version.train_info.scorers).toEqual(
      CONCEPTS.map((concept) => ({ concept_id: concept, mode: 'logistic', positive_count: 4, negative_count: 8 })),
    );
    versionId = version.id;
  });

  it('reads, lists and reports metrics', async () => {
    const read = await callApi(stack, 'GET', `/v2/models/photos/versions/${versionId}`);
    const listed = await callApi(stack, 'GET', '/v2/models/photos/versions');
    const metrics = await callApi(stack, 'GET', `/v2/models/photos/versions/${versionId}/metrics`);

    expect(read.httpStatus).toBe(200);
    expect(read.body.model_version.status.code).toBe(21100);
    expect(listed.body.model_versions.map((version: any) => version.id)).toEqual([versionId]);
    expect(metrics.httpStatus, JSON.stringify(metrics.body)).toBe(200);
    const evaluation = metrics.body.model_version.metrics;
    expect(evaluation.cross_validation_folds).toBe(4);
    expect(evaluation.metrics_by_class.map((row: any) => [row.concept.id, row.num_pos, row.num_neg])).toEqual([
      ['cat', 4, 8],
      ['rocket', 4, 8],
      ['coffee', 4, 8],
    ]);
    expect(evaluation.summary.top1_accuracy).toBeGreaterThanOrEqual(0.75);
    expect(evaluation.summary.macro_avg_roc_auc).toBeGreaterThanOrEqual(0.75);
    expect(evaluation.confusion_matrix.labels).toEqual(CONCEPTS);
    expect(evaluation.confusion_matrix.matrix.flat().reduce((sum: number, count: number) => sum + count, 0)).toBe(12);
    for (const calibrated of [read.body.model_version.metrics.calibrated_thresholds, evaluation.calibrated_thresholds]) {
      expect(calibrated.map((row: any) => row.concept.id)).toEqual(CONCEPTS);
      for (const row of calibrated) {
        expect(row.method).toBe('best_f1');
        expect(row.threshold).toBeGreaterThan(0);
        expect(row.threshold).toBeLessThan(1);
        expect(row.precision).toBeGreaterThan(0);
        expect(row.recall).toBeGreaterThan(0);
      }
    }
  });

  it('calibrates for a target precision', async () => {
    await createClassifier('photos-precise', CONCEPTS);

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models/photos-precise/versions', { target_precision: 0.9 });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    const version = body.model.model_version;
    expect(version.train_info.target_precision).toBe(0.9);
    const calibrated = version.metrics.calibrated_thresholds;
    expect(calibrated.map((row: any) => row.concept.id)).toEqual(CONCEPTS);
    for (const row of calibrated) {
      expect(row.target_precision).toBe(0.9);
      // A threshold that reaches the target has that precision; else it is the best-F1 fallback.
      expect(row.method === 'best_f1' || row.precision >= 0.9).toBe(true);
      expect(row.threshold).toBeGreaterThan(0);
      expect(row.threshold).toBeLessThan(1);
    }
  });

  it('rejects a target precision above 1', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models/photos-precise/versions', { target_precision: 90 });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_TARGET_PRECISION');
    expect(body.status.details).toContain('target_precision must be a number above 0 and at most 1, got 90.');
  });

  for (const concept of CONCEPTS) {
    it(`predicts ${concept} on an unseen copy`, async () => {
      const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models/photos/outputs', {
        inputs: [{ id: 'unseen', data: { image: { base64: unseen[concept] } } }],
      });

      expect(httpStatus, JSON.stringify(body)).toBe(200);
      const concepts = body.outputs[0].data.concepts;
      expect(concepts.map((scored: any) => scored.id)).toHaveLength(3);
      expect(concepts[0].id).toBe(concept);
      expect(concepts[0].value).toBeGreaterThan(0.5);
      expect(body.outputs[0].model.id).toBe('photos');
    });
  }

  it('predicts with a named version', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', `/v2/models/photos/versions/${versionId}/outputs`, {
      inputs: [{ id: 'unseen', data: { image: { base64: unseen.rocket } } }],
      model: { output_info: { output_config: { max_concepts: 1 } } },
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    expect(body.outputs[0].data.concepts.map((scored: any) => scored.id)).toEqual(['rocket']);
  });

  it('predicts with an older version', async () => {
    const newer = await callApi(stack, 'POST', '/v2/models/photos/versions', {});
    const newerId: string = newer.body.model.model_version.id;

    const { httpStatus, body } = await callApi(stack, 'POST', `/v2/models/photos/versions/${versionId}/outputs`, {
      inputs: [{ id: 'unseen', data: { image: { base64: unseen.cat } } }],
    });

    expect(newerId).not.toBe(versionId);
    expect(httpStatus, JSON.stringify(body)).toBe(200);
    expect(body.outputs[0].data.concepts[0].id).toBe('cat');
  });

  it('runs as a workflow node', async () => {
    const created = await callApi(stack, 'POST', '/v2/workflows', {
      workflows: [{ id: 'photo-concepts', nodes: [{ id: 'classify', model: { id: 'photos' } }] }],
    });
    expect(created.httpStatus, JSON.stringify(created.body)).toBe(200);

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/workflows/photo-concepts/results', {
      inputs: [{ id: 'unseen', data: { image: { base64: unseen.coffee } } }],
    });

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    const output = body.results[0].outputs[0];
    expect(output.model.id).toBe('photos');
    expect(output.data.concepts[0].id).toBe('coffee');
  });

  it('thresholds with calibrated thresholds', async () => {
    const thresholder = await callApi(stack, 'POST', '/v2/models', {
      model: {
        id: 'photos-calibrated',
        model_type_id: 'concept-thresholder',
        output_info: { output_config: { model_metadata: { calibrated_from: { model_id: 'photos' } } } },
      },
    });
    expect(thresholder.httpStatus, JSON.stringify(thresholder.body)).toBe(200);
    const workflow = await callApi(stack, 'POST', '/v2/workflows', {
      workflows: [
        {
          id: 'photo-calibrated',
          nodes: [
            { id: 'classify', model: { id: 'photos' } },
            { id: 'keep', model: { id: 'photos-calibrated' }, node_inputs: [{ node_id: 'classify' }] },
          ],
        },
      ],
    });
    expect(workflow.httpStatus, JSON.stringify(workflow.body)).toBe(200);

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/workflows/photo-calibrated/results', {
      inputs: [{ id: 'unseen', data: { image: { base64: unseen.coffee } } }],
    });
    const versions = await callApi(stack, 'GET', '/v2/models/photos/versions');

    expect(httpStatus, JSON.stringify(body)).toBe(200);
    const outputs = body.results[0].outputs;
    const scored = outputs.find((output: any) => output.model.id === 'photos').data.concepts;
    const kept = outputs.find((output: any) => output.model.id === 'photos-calibrated').data.concepts ?? [];
    // Both nodes use the newest trained version of photos.
    const newest = versions.body.model_versions.find((version: any) => version.status.code === 21100);
    const thresholds = new Map(newest.metrics.calibrated_thresholds.map((row: any) => [row.concept.id, row.threshold]));
    const expected = scored.filter((concept: any) => concept.value >= (thresholds.get(concept.id) as number));
    expect(kept.map((concept: any) => concept.id)).toEqual(expected.map((concept: any) => concept.id));
    expect(kept.map((concept: any) => concept.id)).toContain('coffee');
    expect(kept.length).toBeLessThan(scored.length);
  });

  it('fails training above the input limit', async () => {
    await createClassifier('limited', CONCEPTS);
    process.env.TRAINING_MAX_INPUTS = '5';

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models/limited/versions', {}).finally(() => {
      delete process.env.TRAINING_MAX_INPUTS;
    });

    expect(httpStatus).toBe(200);
    const version = body.model.model_version;
    expect(version.status.code).toBe(21106);
    expect(version.status.error_code).toBe('MODEL_TRAINING_FAILED');
    expect(version.status.details).toContain(
      'Model limited has 12 labelled inputs, more than the 5 that one training request takes, because training runs inside the 30 s API request.',
    );
    expect(version.status.details).toContain('raise TRAINING_MAX_INPUTS');
    expect(version.total_input_count).toBe(12);
    expect(version.train_info.scorers).toEqual([]);
  });

  it('fails training without positives', async () => {
    await createClassifier('with-giraffe', ['cat', 'giraffe']);

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models/with-giraffe/versions', {});
    const versions = await callApi(stack, 'GET', '/v2/models/with-giraffe/versions');
    const predicted = await callApi(stack, 'POST', '/v2/models/with-giraffe/outputs', {
      inputs: [{ id: 'unseen', data: { image: { base64: unseen.cat } } }],
    });

    expect(httpStatus).toBe(200);
    const status = body.model.model_version.status;
    expect(status.code).toBe(21111);
    expect(status.error_code).toBe('MODEL_TRAINING_NO_POSITIVES');
    expect(status.details).toContain('Concepts "giraffe" of model with-giraffe have no positive example.');
    expect(versions.body.model_versions.map((version: any) => version.status.code)).toEqual([21111]);
    expect(predicted.httpStatus).toBe(400);
    expect(predicted.body.status.error_code).toBe('MODEL_NOT_TRAINED');
    expect(predicted.body.status.details).toContain('Model with-giraffe has no trained version.');
  });

  it('uses centroids for few examples', async () => {
    await callApi(stack, 'POST', '/v2/inputs', {
      inputs: [{ id: 'lone-rocket', data: { image: { base64: unseen.rocket }, concepts: [{ id: 'lone', value: 1 }] } }],
    });
    await createClassifier('few', ['lone', 'cat']);

    const { body } = await callApi(stack, 'POST', '/v2/models/few/versions', {});

    // The lone input may still be in its workflow, so its embedding can be computed at training.
    expect(body.model.model_version.status.code).toBe(21100);
    expect(body.model.model_version.train_info.scorers.map((scorer: any) => [scorer.concept_id, scorer.mode])).toEqual([
      ['lone', 'centroid'],
      ['cat', 'logistic'],
    ]);
  });

  it('fails thresholding without calibration', async () => {
    // Version of `few` has no cross-validation metrics, because `lone` has one positive example.
    const thresholder = await callApi(stack, 'POST', '/v2/models', {
      model: {
        id: 'few-calibrated',
        model_type_id: 'concept-thresholder',
        output_info: { output_config: { model_metadata: { calibrated_from: { model_id: 'few' } } } },
      },
    });
    expect(thresholder.httpStatus, JSON.stringify(thresholder.body)).toBe(200);
    await callApi(stack, 'POST', '/v2/workflows', {
      workflows: [
        {
          id: 'few-calibrated',
          nodes: [
            { id: 'classify', model: { id: 'few' } },
            { id: 'keep', model: { id: 'few-calibrated' }, node_inputs: [{ node_id: 'classify' }] },
          ],
        },
      ],
    });

    const { body } = await callApi(stack, 'POST', '/v2/workflows/few-calibrated/results', {
      inputs: [{ id: 'unseen', data: { image: { base64: unseen.cat } } }],
    });

    const status = body.results[0].status;
    expect(status.error_code).toBe('MODEL_NOT_CALIBRATED');
    expect(status.details).toMatch(/Version [0-9a-f]{32} of model few has no calibrated thresholds/);
    expect(status.details).toContain('train a new version with POST /v2/models/few/versions.');
  });

  it('deletes a version', async () => {
    const trained = await callApi(stack, 'POST', '/v2/models/few/versions', {});
    const id = trained.body.model.model_version.id;

    const deleted = await callApi(stack, 'DELETE', `/v2/models/few/versions/${id}`);
    const read = await callApi(stack, 'GET', `/v2/models/few/versions/${id}`);

    expect(deleted.httpStatus).toBe(200);
    expect(read.httpStatus).toBe(404);
    expect(read.body.status.error_code).toBe('MODEL_VERSION_NOT_FOUND');
  });

  it('rejects a detector as embedder', async () => {
    const { httpStatus, body } = await createClassifier('bad-embedder', ['cat'], { embedding_model_id: 'general-object-detection' });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_EMBEDDING_MODEL');
    expect(body.status.details).toContain('Model "general-object-detection" is a visual-detector, not a visual-embedder');
  });

  it('rejects an unknown embedder at creation', async () => {
    const { httpStatus, body } = await createClassifier('no-embedder', ['cat'], { embedding_model_id: 'no-such-embedder' });
    const stored = await callApi(stack, 'GET', '/v2/models/no-embedder');

    expect(stored.httpStatus).toBe(404);
    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('EMBEDDING_MODEL_NOT_FOUND');
    expect(body.status.details).toContain('"no-such-embedder", which is not a visual-embedder of app "main"');
  });

  it('rejects versions of an operator', async () => {
    await callApi(stack, 'POST', '/v2/models', { model: { id: 'a-crop', model_type_id: 'image-crop' } });

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models/a-crop/versions', {});

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('MODEL_NOT_TRAINABLE');
    expect(body.status.details).toContain('Model a-crop has type image-crop, which has no trained versions.');
  });
});
