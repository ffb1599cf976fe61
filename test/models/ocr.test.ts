import { describe, expect, it } from 'vitest';
import type { BoundingBox, OutputData, Region } from '#commons/clarifai/types.ts';
import { getModel, modelVersionId, predict } from '#commons/models/index.ts';
import { preprocess, runSession } from '#commons/models/runtime.ts';
import { cropImage, loadImage } from './images.ts';

function boxesOf(output: OutputData | undefined): BoundingBox[] {
  return (output?.regions ?? []).map((region: Region) => region.region_info.bounding_box);
}

function contains(box: BoundingBox, row: number, col: number): boolean {
  return box.top_row <= row && row <= box.bottom_row && box.left_col <= col && col <= box.right_col;
}

// "Let us first determine" (start of the first paragraph line) and "Region-based" (heading).
const CROPS = {
  'paragraph words': { left: 3, top: 64, width: 120, height: 22 },
  'heading words': { left: 7, top: 13, width: 130, height: 21 },
};

describe('ocr-text-detector', () => {
  it('finds the lines of a printed page', async () => {
    const image = await loadImage('page.png');

    const [output] = await predict('ocr-text-detector', [image]);

    const boxes = boxesOf(output);
    expect(boxes.length).toBeGreaterThanOrEqual(6);
    expect(boxes.length).toBeLessThanOrEqual(12);
    for (const box of boxes) {
      expect(box.top_row).toBeGreaterThanOrEqual(0);
      expect(box.left_col).toBeGreaterThanOrEqual(0);
      expect(box.bottom_row).toBeLessThanOrEqual(1);
      expect(box.right_col).toBeLessThanOrEqual(1);
      expect(box.top_row).toBeLessThan(box.bottom_row);
      expect(box.left_col).toBeLessThan(box.right_col);
      // One line of text, not a block spanning several lines.
      expect(box.bottom_row - box.top_row).toBeLessThan(0.25);
    }
  });

  it('covers the text, not the margins', async () => {
    const image = await loadImage('page.png');

    const [output] = await predict('ocr-text-detector', [image]);

    const boxes = boxesOf(output);
    // Centres of the heading, the five paragraph lines and the code line, in pixels (x, y).
    const lineCentres = [
      [100, 23],
      [200, 56],
      [200, 74],
      [200, 92],
      [200, 109],
      [80, 127],
      [150, 182],
    ] as const;
    for (const [x, y] of lineCentres) {
      const covered = boxes.some((box) => contains(box, y / image.height, x / image.width));
      expect(covered, `line at y=${y}`).toBe(true);
    }
    // Rows 0-12 (top margin) and 34-48 (gap under the heading) hold no text.
    for (const box of boxes) {
      const centreRow = ((box.top_row + box.bottom_row) / 2) * image.height;
      expect(box.top_row * image.height).toBeGreaterThan(6);
      expect(centreRow < 34 || centreRow > 48, `box centred at y=${centreRow}`).toBe(true);
    }
  });

  it('finds handwritten text', async () => {
    const image = await loadImage('text.png');

    const [output] = await predict('ocr-text-detector', [image]);

    const regions = output?.regions ?? [];
    expect(regions.length).toBeGreaterThanOrEqual(4);
    for (const region of regions) {
      const box = region.region_info.bounding_box;
      expect(box.top_row).toBeLessThan(box.bottom_row);
      expect(box.left_col).toBeLessThan(box.right_col);
      expect(region.id).toMatch(/^[0-9a-f]{32}$/);
      expect(region.value).toBeGreaterThanOrEqual(0.6);
      expect(region.data.concepts).toEqual([{ id: 'text', name: 'text', value: region.value }]);
    }
    expect(new Set(regions.map((region) => region.id)).size).toBe(regions.length);
  });

  it('finds little in a photo without text', async () => {
    const image = await loadImage('chelsea.jpg');

    const [output] = await predict('ocr-text-detector', [image]);

    expect(output?.regions?.length).toBeLessThanOrEqual(3);
  });

  it('returns one output per image in order', async () => {
    const images = [await loadImage('astronaut.jpg'), await loadImage('page.png')];

    const outputs = await predict('ocr-text-detector', images);

    expect(outputs).toHaveLength(2);
    expect(outputs[0]?.regions).toEqual([]);
    expect(outputs[1]?.regions?.length).toBeGreaterThanOrEqual(6);
  });

  it('applies min_value to regions', async () => {
    const image = await loadImage('text.png');
    const [all] = await predict('ocr-text-detector', [image]);

    const [confident] = await predict('ocr-text-detector', [image], { min_value: 0.975 });

    const expected = (all?.regions ?? []).filter((region) => (region.value ?? 0) >= 0.975);
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(all?.regions?.length ?? 0);
    expect(confident?.regions?.map((region) => region.id)).toEqual(expected.map((region) => region.id));
  });
});

describe('ocr-text-orientation', () => {
  it.each(Object.entries(CROPS))('reads %s as upright', async (_, area) => {
    const image = await cropImage('page.png', area);

    const [output] = await predict('ocr-text-orientation', [image]);

    expect(output?.concepts?.[0]?.id).toBe('rotation-0');
    expect(output?.concepts?.[0]?.name).toBe('upright');
  });

  it.each(Object.entries(CROPS))('reads %s rotated as upside down', async (_, area) => {
    const image = await cropImage('page.png', area, true);

    const [output] = await predict('ocr-text-orientation', [image]);

    expect(output?.concepts?.[0]?.id).toBe('rotation-180');
    expect(output?.concepts?.[0]?.name).toBe('upside down');
  });

  it('batches images like single runs', async () => {
    const upright = await cropImage('page.png', CROPS['paragraph words']);
    const rotated = await cropImage('page.png', CROPS['paragraph words'], true);

    const batched = await predict('ocr-text-orientation', [upright, rotated]);
    const [single] = await predict('ocr-text-orientation', [rotated]);

    expect(batched.map((output) => output.concepts?.[0]?.id)).toEqual(['rotation-0', 'rotation-180']);
    expect(batched[1]?.concepts?.[0]?.value).toBeCloseTo(single?.concepts?.[0]?.value ?? NaN, 5);
  });

  it('sorts concepts and sums to one', async () => {
    const image = await cropImage('page.png', CROPS['heading words']);

    const [output] = await predict('ocr-text-orientation', [image]);

    const values = output?.concepts?.map((concept) => concept.value) ?? [];
    expect(values).toHaveLength(2);
    expect(values[0]).toBeGreaterThanOrEqual(values[1] ?? Infinity);
    expect((values[0] ?? 0) + (values[1] ?? 0)).toBeCloseTo(1, 5);
  });

  it('applies max_concepts', async () => {
    const image = await cropImage('page.png', CROPS['heading words']);

    const [output] = await predict('ocr-text-orientation', [image], { max_concepts: 1 });

    expect(output?.concepts?.map((concept) => concept.id)).toEqual(['rotation-0']);
  });

  it('applies select_concepts by name', async () => {
    const image = await cropImage('page.png', CROPS['heading words']);

    const [output] = await predict('ocr-text-orientation', [image], { select_concepts: [{ name: 'upside down' }] });

    expect(output?.concepts?.map((concept) => concept.id)).toEqual(['rotation-180']);
  });

  it('rejects an unknown selected concept', async () => {
    const image = await cropImage('page.png', CROPS['heading words']);

    await expect(predict('ocr-text-orientation', [image], { select_concepts: [{ id: 'rotation-90' }] })).rejects.toThrow(
      expect.objectContaining({
        code: 'UNKNOWN_CONCEPT',
        message:
          'Concept "rotation-90" is not a concept of model ocr-text-orientation. ' +
          'Known concepts: rotation-0 (upright), rotation-180 (upside down).',
      }),
    );
  });
});

describe('runtime', () => {
  it('rejects an unknown model', async () => {
    await expect(predict('ocr-text-recognizer', [])).rejects.toThrow(
      expect.objectContaining({ code: 'MODEL_NOT_FOUND', httpStatus: 404 }),
    );
  });

  it('returns the version id of the model file', async () => {
    expect(await modelVersionId('ocr-text-orientation')).toBe('491843a3c65de46295864c6815e41127');
  });

  it('runs a bare session on preprocessed feeds', async () => {
    const manifest = getModel('ocr-text-orientation');
    const feeds = await preprocess(manifest, await cropImage('page.png', CROPS['heading words']));

    const outputs = await runSession(manifest.id, feeds);

    expect(outputs['softmax_0.tmp_0']?.dims).toEqual([1, 2]);
  });
});
