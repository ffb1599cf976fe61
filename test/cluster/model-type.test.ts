import { describe, expect, it } from 'vitest';
import { clusterCount, clustererParamsOf, prepareClustererParams } from '#commons/cluster/model-type.ts';
import { PerceptError } from '#commons/errors.ts';

function errorOf(prepare: () => unknown): PerceptError {
  try {
    prepare();
  } catch (error) {
    if (error instanceof PerceptError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected the parameters to be rejected');
}

describe('clusterer parameters', () => {
  it('fills in the default embedding model', () => {
    const prepared = prepareClustererParams({ concepts: [], model_metadata: { k: 8 } });

    expect(prepared.model_metadata).toEqual({ k: 8, embedding_model_id: 'general-image-embedding' });
    expect(clustererParamsOf(prepared)).toEqual({ embeddingModelId: 'general-image-embedding', k: 8, iterations: 20 });
  });

  it('keeps an app embedding model for the training to check', () => {
    const prepared = prepareClustererParams({ concepts: [], model_metadata: { embedding_model_id: 'my-embedder', iterations: 5 } });

    expect(clustererParamsOf(prepared)).toEqual({ embeddingModelId: 'my-embedder', iterations: 5 });
  });

  it('rejects concepts', () => {
    const error = errorOf(() => prepareClustererParams({ concepts: [{ id: 'cat', name: 'cat', value: 1 }], model_metadata: {} }));

    expect(error.code).toBe('INVALID_MODEL_PARAMETER');
    expect(error.message).toMatch(/A clusterer has no concepts/);
  });

  it('rejects a k above the maximum', () => {
    const error = errorOf(() => prepareClustererParams({ concepts: [], model_metadata: { k: 10_001 } }));

    expect(error.code).toBe('INVALID_MODEL_PARAMETER');
    expect(error.message).toBe(
      'model.output_info.output_config.model_metadata.k must be a whole number of clusters from 1 to 10000, or left out to choose 4 × √n for n vectors, got 10001.',
    );
  });

  it('rejects a built-in model that is not an embedder', () => {
    const error = errorOf(() => prepareClustererParams({ concepts: [], model_metadata: { embedding_model_id: 'face-age' } }));

    expect(error.code).toBe('INVALID_EMBEDDING_MODEL');
    expect(error.message).toMatch(/"face-age" is a visual-classifier, not a visual-embedder/);
  });
});

describe('cluster count', () => {
  it('takes k when set', () => {
    expect(clusterCount({ embeddingModelId: 'e', k: 7, iterations: 20 }, 1000)).toBe(7);
  });

  it('chooses 4 × √n within 1 and n', () => {
    const params = { embeddingModelId: 'e', iterations: 20 };

    expect(clusterCount(params, 10_000)).toBe(400);
    expect(clusterCount(params, 1_000_000)).toBe(4000);
    expect(clusterCount(params, 9)).toBe(9);
    expect(clusterCount(params, 1)).toBe(1);
    expect(clusterCount(params, 100_000_000)).toBe(10_000);
  });
});
