import { beforeAll, describe, expect, it } from 'vitest';
import type { NodeOutput } from '#commons/workflows/node-data.ts';
import { randomSample } from '../../functions/operators/random-sample/operator.ts';
import { PAGE_LINES, cropFixture, modelOutput, nodeEvent, runOperator } from './helpers.ts';

const IDS = Array.from({ length: 1000 }, (_, index) => `input-${index}`);

let orientation: NodeOutput;

beforeAll(async () => {
  orientation = await modelOutput('orientation', 'ocr-text-orientation', await cropFixture('page.png', PAGE_LINES['paragraph words']));
});

async function keptIds(modelMetadata: Record<string, unknown>, ids: readonly string[] = IDS): Promise<string[]> {
  const kept: string[] = [];
  for (const id of ids) {
    const output = await runOperator(randomSample, { model_metadata: modelMetadata }, nodeEvent(randomSample, { inputId: id, upstream: [orientation] }));
    if (output.dropped !== true) {
      kept.push(id);
    }
  }
  return kept;
}

describe('random-sample', () => {
  it('repeats its decisions with a seed', async () => {
    const first = await keptIds({ keep_fraction: 0.3, seed: 42 });
    const second = await keptIds({ keep_fraction: 0.3, seed: 42 });

    expect(second).toEqual(first);
  });

  it('keeps about keep_fraction with a seed', async () => {
    const kept = await keptIds({ keep_fraction: 0.3, seed: 'nightly-review' });

    // Binomial(1000, 0.3) has a standard deviation of 14.5, so 50 is over 3 of them.
    expect(Math.abs(kept.length - 300)).toBeLessThan(50);
  });

  it('keeps about keep_fraction without a seed', async () => {
    const kept = await keptIds({ keep_fraction: 0.7 });

    // Almost 6 standard deviations of Binomial(1000, 0.7): a false failure has a probability of about 3 in a billion.
    expect(Math.abs(kept.length - 700)).toBeLessThan(87);
  });

  it('draws differently for another seed', async () => {
    const first = await keptIds({ keep_fraction: 0.5, seed: 1 });
    const second = await keptIds({ keep_fraction: 0.5, seed: 2 });

    const shared = first.filter((id) => second.includes(id)).length;
    // Independent halves share about a quarter of the ids, 250, not all 500.
    expect(shared).toBeLessThan(320);
    expect(shared).toBeGreaterThan(180);
  });

  it('grows the kept set with keep_fraction', async () => {
    const smaller = await keptIds({ keep_fraction: 0.2, seed: 7 });
    const larger = await keptIds({ keep_fraction: 0.6, seed: 7 });

    // One draw per id: every id kept at 0.2 is also kept at 0.6.
    expect(smaller.every((id) => larger.includes(id))).toBe(true);
    expect(larger.length).toBeGreaterThan(smaller.length);
  });

  it('keeps all at 1 and none at 0', async () => {
    const ids = IDS.slice(0, 100);

    expect(await keptIds({ keep_fraction: 1 }, ids)).toEqual(ids);
    expect(await keptIds({ keep_fraction: 0 }, ids)).toEqual([]);
  });

  it('forwards the upstream output when kept', async () => {
    const output = await runOperator(randomSample, { model_metadata: { keep_fraction: 1 } }, nodeEvent(randomSample, { upstream: [orientation] }));

    expect(output.dropped).toBeUndefined();
    expect(output.data).toEqual(orientation.data);
    expect(output.model.model_type_id).toBe('random-sample');
  });

  it('decides per crop inside a crop scope', async () => {
    const crops = IDS.slice(0, 200).map((id) => ({
      image: { bucket: 'b', key: `derived/${id}.png` },
      region: { id, region_info: { bounding_box: { top_row: 0, left_col: 0, bottom_row: 1, right_col: 1 } }, data: { concepts: [] } },
    }));

    let kept = 0;
    for (const crop of crops) {
      const output = await runOperator(randomSample, { model_metadata: { keep_fraction: 0.5, seed: 3 } }, nodeEvent(randomSample, { crop }));
      kept += output.dropped === true ? 0 : 1;
    }

    // All crops share one input id. Without the region id in the key they would all go one way.
    expect(kept).toBeGreaterThan(60);
    expect(kept).toBeLessThan(140);
  });

  it('rejects a missing keep_fraction', () => {
    expect(() => randomSample.validateParams({ concepts: [], model_metadata: {} })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid random-sample parameter output_info.output_config.model_metadata.keep_fraction: got missing. ' +
          'Set it to a number from 0 to 1: the fraction of inputs to keep.',
      }),
    );
  });

  it('rejects keep_fraction above 1', () => {
    expect(() => randomSample.validateParams({ concepts: [], model_metadata: { keep_fraction: 1.5 } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid random-sample parameter output_info.output_config.model_metadata.keep_fraction: got 1.5. ' +
          'Set it to a number from 0 to 1: the fraction of inputs to keep.',
      }),
    );
  });

  it('rejects a fractional seed', () => {
    expect(() => randomSample.validateParams({ concepts: [], model_metadata: { keep_fraction: 0.5, seed: 0.25 } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid random-sample parameter output_info.output_config.model_metadata.seed: got 0.25. ' +
          'Set it to a whole number or a non-empty string, or leave it out for unseeded sampling.',
      }),
    );
  });
});
