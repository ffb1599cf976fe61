import { describe, expect, it } from 'vitest';
import { cropImage, loadImage, regionConcepts, regionsOf } from './helpers.ts';
import { predict } from '#commons/models/index.ts';

const MODEL = 'general-object-detection';

describe('general-object-detection', () => {
  it('finds the astronaut as a person', async () => {
    const image = await loadImage('astronaut.jpg');

    const [output] = await predict(MODEL, [image]);

    const [best] = regionsOf(output);
    expect(best?.data.concepts[0]).toMatchObject({ id: 'person', name: 'person' });
    expect(best?.value).toBeGreaterThan(0.5);
    // She fills the left two thirds of the photo, from the top edge to the bottom edge.
    const box = best!.region_info.bounding_box;
    expect(box.left_col).toBeLessThan(0.1);
    expect(box.top_row).toBeLessThan(0.1);
    expect(box.right_col).toBeGreaterThan(0.6);
    expect(box.right_col).toBeLessThan(0.85);
    expect(box.bottom_row).toBeGreaterThan(0.9);
  });

  it('finds the cat in a wide photo', async () => {
    const image = await loadImage('chelsea.jpg');

    const [output] = await predict(MODEL, [image]);

    expect(regionConcepts(output)[0]).toBe('cat');
    // The photo is 400 x 266, so the letterbox pads it above and below. A box that kept the
    // padding in its coordinates would start below the top edge or end above the bottom one.
    const box = regionsOf(output)[0]!.region_info.bounding_box;
    expect(box.top_row).toBeLessThan(0.1);
    expect(box.bottom_row).toBeGreaterThan(0.9);
    expect(box.left_col).toBeLessThan(0.1);
    expect(box.right_col).toBeGreaterThan(0.8);
  });

  it('keeps one box per object and class', async () => {
    const image = await loadImage('chelsea.jpg');

    const [output] = await predict(MODEL, [image]);

    // The graph returns three nearly identical cat boxes, and suppression keeps the best one.
    expect(regionConcepts(output).filter((id) => id === 'cat')).toHaveLength(1);
  });

  it('finds the cup in the coffee photo', async () => {
    const image = await loadImage('coffee.jpg');

    const [output] = await predict(MODEL, [image]);

    expect(regionConcepts(output)[0]).toBe('cup');
  });

  it('finds no object on a text page', async () => {
    const image = await loadImage('page.png');

    const [output] = await predict(MODEL, [image]);

    expect(regionsOf(output)).toEqual([]);
  });

  it('sorts regions and gives each an id', async () => {
    const image = await loadImage('coffee.jpg');

    const [output] = await predict(MODEL, [image]);

    const regions = regionsOf(output);
    const values = regions.map((region) => region.value ?? 0);
    expect(regions.length).toBeGreaterThanOrEqual(2);
    expect(values).toEqual([...values].sort((a, b) => b - a));
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0.2);
    expect(new Set(regions.map((region) => region.id)).size).toBe(regions.length);
    for (const region of regions) {
      expect(region.id).toMatch(/^[0-9a-f]{32}$/);
      expect(region.data.concepts).toHaveLength(1);
      expect(region.data.concepts[0]?.value).toBe(region.value);
    }
  });

  it('applies select_concepts to regions', async () => {
    const image = await loadImage('coffee.jpg');

    const [output] = await predict(MODEL, [image], { select_concepts: [{ name: 'dining table' }] });

    expect(regionConcepts(output).length).toBeGreaterThanOrEqual(1);
    expect(new Set(regionConcepts(output))).toEqual(new Set(['dining-table']));
  });

  it('finds the person in a crop', async () => {
    const image = await cropImage('astronaut.jpg', { left: 0, top: 0, width: 300, height: 400 });

    const [output] = await predict(MODEL, [image]);

    expect(regionConcepts(output)[0]).toBe('person');
  });
});
