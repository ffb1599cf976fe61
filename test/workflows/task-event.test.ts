/**
 * The engine's bookkeeping around node code: gates from `dropped` and `routes`, merged crop
 * runs, and failure descriptions as the compiled error names carry them.
 */
import { describe, expect, it } from 'vitest';
import type { Region } from '#commons/clarifai/types.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import { describeWorkflowFailure } from '#commons/workflows/outputs.ts';
import { type CropRun, type NodeTaskPayload, finishNodeOutput, mergeCropRuns, toNodeTaskEvent } from '#commons/workflows/task-event.ts';

const MODEL = { id: 'router-model', model_type_id: 'router', model_version: { id: 'v1' } };

function payload(overrides: Partial<NodeTaskPayload> = {}): NodeTaskPayload {
  return {
    input: { app_id: 'main', id: 'page', image: { bucket: 'b', key: 'uploads/main/page' } },
    node: {
      id: 'route',
      model: MODEL,
      params: { concepts: [], model_metadata: {} },
      downstream: [
        { node_id: 'left', key: 'n2' },
        { node_id: 'right', key: 'n3' },
      ],
      output_kind: 'concepts',
    },
    upstream: {},
    upstream_refs: [],
    ...overrides,
  };
}

function region(id: string, box: [number, number, number, number], concepts: Region['data']['concepts'] = []): Region {
  const [top, left, bottom, right] = box;
  return { id, region_info: { bounding_box: { top_row: top, left_col: left, bottom_row: bottom, right_col: right } }, data: { concepts } };
}

describe('finishNodeOutput', () => {
  it('opens every gate by default', () => {
    const event = toNodeTaskEvent(payload());

    const output = finishNodeOutput(payload(), outputOf(event));

    expect(output.gates).toEqual({ n2: true, n3: true });
    expect(output.node_id).toBe('route');
    expect(output.model).toEqual(MODEL);
  });

  it('closes every gate when dropped', () => {
    const output = finishNodeOutput(payload(), outputOf(toNodeTaskEvent(payload()), { dropped: true }));

    expect(output.gates).toEqual({ n2: false, n3: false });
  });

  it('opens only routed gates', () => {
    const output = finishNodeOutput(payload(), outputOf(toNodeTaskEvent(payload()), { routes: ['right'] }));

    expect(output.gates).toEqual({ n2: false, n3: true });
  });

  it('rejects a route to another node', () => {
    const output = outputOf(toNodeTaskEvent(payload()), { routes: ['elsewhere'] });

    expect(() => finishNodeOutput(payload(), output)).toThrow(
      'Node "route" routed the input to "elsewhere", which is not fed by it. Its downstream nodes are: left, right.',
    );
  });

  it('gives a crops node an empty list', () => {
    const crops = payload({ node: { ...payload().node, output_kind: 'crops' } });

    expect(finishNodeOutput(crops, outputOf(toNodeTaskEvent(crops))).crops).toEqual([]);
  });
});

describe('mergeCropRuns', () => {
  const crop = (id: string, box: [number, number, number, number]) => ({
    image: { bucket: 'b', key: `derived/${id}.png` },
    region: region(id, box),
  });
  const orientation = (concepts: Region['data']['concepts']) => ({
    node_id: 'orient',
    model: MODEL,
    data: { concepts },
    gates: {},
  });

  it('puts concepts on the crop region', () => {
    const runs: CropRun[] = [
      { crop: crop('line-1', [0.1, 0.2, 0.3, 0.4]), outputs: { n2: orientation([{ id: 'rotation-0', name: 'upright', value: 0.9 }]) } },
      { crop: crop('line-2', [0.5, 0.2, 0.7, 0.4]), outputs: { n2: orientation([]) } },
      { crop: crop('line-3', [0.8, 0.2, 0.9, 0.4]), outputs: { n2: { ...orientation([{ id: 'x', name: 'x', value: 1 }]), skipped: true } } },
    ];

    const merged = mergeCropRuns(runs, 'n2', { node_id: 'orient' });

    expect(merged.data.regions).toEqual([
      {
        id: 'line-1',
        region_info: { bounding_box: { top_row: 0.1, left_col: 0.2, bottom_row: 0.3, right_col: 0.4 } },
        data: { concepts: [{ id: 'rotation-0', name: 'upright', value: 0.9 }] },
      },
    ]);
  });

  it('moves detected regions to input coordinates', () => {
    const detector = { node_id: 'detect', model: MODEL, data: { regions: [region('a', [0.5, 0, 1, 0.5])] }, gates: {} };
    const runs: CropRun[] = [{ crop: crop('tile', [0.2, 0.4, 0.6, 0.8]), outputs: { n1: detector } }];

    const [moved] = mergeCropRuns(runs, 'n1', { node_id: 'detect' }).data.regions ?? [];

    expect(moved?.id).toBe('tile-a');
    const box = moved?.region_info.bounding_box;
    expect(box?.top_row).toBeCloseTo(0.4);
    expect(box?.left_col).toBeCloseTo(0.4);
    expect(box?.bottom_row).toBeCloseTo(0.6);
    expect(box?.right_col).toBeCloseTo(0.6);
  });

  it('names the node without runs', () => {
    const merged = mergeCropRuns([], 'n2', { node_id: 'orient', model: MODEL });

    expect(merged).toEqual({ node_id: 'orient', model: MODEL, data: { regions: [] } });
  });
});

describe('describeWorkflowFailure', () => {
  it('names the node from the error name', () => {
    const cause = JSON.stringify({ errorType: 'NOT_AN_IMAGE', errorMessage: 'The file is not an image.', trace: [] });

    const described = describeWorkflowFailure({ error: 'NOT_AN_IMAGE@detect@ocr-text-detector', cause });

    expect(described).toEqual({
      code: 'NOT_AN_IMAGE',
      message: 'Node "detect" (model ocr-text-detector) failed: The file is not an image.',
      node_id: 'detect',
    });
  });

  it('keeps a failure outside nodes', () => {
    const described = describeWorkflowFailure({ error: 'States.Runtime', cause: 'The JSONPath $.x could not be found.' });

    expect(described.code).toBe('INTERNAL_ERROR');
    expect(described.message).toBe('States.Runtime: The JSONPath $.x could not be found.');
    expect(described.node_id).toBeUndefined();
  });
});
