import { beforeAll, describe, expect, it } from 'vitest';
import type { Concept, Region } from '#commons/clarifai/types.ts';
import type { NodeOutput } from '#commons/workflows/node-data.ts';
import { conceptThresholder } from '../../functions/operators/concept-thresholder/operator.ts';
import { regionThresholder } from '../../functions/operators/region-thresholder/operator.ts';
import { PAGE_LINES, cropFixture, modelOutput, nodeEvent, readFixture, runOperator } from './helpers.ts';

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
