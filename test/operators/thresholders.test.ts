import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Concept, Region } from '#commons/clarifai/types.ts';
import type { CalibratedThreshold } from '#commons/classifier/calibration.ts';
import { TrainingStatus } from '#commons/classifier/status.ts';
import { type ModelVersionRecord, putModelVersion } from '#commons/storage/model-versions.ts';
import type { NodeOutput } from '#commons/workflows/node-data.ts';
import { conceptThresholder } from '../../functions/operators/concept-thresholder/operator.ts';
import { regionThresholder } from '../../functions/operators/region-thresholder/operator.ts';
import { type LocalServices, PAGE_LINES, cropFixture, modelOutput, nodeEvent, readFixture, runOperator, startServices } from './helpers.ts';

let upright: NodeOutput;
let handwriting: NodeOutput;

beforeAll(async () => {
  upright = await modelOutput('orientation', 'ocr-text-orientation', await cropFixture('page.png', PAGE_LINES['heading words']));
  handwriting = await modelOutput('detection', 'ocr-text-detector', await readFixture('text.png'));
});

function conceptValue(output: NodeOutput, id: string): number {
  const concept = output.data.concepts?.find((candidate) => candidate.id === id);
  if (concept === undefined) {
    throw new Error(`The model output has no concept ${id}: ${JSON.stringify(output.data)}`);
  }
  return concept.value;
}

describe('concept-thresholder', () => {
  it('keeps concepts above their threshold', async () => {
    const output = await runOperator(
      conceptThresholder,
      {
        concepts: [
          { id: 'rotation-0', name: 'upright', value: 0.5 },
          { id: 'rotation-180', name: 'upside down', value: 0.5 },
        ],
        model_metadata: { concept_threshold_type: 'GREATER_THAN' },
      },
      nodeEvent(conceptThresholder, { upstream: [upright] }),
    );

    expect(output.data.concepts?.map((concept) => concept.id)).toEqual(['rotation-0']);
    expect(output.data.concepts?.[0]?.value).toBe(conceptValue(upright, 'rotation-0'));
    expect(output.node_id).toBe('concept-thresholder-node');
  });

  // Both concepts are compared with the upright value as threshold: rotation-0 equals it,
  // rotation-180 is far below it.
  it.each([
    ['GREATER_THAN', []],
    ['GREATER_THAN_OR_EQUAL', ['rotation-0']],
    ['EQUAL', ['rotation-0']],
    ['LESS_THAN_OR_EQUAL', ['rotation-0', 'rotation-180']],
    ['LESS_THAN', ['rotation-180']],
  ])('applies %s', async (type, expected) => {
    const threshold = conceptValue(upright, 'rotation-0');

    const output = await runOperator(
      conceptThresholder,
      {
        concepts: [
          { id: 'rotation-0', name: 'upright', value: threshold },
          { id: 'rotation-180', name: 'upside down', value: threshold },
        ],
        model_metadata: { concept_threshold_type: type },
      },
      nodeEvent(conceptThresholder, { upstream: [upright] }),
    );

    expect(output.data.concepts?.map((concept) => concept.id).sort()).toEqual(expected);
  });

  it('reads the type as a Clarifai enum number', async () => {
    // 3 is LESS_THAN in Clarifai's ValueComparator.
    const output = await runOperator(
      conceptThresholder,
      { concepts: [{ id: 'rotation-180', name: 'upside down', value: 0.5 }], model_metadata: { concept_threshold_type: 3 } },
      nodeEvent(conceptThresholder, { upstream: [upright] }),
    );

    expect(output.data.concepts?.map((concept) => concept.id)).toEqual(['rotation-180']);
  });

  it('drops concepts without a threshold', async () => {
    const output = await runOperator(
      conceptThresholder,
      { concepts: [{ id: 'rotation-180', name: 'upside down', value: 0 }], model_metadata: {} },
      nodeEvent(conceptThresholder, { upstream: [upright] }),
    );

    // GREATER_THAN is the default, and rotation-0 has no threshold.
    expect(output.data.concepts?.map((concept) => concept.id)).toEqual(['rotation-180']);
  });

  it('rejects an unknown threshold type', () => {
    expect(() =>
      conceptThresholder.validateParams({ concepts: [{ id: 'text', name: 'text', value: 0.5 }], model_metadata: { concept_threshold_type: 'BIGGER' } }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        statusCode: 21202,
        httpStatus: 400,
        message:
          'Invalid concept-thresholder parameter output_info.output_config.model_metadata.concept_threshold_type: got "BIGGER". ' +
          'Use one of GREATER_THAN (1), GREATER_THAN_OR_EQUAL (2), LESS_THAN (3), LESS_THAN_OR_EQUAL (4), EQUAL (5).',
      }),
    );
  });

  it('rejects a threshold above 1', () => {
    expect(() =>
      conceptThresholder.validateParams({
        concepts: [
          { id: 'rotation-0', name: 'upright', value: 0.5 },
          { id: 'rotation-180', name: 'upside down', value: 1.5 },
        ],
        model_metadata: {},
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid concept-thresholder parameter output_info.data.concepts[1].value: got 1.5. ' +
          'Set it to a number from 0 to 1: the threshold of this concept.',
      }),
    );
  });

  it('rejects an empty concept list', () => {
    expect(() => conceptThresholder.validateParams({ concepts: [], model_metadata: {} })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid concept-thresholder parameter output_info.data.concepts: got []. Add the concepts to keep to ' +
          'output_info.data.concepts, each with its threshold as value, e.g. [{"id": "text", "value": 0.9}].',
      }),
    );
  });

  it('rejects an unknown parameter', () => {
    expect(() =>
      conceptThresholder.validateParams({ concepts: [{ id: 'text', name: 'text', value: 0.5 }], model_metadata: { threshold_type: 'LESS_THAN' } }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid concept-thresholder parameter output_info.output_config.model_metadata.threshold_type: got "LESS_THAN". ' +
          'concept-thresholder has no parameter "threshold_type". Its parameters are: concept_threshold_type.',
      }),
    );
  });

  it('rejects a duplicate concept', () => {
    const concept: Concept = { id: 'text', name: 'text', value: 0.5 };
    expect(() => conceptThresholder.validateParams({ concepts: [concept, concept], model_metadata: {} })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message: 'Invalid concept-thresholder parameter output_info.data.concepts[1].id: got "text". List each concept once.',
      }),
    );
  });
});

describe('concept-thresholder calibrated_from', () => {
  let services: LocalServices;

  // A trained version of model `orientation-check` whose calibrated thresholds are `thresholds`.
  function version(id: string, createdAt: string, thresholds?: Array<[string, number]>): ModelVersionRecord {
    const calibrated: CalibratedThreshold[] | undefined = thresholds?.map(([conceptId, threshold]) => ({
      concept_id: conceptId,
      threshold,
      precision: 1,
      recall: 1,
      method: 'best_f1',
    }));
    return {
      app_id: 'main',
      model_id: 'orientation-check',
      id,
      status: TrainingStatus.trained(),
      embedding_model: { id: 'general-image-embedding', version_id: 'e1' },
      concepts: [],
      scorers: [],
      counts: { inputs: 0, computed_embeddings: 0 },
      ...(calibrated === undefined
        ? {}
        : {
            metrics: {
              folds: 2,
              per_concept: [],
              macro: { precision: 1, recall: 1, f1: 1 },
              top1_accuracy: 1,
              confusion_matrix: { labels: [], matrix: [] },
              calibrated_thresholds: calibrated,
            },
          }),
      created_at: createdAt,
      modified_at: createdAt,
    };
  }

  beforeAll(async () => {
    services = await startServices({ table: true });
    const upright0 = conceptValue(upright, 'rotation-0');
    // The newest version keeps rotation-0 at exactly its value (>=) and no rotation-180;
    // the older one keeps every concept.
    await putModelVersion(version('older', '2026-01-01T00:00:00.000Z', [['rotation-0', 0], ['rotation-180', 0]]));
    await putModelVersion(version('newer', '2026-01-02T00:00:00.000Z', [['rotation-0', upright0], ['rotation-180', 0.9999]]));
    await putModelVersion({ ...version('uncalibrated', '2026-01-01T00:00:00.000Z'), model_id: 'no-metrics' });
  });

  afterAll(async () => {
    await services?.stop();
  });

  it('uses the newest trained version', async () => {
    const output = await runOperator(
      conceptThresholder,
      { model_metadata: { calibrated_from: { model_id: 'orientation-check' } } },
      nodeEvent(conceptThresholder, { upstream: [upright] }),
    );

    expect(output.data.concepts?.map((concept) => concept.id)).toEqual(['rotation-0']);
  });

  it('uses a named version', async () => {
    const output = await runOperator(
      conceptThresholder,
      { model_metadata: { calibrated_from: { model_id: 'orientation-check', version_id: 'older' } } },
      nodeEvent(conceptThresholder, { upstream: [upright] }),
    );

    expect(output.data.concepts?.map((concept) => concept.id).sort()).toEqual(['rotation-0', 'rotation-180']);
  });

  it('fails without calibrated thresholds', async () => {
    const running = runOperator(
      conceptThresholder,
      { model_metadata: { calibrated_from: { model_id: 'no-metrics' } } },
      nodeEvent(conceptThresholder, { upstream: [upright] }),
    );

    await expect(running).rejects.toMatchObject({
      code: 'MODEL_NOT_CALIBRATED',
      httpStatus: 400,
      message: expect.stringContaining('Version uncalibrated of model no-metrics has no calibrated thresholds'),
    });
  });

  it('fails for an untrained model', async () => {
    const running = runOperator(
      conceptThresholder,
      { model_metadata: { calibrated_from: { model_id: 'never-trained' } } },
      nodeEvent(conceptThresholder, { upstream: [upright] }),
    );

    await expect(running).rejects.toMatchObject({
      code: 'MODEL_NOT_TRAINED',
      message: 'Model never-trained has no trained version. Train one with POST /v2/models/never-trained/versions.',
    });
  });

  it.each([
    [
      { model_id: 7 },
      'Invalid concept-thresholder parameter output_info.output_config.model_metadata.calibrated_from.model_id: got 7. ' +
        'Set it to the id of a trained embedding-classifier model.',
    ],
    [
      { model_id: 'photos', version_id: '' },
      'Invalid concept-thresholder parameter output_info.output_config.model_metadata.calibrated_from.version_id: got "". ' +
        "Set it to a version id of that model, or leave it out to use the model's newest trained version.",
    ],
    [
      { model: 'photos' },
      'Invalid concept-thresholder parameter output_info.output_config.model_metadata.calibrated_from: got {"model":"photos"}. ' +
        'It has no field "model". Its fields are model_id and version_id.',
    ],
    [
      'photos',
      'Invalid concept-thresholder parameter output_info.output_config.model_metadata.calibrated_from: got "photos". ' +
        'Send a JSON object: the embedding classifier whose calibrated thresholds to use, e.g. {"model_id": "photos"}.',
    ],
  ])('rejects calibrated_from %j', (calibratedFrom, message) => {
    expect(() => conceptThresholder.validateParams({ concepts: [], model_metadata: { calibrated_from: calibratedFrom } })).toThrow(
      expect.objectContaining({ code: 'INVALID_MODEL_PARAMETER', message }),
    );
  });

  it('rejects concepts with calibrated_from', () => {
    expect(() =>
      conceptThresholder.validateParams({
        concepts: [{ id: 'cat', name: 'cat', value: 0.5 }],
        model_metadata: { calibrated_from: { model_id: 'photos' } },
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message: expect.stringContaining(
          'Invalid concept-thresholder parameter output_info.data.concepts: got [{"id":"cat","name":"cat","value":0.5}]. ' +
            'With output_info.output_config.model_metadata.calibrated_from the thresholds come from the classifier version',
        ),
      }),
    );
  });

  it('rejects another comparison with calibrated_from', () => {
    expect(() =>
      conceptThresholder.validateParams({
        concepts: [],
        model_metadata: { calibrated_from: { model_id: 'photos' }, concept_threshold_type: 'GREATER_THAN' },
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid concept-thresholder parameter output_info.output_config.model_metadata.concept_threshold_type: got "GREATER_THAN". ' +
          'Calibrated thresholds keep a concept whose value is greater than or equal to them, so use GREATER_THAN_OR_EQUAL (2) or leave it out.',
      }),
    );
  });
});

describe('region-thresholder', () => {
  it('keeps confident text regions only', async () => {
    const regions = handwriting.data.regions ?? [];
    const confident = regions.filter((region) => (region.data.concepts[0]?.value ?? 0) > 0.975);
    // The handwriting has lines on both sides of the threshold (see the OCR tests).
    expect(confident.length).toBeGreaterThan(0);
    expect(confident.length).toBeLessThan(regions.length);

    const output = await runOperator(
      regionThresholder,
      { concepts: [{ id: 'text', name: 'text', value: 0.975 }], model_metadata: { concept_threshold_type: 'GREATER_THAN' } },
      nodeEvent(regionThresholder, { upstream: [handwriting] }),
    );

    expect(output.data.regions?.map((region) => region.id)).toEqual(confident.map((region) => region.id));
    expect(output.data.regions?.[0]?.region_info).toEqual(confident[0]?.region_info);
  });

  it('drops regions left without concepts', async () => {
    const twoConcepts: Region = {
      id: 'both',
      region_info: { bounding_box: { top_row: 0.1, left_col: 0.1, bottom_row: 0.2, right_col: 0.3 } },
      data: {
        concepts: [
          { id: 'text', name: 'text', value: 0.9 },
          { id: 'logo', name: 'logo', value: 0.2 },
        ],
      },
    };
    const detected = { ...handwriting, data: { regions: [twoConcepts, ...(handwriting.data.regions ?? [])] } };

    const output = await runOperator(
      regionThresholder,
      {
        concepts: [
          { id: 'text', name: 'text', value: 0.95 },
          { id: 'logo', name: 'logo', value: 0.1 },
        ],
        model_metadata: { concept_threshold_type: 'GREATER_THAN_OR_EQUAL' },
      },
      nodeEvent(regionThresholder, { upstream: [detected] }),
    );

    const kept = output.data.regions ?? [];
    expect(kept[0]?.id).toBe('both');
    expect(kept[0]?.data.concepts.map((concept) => concept.id)).toEqual(['logo']);
    const expectedText = (handwriting.data.regions ?? []).filter((region) => (region.data.concepts[0]?.value ?? 0) >= 0.95);
    expect(kept.slice(1).map((region) => region.id)).toEqual(expectedText.map((region) => region.id));
  });

  it('rejects a negative threshold', () => {
    expect(() => regionThresholder.validateParams({ concepts: [{ id: 'text', name: 'text', value: -0.1 }], model_metadata: {} })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid region-thresholder parameter output_info.data.concepts[0].value: got -0.1. ' +
          'Set it to a number from 0 to 1: the threshold of this concept.',
      }),
    );
  });
});
