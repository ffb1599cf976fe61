import { describe, expect, it } from 'vitest';
import type { DecodedImage } from '#commons/image/types.ts';
import type { InputSpec } from '#commons/models/manifest.ts';
import { planResize, prepareInput, toFeeds } from '#commons/models/preprocess.ts';
import { classifierManifest } from './fake-manifests.ts';

/** Creates a solid image of one RGB colour. */
function solidImage(width: number, height: number, rgb: [number, number, number]): DecodedImage {
  const pixels = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    pixels.set(rgb, i * 3);
  }
  return { pixels, width, height, format: 'raw' };
}

function manifestWith(input: Partial<InputSpec>) {
  const base = classifierManifest();
  return classifierManifest({ input: { ...base.input, ...input } });
}

describe('planResize', () => {
  it('stretches to the fixed size', () => {
    expect(planResize({ mode: 'stretch', width: 224, height: 224 }, 640, 480)).toEqual({
      inputWidth: 224,
      inputHeight: 224,
      contentLeft: 0,
      contentTop: 0,
      contentWidth: 224,
      contentHeight: 224,
    });
  });

  it('centres a letterboxed image', () => {
    expect(planResize({ mode: 'letterbox', width: 640, height: 640 }, 640, 480)).toMatchObject({
      contentLeft: 0,
      contentTop: 80,
      contentWidth: 640,
      contentHeight: 480,
    });
  });

  it('pads the right of a short text crop', () => {
    expect(planResize({ mode: 'keep-aspect-pad', width: 192, height: 48 }, 100, 50)).toMatchObject({
      contentLeft: 0,
      contentWidth: 96,
      contentHeight: 48,
    });
  });

  it('squeezes a long text crop', () => {
    expect(planResize({ mode: 'keep-aspect-pad', width: 192, height: 48 }, 400, 20)).toMatchObject({
      contentWidth: 192,
      contentHeight: 48,
    });
  });

  it('rounds sides to the multiple', () => {
    const resize = { mode: 'long-side-multiple', max_side: 960, multiple: 32 } as const;

    expect(planResize(resize, 384, 191)).toMatchObject({ inputWidth: 384, inputHeight: 192 });
    expect(planResize(resize, 1920, 1000)).toMatchObject({ inputWidth: 960, inputHeight: 512 });
    expect(planResize(resize, 500, 10)).toMatchObject({ inputWidth: 512, inputHeight: 32 });
  });

  it('enlarges to the minimum short side', () => {
    const resize = { mode: 'long-side-multiple', min_side: 736, max_side: 1920, multiple: 32 } as const;

    expect(planResize(resize, 448, 172)).toMatchObject({ inputWidth: 1920, inputHeight: 736 });
    expect(planResize(resize, 2000, 1000)).toMatchObject({ inputWidth: 1920, inputHeight: 960 });
    expect(planResize(resize, 1000, 100)).toMatchObject({ inputWidth: 1920, inputHeight: 192 });
  });
});

describe('prepareInput', () => {
  it('normalizes in BGR channel order', async () => {
    const manifest = manifestWith({
      channel_order: 'BGR',
      normalization: { scale: 1 / 255, mean: [0.5, 0.25, 0], std: [0.5, 0.25, 1] },
    });

    const input = await prepareInput(manifest, solidImage(4, 4, [255, 0, 51]));

    expect(input.dims).toEqual([1, 3, 4, 4]);
    expect(input.data[0]).toBeCloseTo((0.2 - 0.5) / 0.5, 6);
    expect(input.data[16]).toBeCloseTo((0 - 0.25) / 0.25, 6);
    expect(input.data[32]).toBeCloseTo(1, 6);
  });

  it('interleaves channels for NHWC', async () => {
    const manifest = manifestWith({ layout: 'NHWC' });

    const input = await prepareInput(manifest, solidImage(4, 4, [255, 0, 51]));

    expect(input.dims).toEqual([1, 4, 4, 3]);
    expect(Array.from(input.data.subarray(0, 6))).toEqual([1, 0, 0.2, 1, 0, 0.2].map(Math.fround));
  });

  it('fills padding with the pad value', async () => {
    const manifest = manifestWith({ resize: { mode: 'keep-aspect-pad', width: 8, height: 4 }, pad_value: -1 });

    const input = await prepareInput(manifest, solidImage(2, 2, [255, 255, 255]));

    expect(input.geometry.contentWidth).toBe(4);
    const firstRow = Array.from(input.data.subarray(0, 8));
    expect(firstRow).toEqual([1, 1, 1, 1, -1, -1, -1, -1]);
  });

  it('resizes with sharp', async () => {
    const manifest = manifestWith({ resize: { mode: 'stretch', width: 3, height: 2 } });

    const input = await prepareInput(manifest, solidImage(30, 20, [255, 255, 255]));

    expect(input.dims).toEqual([1, 3, 2, 3]);
    expect(Array.from(input.data).every((value) => Math.abs(value - 1) < 1e-6)).toBe(true);
  });

  it('rejects a pixel buffer of the wrong size', async () => {
    const image: DecodedImage = { pixels: Buffer.alloc(10), width: 4, height: 4, format: 'raw' };

    await expect(prepareInput(classifierManifest(), image)).rejects.toThrow(
      'A decoded image must hold width x height x 3 bytes: got 10 bytes for 4 x 4.',
    );
  });
});

describe('toFeeds', () => {
  it('stacks images into one batch', async () => {
    const manifest = classifierManifest();
    const white = await prepareInput(manifest, solidImage(4, 4, [255, 255, 255]));
    const black = await prepareInput(manifest, solidImage(4, 4, [0, 0, 0]));

    const feeds = toFeeds(manifest, [white, black]);

    const tensor = feeds.x!;
    expect(tensor.dims).toEqual([2, 3, 4, 4]);
    expect(tensor.data[0]).toBe(1);
    expect(tensor.data[48]).toBe(0);
  });
});
