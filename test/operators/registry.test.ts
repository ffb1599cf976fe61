import { describe, expect, it } from 'vitest';
import { OPERATOR_TYPE_IDS, type OperatorTypeId } from '#commons/workflows/operator.ts';
import type { RawModelParams } from '#commons/workflows/node-data.ts';
import { OPERATORS } from '../../functions/operators/index.ts';

const TEXT_THRESHOLD = [{ id: 'text', name: 'text', value: 0.5 }];

/** The smallest valid parameters of each operator, and the model_metadata keys it reads. */
const MINIMAL: Record<OperatorTypeId, { params: RawModelParams; keys: string }> = {
  'concept-thresholder': { params: { concepts: TEXT_THRESHOLD, model_metadata: {} }, keys: 'concept_threshold_type' },
  'region-thresholder': { params: { concepts: TEXT_THRESHOLD, model_metadata: {} }, keys: 'concept_threshold_type' },
  'random-sample': { params: { concepts: [], model_metadata: { keep_fraction: 0.5 } }, keys: 'keep_fraction, seed' },
  router: { params: { concepts: TEXT_THRESHOLD, model_metadata: {} }, keys: 'concept_threshold_type, route_mode' },
  'image-crop': { params: { concepts: [], model_metadata: {} }, keys: 'margin' },
  'concept-synonym-mapper': { params: { concepts: [], model_metadata: { synonyms: { text: 'line' } } }, keys: 'keep_unmapped, synonyms' },
  'annotation-writer': { params: { concepts: [], model_metadata: {} }, keys: 'annotation_status' },
  'object-counter': { params: { concepts: [], model_metadata: {} }, keys: 'count_per_concept' },
  'input-filter': { params: { concepts: TEXT_THRESHOLD, model_metadata: {} }, keys: 'concept_match, concept_threshold_type, input_metadata, invert' },
  'image-tiling': { params: { concepts: [], model_metadata: {} }, keys: 'max_object_size, tile_size' },
  'tiling-region-aggregator': { params: { concepts: [], model_metadata: {} }, keys: 'overlap_metric, overlap_threshold' },
  'results-push': { params: { concepts: [], model_metadata: {} }, keys: 'detail_type, source' },
};

const NO_CONCEPTS: OperatorTypeId[] = ['random-sample', 'image-crop', 'annotation-writer', 'image-tiling', 'tiling-region-aggregator', 'results-push'];

describe('operator registry', () => {
  it('has one operator per type id', () => {
    expect(Object.keys(OPERATORS).sort()).toEqual([...OPERATOR_TYPE_IDS].sort());
    for (const [typeId, operator] of Object.entries(OPERATORS)) {
      expect(operator.typeId).toBe(typeId);
      expect(operator.description).toMatch(/^[A-Z].*\.$/);
      expect(operator.inputKinds.length).toBeGreaterThan(0);
    }
  });

  it.each(OPERATOR_TYPE_IDS)('%s accepts minimal parameters', (typeId) => {
    expect(() => OPERATORS[typeId].validateParams(MINIMAL[typeId].params)).not.toThrow();
  });

  it.each(OPERATOR_TYPE_IDS)('%s rejects an unknown parameter', (typeId) => {
    const { params, keys } = MINIMAL[typeId];

    expect(() => OPERATORS[typeId].validateParams({ ...params, model_metadata: { ...params.model_metadata, colour: 'red' } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message: `Invalid ${typeId} parameter output_info.output_config.model_metadata.colour: got "red". ${typeId} has no parameter "colour". Its parameters are: ${keys}.`,
      }),
    );
  });

  it.each(NO_CONCEPTS)('%s rejects concepts', (typeId) => {
    const { params } = MINIMAL[typeId];

    expect(() => OPERATORS[typeId].validateParams({ ...params, concepts: TEXT_THRESHOLD })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message: `Invalid ${typeId} parameter output_info.data.concepts: got [{"id":"text","name":"text","value":0.5}]. ${typeId} takes no concepts. Leave output_info.data.concepts empty.`,
      }),
    );
  });

  it.each(OPERATOR_TYPE_IDS)('%s rejects a non-object model_metadata', (typeId) => {
    expect(() => OPERATORS[typeId].validateParams({ concepts: [], model_metadata: [] as unknown as Record<string, unknown> })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message: `Invalid ${typeId} parameter output_info.output_config.model_metadata: got []. Send a JSON object of parameter names and values.`,
      }),
    );
  });
});
