import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { intersectionOverUnion } from '#commons/models/decoders/nms.ts';
import { getImageBytes } from '#commons/storage/images.ts';
import type { Crop, NodeOutput, S3Ref } from '#commons/workflows/node-data.ts';
import { type CropRun, mergeCropRuns } from '#commons/workflows/task-event.ts';
import { imageTiling } from '../../functions/operators/image-tiling/operator.ts';
import { toBox } from '../../functions/operators/shared/geometry.ts';
import { tilingRegionAggregator } from '../../functions/operators/tiling-region-aggregator/operator.ts';
import { type LocalServices, modelOutput, nodeEvent, readFixture, runOperator, startServices, uploadImage } from './helpers.ts';

// Six copies of the printed page, two across and three down with white gutters between
// them: 832 x 669 pixels, so that 400-pixel tiles split the image but every text line lies
// whole inside some tile.
const MOSAIC_WIDTH = 832;
const MOSAIC_HEIGHT = 669;
const TILING = { model_metadata: { tile_size: 400, max_object_size: 32 } };

let services: LocalServices;
let mosaic: Buffer;
let mosaicImage: S3Ref;
let whole: NodeOutput;
let tiles: Crop[];

beforeAll(async () => {
  services = await startServices();
  const page = await readFixture('page.png');
  const copies = [0, 1, 2].flatMap((row) => [0, 1].map((column) => ({ input: page, left: column * 448, top: row * 239 })));
  mosaic = await sharp({ create: { width: MOSAIC_WIDTH, height: MOSAIC_HEIGHT, channels: 3, background: '#ffffff' } })
    .composite(copies)
    .png()
    .toBuffer();
  mosaicImage = await uploadImage(services.bucket, 'uploads/main/mosaic.png', mosaic);
  whole = await modelOutput('detection', 'ocr-text-detector', mosaic);

  const tiled = await runOperator(imageTiling, TILING, nodeEvent(imageTiling, { image: mosaicImage, inputId: 'mosaic.png' }));
  tiles = tiled.crops ?? [];
});

afterAll(async () => {
  await services?.stop();
});

let merged: NodeOutput | undefined;

/** Runs the detector on each tile, then merges the runs with the engine's own merge. */
async function detectOnTiles(): Promise<NodeOutput> {
  if (merged !== undefined) {
    return merged;
  }
  const runs: CropRun[] = [];
  for (const tile of tiles) {
    const detected = await modelOutput('detection', 'ocr-text-detector', await getImageBytes(tile.image, 10_000_000));
    runs.push({ crop: tile, outputs: { detection: { ...detected, gates: {} } } });
  }
  merged = mergeCropRuns(runs, 'detection', { node_id: 'detection' });
  return merged;
}

describe('image-tiling', () => {
  it('covers the image with overlapping tiles', () => {
    const rects = tiles.map((tile) => {
      const box = tile.region.region_info.bounding_box;
      return {
        left: Math.round(box.left_col * MOSAIC_WIDTH),
        top: Math.round(box.top_row * MOSAIC_HEIGHT),
        right: Math.round(box.right_col * MOSAIC_WIDTH),
        bottom: Math.round(box.bottom_row * MOSAIC_HEIGHT),
      };
    });

    // Tiles step by 400 - 32 = 368 pixels, and the last one in a row or column ends at the edge:
    // columns start at 0, 368 and 832 - 400 = 432, rows at 0 and 669 - 400 = 269.
    expect(rects).toEqual([
      { left: 0, top: 0, right: 400, bottom: 400 },
      { left: 368, top: 0, right: 768, bottom: 400 },
      { left: 432, top: 0, right: 832, bottom: 400 },
      { left: 0, top: 269, right: 400, bottom: 669 },
      { left: 368, top: 269, right: 768, bottom: 669 },
      { left: 432, top: 269, right: 832, bottom: 669 },
    ]);
    expect(new Set(tiles.map((tile) => tile.region.id)).size).toBe(6);
    expect(tiles.map((tile) => tile.image.key)).toEqual([0, 1, 2, 3, 4, 5].map((index) => `derived/uploads/main/mosaic.png/image-tiling-node/tile-${index}.png`));
  });

  it('stores the pixels of each tile', async () => {
    for (const tile of tiles) {
      const box = tile.region.region_info.bounding_box;
      const rect = { left: Math.round(box.left_col * MOSAIC_WIDTH), top: Math.round(box.top_row * MOSAIC_HEIGHT), width: 400, height: 400 };
      const expected = await sharp(mosaic).extract(rect).removeAlpha().raw().toBuffer();
      const actual = await sharp(await getImageBytes(tile.image, 10_000_000)).removeAlpha().raw().toBuffer();

      expect(actual.equals(expected), `tile ${tile.image.key}`).toBe(true);
    }
  });

  it('makes one tile of a small image', async () => {
    const output = await runOperator(imageTiling, { model_metadata: { tile_size: 1024 } }, nodeEvent(imageTiling, { image: mosaicImage, inputId: 'mosaic.png', nodeId: 'big-tiles' }));

    expect(output.crops).toHaveLength(1);
    expect(output.crops?.[0]?.region.region_info.bounding_box).toEqual({ top_row: 0, left_col: 0, bottom_row: 1, right_col: 1 });
  });

  it('rejects an overlap as large as the tile', () => {
    expect(() => imageTiling.validateParams({ concepts: [], model_metadata: { tile_size: 256, max_object_size: 256 } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid image-tiling parameter output_info.output_config.model_metadata.max_object_size: got 256. Set it to a whole ' +
          'number from 0 to 255: the overlap between tiles in pixels, below tile_size; objects up to this size are never split.',
      }),
    );
  });

  it('rejects a fractional tile size', () => {
    expect(() => imageTiling.validateParams({ concepts: [], model_metadata: { tile_size: 300.5 } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid image-tiling parameter output_info.output_config.model_metadata.tile_size: got 300.5. Set it to a whole ' +
          'number from 32 to 8192: the width and height of a tile in pixels.',
      }),
    );
  });
});

describe('tiling-region-aggregator', () => {
  it('finds the text regions of the whole image', async () => {
    const tiled = await detectOnTiles();

    const output = await runOperator(
      tilingRegionAggregator,
      { model_metadata: { overlap_metric: 'IOS', overlap_threshold: 0.5 } },
      nodeEvent(tilingRegionAggregator, { upstream: [tiled] }),
    );

    const wholeRegions = whole.data.regions ?? [];
    const tiledRegions = output.data.regions ?? [];
    // Each copy of the page has 7 text lines.
    expect(wholeRegions.length).toBeGreaterThanOrEqual(42);
    expect(tiledRegions).toHaveLength(wholeRegions.length);
    for (const region of wholeRegions) {
      const box = toBox(region.region_info.bounding_box);
      const best = Math.max(...tiledRegions.map((tiled) => intersectionOverUnion(box, toBox(tiled.region_info.bounding_box))));
      // The detector scales a tile up more than the whole image, so box edges move by a few
      // pixels: a 380 x 29 box becomes 375 x 23 (IoU 0.78).
      expect(best, `region ${JSON.stringify(region.region_info.bounding_box)}`).toBeGreaterThan(0.7);
    }
    const mergedIds = new Set((tiled.data.regions ?? []).map((region) => region.id));
    for (const region of tiledRegions) {
      expect(region.data.concepts.map((concept) => concept.id)).toEqual(['text']);
      expect(mergedIds.has(region.id), `region ${region.id}`).toBe(true);
    }
    expect(new Set(tiledRegions.map((region) => region.id)).size).toBe(tiledRegions.length);
  });

  it('keeps cut-off duplicates with IOU', async () => {
    const tiled = await detectOnTiles();
    const detections = (tiled.data.regions ?? []).filter((region) => region.data.concepts.length > 0).length;

    const output = await runOperator(tilingRegionAggregator, {}, nodeEvent(tilingRegionAggregator, { upstream: [tiled] }));

    // A line that a tile edge cuts off overlaps its whole copy by less than 0.5 IoU, so plain
    // NMS keeps both. It still removes the exact duplicates in the overlap.
    expect(output.data.regions?.length).toBeLessThan(detections);
    expect(output.data.regions?.length).toBeGreaterThan(whole.data.regions?.length ?? Infinity);
  });

  it('rejects an unknown overlap metric', () => {
    expect(() => tilingRegionAggregator.validateParams({ concepts: [], model_metadata: { overlap_metric: 'GIOU' } })).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_PARAMETER',
        message:
          'Invalid tiling-region-aggregator parameter output_info.output_config.model_metadata.overlap_metric: got "GIOU". ' +
          'Use one of IOU, IOS: intersection over union, or over the smaller box.',
      }),
    );
  });
});
