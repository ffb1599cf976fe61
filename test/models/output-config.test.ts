import { describe, expect, it } from 'vitest';
import type { OutputData } from '#commons/clarifai/types.ts';
import { applyOutputConfig, DEFAULT_MAX_CONCEPTS, resolveOutputConfig } from '#commons/models/output-config.ts';
import { classifierManifest } from './fake-manifests.ts';

const manifest = classifierManifest();
const concepts = [
  { id: 'dog', name: 'Dog', value: 0.7 },
  { id: 'cat', name: 'Cat', value: 0.2 },
  { id: 'bird', name: 'Bird', value: 0.1 },
];

function conceptIds(data: OutputData): string[] | undefined {
  return data.concepts?.map((concept) => concept.id);
}

describe('resolveOutputConfig', () => {
  it('defaults to 20 concepts', () => {
    expect(resolveOutputConfig(manifest)).toEqual({ maxConcepts: DEFAULT_MAX_CONCEPTS, minValue: 0 });
    expect(resolveOutputConfig(manifest, { max_concepts: 0 }).maxConcepts).toBe(20);
  });

  it('matches selected concepts by id or name', () => {
    const filter = resolveOutputConfig(manifest, { select_concepts: [{ id: 'cat' }, { name: 'Bird' }] });

    expect([...(filter.selectedIds ?? [])]).toEqual(['cat', 'bird']);
  });

  it('rejects an unknown concept', () => {
    expect(() => resolveOutputConfig(manifest, { select_concepts: [{ name: 'cat' }] })).toThrow(
      expect.objectContaining({
        code: 'UNKNOWN_CONCEPT',
        httpStatus: 400,
        statusCode: 21202,
        message: 'Concept "cat" is not a concept of model test-classifier. Known concepts: cat (Cat), dog (Dog), bird (Bird).',
      }),
    );
  });

  it('rejects a negative max_concepts', () => {
    expect(() => resolveOutputConfig(manifest, { max_concepts: -1 })).toThrow(
      expect.objectContaining({
        code: 'INVALID_OUTPUT_CONFIG',
        message: 'output_config.max_concepts must be a non-negative integer, got -1.',
      }),
    );
  });

  it('rejects a min_value above one', () => {
    expect(() => resolveOutputConfig(manifest, { min_value: 1.5 })).toThrow(
      expect.objectContaining({
        code: 'INVALID_OUTPUT_CONFIG',
        message: 'output_config.min_value must be a number from 0 to 1, got 1.5.',
      }),
    );
  });

  it('rejects an empty selection entry', () => {
    expect(() => resolveOutputConfig(manifest, { select_concepts: [{}] })).toThrow(
      expect.objectContaining({
        code: 'INVALID_OUTPUT_CONFIG',
        message: 'output_config.select_concepts[0] needs an id or a name.',
      }),
    );
  });
});

describe('applyOutputConfig', () => {
  it('truncates to max_concepts', () => {
    const data = applyOutputConfig({ concepts }, resolveOutputConfig(manifest, { max_concepts: 2 }));

    expect(conceptIds(data)).toEqual(['dog', 'cat']);
  });

  it('drops concepts below min_value', () => {
    const data = applyOutputConfig({ concepts }, resolveOutputConfig(manifest, { min_value: 0.15 }));

    expect(conceptIds(data)).toEqual(['dog', 'cat']);
  });

  it('keeps selected concepts only', () => {
    const data = applyOutputConfig({ concepts }, resolveOutputConfig(manifest, { select_concepts: [{ id: 'bird' }] }));

    expect(conceptIds(data)).toEqual(['bird']);
  });

  it('filters region concepts and drops empty regions', () => {
    const region = (id: string, value: number) => ({
      id,
      region_info: { bounding_box: { top_row: 0, left_col: 0, bottom_row: 1, right_col: 1 } },
      value,
      data: { concepts: [{ id: 'cat', name: 'Cat', value }] },
    });

    const data = applyOutputConfig(
      { regions: [region('a', 0.9), region('b', 0.4)] },
      resolveOutputConfig(manifest, { min_value: 0.5 }),
    );

    expect(data.regions?.map((kept) => kept.id)).toEqual(['a']);
  });
});
