import { beforeAll, describe, expect, it } from 'vitest';
import type { Region } from '#commons/clarifai/types.ts';
import type { NodeOutput } from '#commons/workflows/node-data.ts';
import { conceptSynonymMapper } from '../../functions/operators/concept-synonym-mapper/operator.ts';
import { objectCounter } from '../../functions/operators/object-counter/operator.ts';
import { PAGE_LINES, cropFixture, modelOutput, nodeEvent, readFixture, runOperator } from './helpers.ts';

let upright: NodeOutput;
let page: NodeOutput;
let handwriting: NodeOutput;

beforeAll(async () => {
  upright = await modelOutput('orientation', 'ocr-text-orientation', await cropFixture('page.png', PAGE_LINES['heading words']));
  page = await modelOutput('detection', 'ocr-text-detector', await readFixture('page.png'));
  handwriting = await modelOutput('detection', 'ocr-text-detector', await readFixture('text.png'));
});

describe('concept-synonym-mapper', () => {
  const SYNONYMS = {
    concepts: [{ id: 'needs-rotation', name: 'needs rotation', value: 0 }],
    model_metadata: { synonyms: { 'rotation-0': 'upright', 'rotation-180': 'needs-rotation' } },
  };

  it('renames classifier concepts', async () => {
    const output = await runOperator(conceptSynonymMapper, SYNONYMS, nodeEvent(conceptSynonymMapper, { upstream: [upright] }));

    const values = Object.fromEntries((upright.data.concepts ?? []).map((concept) => [concept.id, concept.value]));
    expect(output.data.concepts).toEqual([
      { id: 'upright', name: 'upright', value: values['rotation-0'] },
      { id: 'needs-rotation', name: 'needs rotation', value: values['rotation-180'] },
    ]);
    expect(output.data.regions).toBeUndefined();
  });

  it('drops unmapped concepts unless kept', async () => {
    const partial = { model_metadata: { synonyms: { 'rotation-180': 'needs-rotation' } } };

    const dropped = await runOperator(conceptSynonymMapper, partial, nodeEvent(conceptSynonymMapper, { upstream: [upright] }));
    const kept = await runOperator(
      conceptSynonymMapper,
      { model_metadata: { ...partial.model_metadata, keep_unmapped: true } },
      nodeEvent(conceptSynonymMapper, { upstream: [upright] }),
    );

    expect(dropped.data.concepts?.map((concept) => concept.id)).toEqual(['needs-rotation']);
    expect(kept.data.concepts?.map((concept) => concept.id)).toEqual(['rotation-0', 'needs-rotation']);
  });

  it('maps one concept to several and merges by max', async () => {
    const params = { model_metadata: { synonyms: { 'rotation-0': ['text-line', 'upright'], 'rotation-180': 'text-line' } } };

    const output = await runOperator(conceptSynonymMapper, params, nodeEvent(conceptSynonymMapper, { upstream: [upright] }));

    const best = Math.max(...(upright.data.concepts ?? []).map((concept) => concept.value));
    expect(output.data.concepts?.map((concept) => concept.id).sort()).toEqual(['text-line', 'upright']);
    expect(output.data.concepts?.find((concept) => concept.id === 'text-line')?.value).toBe(best);
  });

  it('renames region concepts', async () => {
    const output = await runOperator(
      conceptSynonymMapper,
      { model_metadata: { synonyms: { text: 'printed-line' } } },
      nodeEvent(conceptSynonymMapper, { upstream: [page] }),
    );

    const regions = page.data.regions ?? [];
    expect(output.data.regions).toHaveLength(regions.length);
    expect(output.data.regions?.map((region) => region.data.concepts[0]?.id)).toEqual(regions.map(() => 'printed-line'));
    expect(output.data.regions?.map((region) => region.data.concepts[0]?.value)).toEqual(regions.map((region) => region.data.concepts[0]?.value));
    expect(output.data.regions?.map((region) => region.region_info)).toEqual(regions.map((region) => region.region_info));
  });

  it('rejects an empty synonym map', () => {
    expect(() => conceptSynonymMapper.validateParams({ concepts: [], model_metadata: { synonyms: {} } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid concept-synonym-mapper parameter output_info.output_config.model_metadata.synonyms: got {}. ' +
          'Map at least one upstream concept id to its synonym, e.g. {"rotation-0": "upright"}.',
      }),
    );
  });

  it('rejects a synonym that is not an id', () => {
    expect(() => conceptSynonymMapper.validateParams({ concepts: [], model_metadata: { synonyms: { 'rotation-0': 7 } } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid concept-synonym-mapper parameter output_info.output_config.model_metadata.synonyms: got {"rotation-0":7}. ' +
          'Map "rotation-0" to a concept id or a non-empty list of concept ids.',
      }),
    );
  });
});

describe('object-counter', () => {
  it('counts text regions', async () => {
    const output = await runOperator(objectCounter, {}, nodeEvent(objectCounter, { upstream: [page] }));

    expect(output.metadata).toEqual({ object_count: page.data.regions?.length });
    expect(page.data.regions?.length).toBeGreaterThanOrEqual(6);
    expect(output.data).toEqual(page.data);
  });

  it('counts per concept above a value', async () => {
    const logo: Region = {
      id: 'logo',
      region_info: { bounding_box: { top_row: 0, left_col: 0, bottom_row: 0.1, right_col: 0.1 } },
      data: {
        concepts: [
          { id: 'logo', name: 'logo', value: 0.8 },
          { id: 'text', name: 'text', value: 0.99 },
        ],
      },
    };
    const regions = [...(handwriting.data.regions ?? []), logo];
    const confidentText = regions.filter((region) => region.data.concepts.some((concept) => concept.id === 'text' && concept.value >= 0.975));

    const output = await runOperator(
      objectCounter,
      {
        concepts: [
          { id: 'text', name: 'text', value: 0.975 },
          { id: 'logo', name: 'logo', value: 0.5 },
          { id: 'face', name: 'face', value: 0.5 },
        ],
        model_metadata: { count_per_concept: true },
      },
      nodeEvent(objectCounter, { upstream: [{ ...handwriting, data: { regions } }] }),
    );

    expect(confidentText.length).toBeGreaterThan(1);
    expect(output.metadata).toEqual({
      object_count: confidentText.length,
      concept_counts: { text: confidentText.length, logo: 1, face: 0 },
    });
  });

  it('counts zero without regions', async () => {
    const output = await runOperator(objectCounter, {}, nodeEvent(objectCounter, { upstream: [{ ...page, data: { regions: [] } }] }));

    expect(output.metadata).toEqual({ object_count: 0 });
  });

  it('rejects a non-boolean count_per_concept', () => {
    expect(() => objectCounter.validateParams({ concepts: [], model_metadata: { count_per_concept: 'yes' } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid object-counter parameter output_info.output_config.model_metadata.count_per_concept: got "yes". ' +
          'Set it to true or false: true also reports the count of each concept.',
      }),
    );
  });
});
