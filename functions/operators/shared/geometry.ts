/**
 * Conversions between Clarifai bounding boxes (fractions 0 to 1 of an image's height and
 * width) and pixel rectangles, and the tile grid of the image tiler.
 */
import type { BoundingBox } from '#commons/clarifai/types.ts';
import type { Box } from '#commons/models/decoders/nms.ts';

/** A rectangle in whole pixels, as sharp's `extract` takes it. */
export interface PixelRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** The bounding box that covers a whole image. */
export const WHOLE_IMAGE: BoundingBox = { top_row: 0, left_col: 0, bottom_row: 1, right_col: 1 };

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

/**
 * Returns the pixels a bounding box covers in a `width` x `height` image, grown on each side
 * by `margin` times the box's own width (left and right) and height (top and bottom).
 * Edges are rounded outwards and clamped to the image; the result is at least 1 x 1.
 */
export function toPixelRect(box: BoundingBox, width: number, height: number, margin = 0): PixelRect {
  const boxWidth = (box.right_col - box.left_col) * width;
  const boxHeight = (box.bottom_row - box.top_row) * height;
  const left = clamp(Math.floor(box.left_col * width - margin * boxWidth), 0, width - 1);
  const top = clamp(Math.floor(box.top_row * height - margin * boxHeight), 0, height - 1);
  const right = clamp(Math.ceil(box.right_col * width + margin * boxWidth), left + 1, width);
  const bottom = clamp(Math.ceil(box.bottom_row * height + margin * boxHeight), top + 1, height);
  return { left, top, width: right - left, height: bottom - top };
}

/** Returns the bounding box of a pixel rectangle in a `width` x `height` image. */
export function toBoundingBox(rect: PixelRect, width: number, height: number): BoundingBox {
  return {
    top_row: rect.top / height,
    left_col: rect.left / width,
    bottom_row: (rect.top + rect.height) / height,
    right_col: (rect.left + rect.width) / width,
  };
}

/**
 * Maps `inner`, a box relative to the area `outer` of an image (such as a detection on a
 * crop), to a box relative to the whole image.
 */
export function placeInside(inner: BoundingBox, outer: BoundingBox): BoundingBox {
  const outerHeight = outer.bottom_row - outer.top_row;
  const outerWidth = outer.right_col - outer.left_col;
  return {
    top_row: outer.top_row + inner.top_row * outerHeight,
    left_col: outer.left_col + inner.left_col * outerWidth,
    bottom_row: outer.top_row + inner.bottom_row * outerHeight,
    right_col: outer.left_col + inner.right_col * outerWidth,
  };
}

export function toBox(box: BoundingBox): Box {
  return { top: box.top_row, left: box.left_col, bottom: box.bottom_row, right: box.right_col };
}

/**
 * Returns the start offsets of tiles of `tileSize` along an axis of `length` pixels, each
 * tile overlapping the previous one by at least `overlap`. The last tile ends at the edge,
 * so it may overlap more; an axis no longer than a tile gets one tile.
 */
export function tileOffsets(length: number, tileSize: number, overlap: number): number[] {
  if (length <= tileSize) {
    return [0];
  }
  const step = tileSize - overlap;
  const offsets: number[] = [];
  for (let offset = 0; offset + tileSize < length; offset += step) {
    offsets.push(offset);
  }
  offsets.push(length - tileSize);
  return offsets;
}

/**
 * Splits a `width` x `height` image into tiles of at most `tileSize` x `tileSize` pixels
 * that overlap by at least `overlap` pixels, row by row from the top left.
 */
export function tileGrid(width: number, height: number, tileSize: number, overlap: number): PixelRect[] {
  const tiles: PixelRect[] = [];
  for (const top of tileOffsets(height, tileSize, overlap)) {
    for (const left of tileOffsets(width, tileSize, overlap)) {
      tiles.push({ left, top, width: Math.min(tileSize, width), height: Math.min(tileSize, height) });
    }
  }
  return tiles;
}
