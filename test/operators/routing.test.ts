import { beforeAll, describe, expect, it } from 'vitest';
import type { NodeOutput } from '#commons/workflows/node-data.ts';
import { inputFilter } from '../../functions/operators/input-filter/operator.ts';
import { router } from '../../functions/operators/router/operator.ts';
import { PAGE_LINES, cropFixture, modelOutput, nodeEvent, readFixture, runOperator } from './helpers.ts';

let upright: NodeOutput;
let upsideDown: NodeOutput;
let page: NodeOutput;

beforeAll(async () => {
  upright = await modelOutput('orientation', 'ocr-text-orientation', await cropFixture('page.png', PAGE_LINES['paragraph words']));
  upsideDown = await modelOutput('orientation', 'ocr-text-orientation', await cropFixture('page.png', PAGE_LINES['paragraph words'], true));
  page = await modelOutput('detection', 'ocr-text-detector', await readFixture('page.png'));
});

const UPSIDE_DOWN = { concepts: [{ id: 'rotation-180', name: 'upside down', value: 0.5 }] };

describe('router', () => {
  it('routes upside-down text to its branch', async () => {
    const event = nodeEvent(router, { upstream: [upsideDown], downstream: ['rotate-back', 'read-text'] });

    const output = await runOperator(router, UPSIDE_DOWN, event);

    expect(output.routes).toEqual(['rotate-back']);
    expect(output.metadata).toEqual({ matched_concepts: ['rotation-180'] });
    expect(output.data).toEqual(upsideDown.data);
  });

  it('routes upright text to the default branch', async () => {
    const event = nodeEvent(router, { upstream: [upright], downstream: ['rotate-back', 'read-text'] });

    const output = await runOperator(router, UPSIDE_DOWN, event);

    expect(output.routes).toEqual(['read-text']);
    expect(output.metadata).toEqual({ matched_concepts: [] });
  });

  it('routes nowhere without a default branch', async () => {
    const event = nodeEvent(router, { upstream: [upright], downstream: ['rotate-back'] });

    const output = await runOperator(router, UPSIDE_DOWN, event);

    expect(output.routes).toEqual([]);
  });

  it('runs every passing branch in ALL_MATCHES', async () => {
    // GREATER_THAN_OR_EQUAL 0 routes on the concept's presence, whatever its value.
    const present = {
      concepts: [
        { id: 'rotation-0', name: 'upright', value: 0 },
        { id: 'rotation-180', name: 'upside down', value: 0 },
      ],
      model_metadata: { concept_threshold_type: 'GREATER_THAN_OR_EQUAL' },
    };
    const event = nodeEvent(router, { upstream: [upright], downstream: ['upright-branch', 'upside-down-branch'] });

    const first = await runOperator(router, present, event);
    const all = await runOperator(router, { ...present, model_metadata: { ...present.model_metadata, route_mode: 'ALL_MATCHES' } }, event);

    expect(first.routes).toEqual(['upright-branch']);
    expect(all.routes).toEqual(['upright-branch', 'upside-down-branch']);
  });

  it('routes on detected region concepts', async () => {
    const event = nodeEvent(router, { upstream: [page], downstream: ['has-text', 'no-text'] });

    const output = await runOperator(router, { concepts: [{ id: 'text', name: 'text', value: 0.6 }] }, event);

    expect(output.routes).toEqual(['has-text']);
    expect(output.data.regions).toEqual(page.data.regions);
  });

  it('rejects a branch count that does not fit', async () => {
    const event = nodeEvent(router, { nodeId: 'orientation-router', upstream: [upright], downstream: ['a', 'b', 'c'] });

    await expect(runOperator(router, UPSIDE_DOWN, event)).rejects.toThrow(
      expect.objectContaining({
        code: 'ROUTER_BRANCH_MISMATCH',
        message:
          'Router node orientation-router has 1 concepts (rotation-180) but 3 downstream nodes (a, b, c). Give it one ' +
          'downstream node per concept, in the same order, plus optionally one last node for inputs that match no concept.',
      }),
    );
  });

  it('rejects an unknown route mode', () => {
    expect(() => router.validateParams({ ...UPSIDE_DOWN, model_metadata: { route_mode: 'RANDOM' } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid router parameter output_info.output_config.model_metadata.route_mode: got "RANDOM". ' +
          'Use one of FIRST_MATCH, ALL_MATCHES: whether one or every passing branch runs.',
      }),
    );
  });

  it('rejects a router without concepts', () => {
    expect(() => router.validateParams({ concepts: [], model_metadata: {} })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid router parameter output_info.data.concepts: got []. List one concept per branch, each with its ' +
          'threshold as value, e.g. [{"id": "rotation-180", "value": 0.5}].',
      }),
    );
  });
});

describe('input-filter', () => {
  const UPRIGHT_ONLY = { concepts: [{ id: 'rotation-0', name: 'upright', value: 0.9 }] };

  it('passes an input that matches', async () => {
    const output = await runOperator(inputFilter, UPRIGHT_ONLY, nodeEvent(inputFilter, { upstream: [upright] }));

    expect(output.dropped).toBeUndefined();
    expect(output.data).toEqual(upright.data);
  });

  it('drops an input that does not match', async () => {
    const output = await runOperator(inputFilter, UPRIGHT_ONLY, nodeEvent(inputFilter, { upstream: [upsideDown] }));

    expect(output.dropped).toBe(true);
    expect(output.data).toEqual({});
  });

  it('inverts the condition', async () => {
    const inverted = { ...UPRIGHT_ONLY, model_metadata: { invert: true } };

    const kept = await runOperator(inputFilter, inverted, nodeEvent(inputFilter, { upstream: [upsideDown] }));
    const dropped = await runOperator(inputFilter, inverted, nodeEvent(inputFilter, { upstream: [upright] }));

    expect(kept.dropped).toBeUndefined();
    expect(dropped.dropped).toBe(true);
  });

  it('needs every concept with ALL', async () => {
    const both = {
      concepts: [
        { id: 'rotation-0', name: 'upright', value: 0.9 },
        { id: 'text', name: 'text', value: 0.6 },
      ],
    };
    const event = nodeEvent(inputFilter, { upstream: [upright, page] });

    const any = await runOperator(inputFilter, both, event);
    const all = await runOperator(inputFilter, { ...both, model_metadata: { concept_match: 'ALL' } }, event);
    const allWithoutText = await runOperator(inputFilter, { ...both, model_metadata: { concept_match: 'ALL' } }, nodeEvent(inputFilter, { upstream: [upright] }));

    expect(any.dropped).toBeUndefined();
    expect(all.dropped).toBeUndefined();
    expect(allWithoutText.dropped).toBe(true);
  });

  it('filters on input metadata', async () => {
    const params = { model_metadata: { input_metadata: { source: 'scanner', pages: [1, 2] } } };

    const match = await runOperator(inputFilter, params, nodeEvent(inputFilter, { metadata: { source: 'scanner', pages: [1, 2], extra: true } }));
    const other = await runOperator(inputFilter, params, nodeEvent(inputFilter, { metadata: { source: 'phone', pages: [1, 2] } }));
    const none = await runOperator(inputFilter, params, nodeEvent(inputFilter));

    expect(match.dropped).toBeUndefined();
    expect(other.dropped).toBe(true);
    expect(none.dropped).toBe(true);
  });

  it('rejects a filter without conditions', () => {
    expect(() => inputFilter.validateParams({ concepts: [], model_metadata: { invert: true } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid input-filter parameter output_info.data.concepts: got []. Give the filter a condition: concepts with ' +
          'thresholds here, or metadata values in output_info.output_config.model_metadata.input_metadata.',
      }),
    );
  });

  it('rejects metadata that is not an object', () => {
    expect(() => inputFilter.validateParams({ concepts: [], model_metadata: { input_metadata: 'scanner' } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid input-filter parameter output_info.output_config.model_metadata.input_metadata: got "scanner". ' +
          'Send a JSON object: the metadata keys and values the input must have.',
      }),
    );
  });
});
