/**
 * Image tiler: splits the image into overlapping square tiles stored in S3 as PNG, so that
 * a detector can run on each tile at full resolution. Tiles overlap by `max_object_size`
 * pixels, so every object up to that size lies whole inside at least one tile. The
 * tiling-region-aggregator maps the tiles' detections back to the image.
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import type { Crop } from '#commons/workflows/node-data.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { tileGrid } from '../shared/geometry.ts';
import { derivedId, loadSourceImage, writeCrop } from '../shared/images.ts';
import { ParamReader } from '../shared/params.ts';

export interface ImageTilingParams {
  /** Width and height of a tile, in pixels; a tile is smaller when the image is. */
  tileSize: number;
  /** Overlap between neighbouring tiles, in pixels. */
  maxObjectSize: number;
}

const MIN_TILE_SIZE = 32;
const MAX_TILE_SIZE = 8192;
const DEFAULT_TILE_SIZE = 512;
// Bounds the model runs per input and the crop list passed between states, which Step
// Functions caps at 256 KB in all.
const MAX_TILES = 256;

export const imageTiling: Operator<ImageTilingParams> = {
  typeId: 'image-tiling',
  description: 'Splits the image into overlapping square tiles for a detector to run on one by one.',
  inputKinds: ['image'],
  outputKind: 'crops',

  validateParams(raw) {
    const params = new ParamReader('image-tiling', raw);
    const tileSize = params.number(
      'tile_size',
      DEFAULT_TILE_SIZE,
      { min: MIN_TILE_SIZE, max: MAX_TILE_SIZE, integer: true },
      'the width and height of a tile in pixels',
    );
    const maxObjectSize = params.number(
      'max_object_size',
      Math.floor(tileSize / 4),
      { min: 0, max: tileSize - 1, integer: true },
      'the overlap between tiles in pixels, below tile_size; objects up to this size are never split',
    );
    params.rejectUnknownKeys();
    return { tileSize, maxObjectSize };
  },

  async run(event, params) {
    const source = await loadSourceImage(event);
    const { width, height } = source.image;
    const rects = tileGrid(width, height, params.tileSize, params.maxObjectSize);
    if (rects.length > MAX_TILES) {
      throw new InvalidInputError(
        'TOO_MANY_TILES',
        `Tiling a ${width} x ${height} image into ${params.tileSize}-pixel tiles with ${params.maxObjectSize} pixels of overlap ` +
          `gives ${rects.length} tiles, more than the limit of ${MAX_TILES}. Raise tile_size or lower max_object_size.`,
        StatusCode.MODEL_INVALID_ARGUMENT,
      );
    }

    const crops: Crop[] = [];
    for (const [index, rect] of rects.entries()) {
      const id = derivedId(event.node.id, String(rect.left), String(rect.top), String(rect.width), String(rect.height));
      crops.push(await writeCrop(event, source, rect, `tile-${index}.png`, { id, data: { concepts: [] } }));
    }
    return outputOf(event, { data: { regions: crops.map((crop) => crop.region) }, crops });
  },
};
