/** Image edits and vector maths shared by the zoo tests. */
import sharp, { type Sharp } from 'sharp';
import type { BoundingBox, Embedding, OutputData, Region } from '#commons/clarifai/types.ts';
import type { DecodedImage } from '#commons/image/types.ts';

export { cropImage, loadImage } from '../models/images.ts';

function sharpOf(image: DecodedImage): Sharp {
  return sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } });
}

async function toDecoded(pipeline: Sharp): Promise<DecodedImage> {
  const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { pixels: data, width: info.width, height: info.height, format: 'raw' };
}

/** Applies a sharp edit (resize, flip, blur, linear) to a decoded image. */
export async function edit(image: DecodedImage, change: (pipeline: Sharp) => Sharp): Promise<DecodedImage> {
  // Encode first so that sharp applies `change` to a plain image rather than a raw buffer.
  const png = await sharpOf(image).png().toBuffer();
  return toDecoded(change(sharp(png)));
}

/** Re-encodes an image as JPEG at `quality` and decodes it again. */
export async function jpegCopy(image: DecodedImage, quality: number): Promise<DecodedImage> {
  const jpeg = await sharpOf(image).jpeg({ quality }).toBuffer();
  return toDecoded(sharp(jpeg));
}

/** Crops a rectangle given in fractions of the image, clamped to the image. */
export async function cropFraction(image: DecodedImage, box: BoundingBox): Promise<DecodedImage> {
  const left = Math.max(0, Math.round(box.left_col * image.width));
  const top = Math.max(0, Math.round(box.top_row * image.height));
  const right = Math.min(image.width, Math.round(box.right_col * image.width));
  const bottom = Math.min(image.height, Math.round(box.bottom_row * image.height));
  return toDecoded(sharpOf(image).extract({ left, top, width: right - left, height: bottom - top }));
}

/**
 * Crops a square around a detected face, `factor` times the larger side of its box. Shifts move
 * the centre by fractions of that side.
 */
export async function faceCrop(
  image: DecodedImage,
  box: BoundingBox,
  factor = 1,
  shiftX = 0,
  shiftY = 0,
): Promise<DecodedImage> {
  const width = (box.right_col - box.left_col) * image.width;
  const height = (box.bottom_row - box.top_row) * image.height;
  const side = Math.max(width, height);
  const centreX = ((box.left_col + box.right_col) / 2) * image.width + shiftX * side;
  const centreY = ((box.top_row + box.bottom_row) / 2) * image.height + shiftY * side;
  const half = (side * factor) / 2;
  return cropFraction(image, {
    left_col: (centreX - half) / image.width,
    top_row: (centreY - half) / image.height,
    right_col: (centreX + half) / image.width,
    bottom_row: (centreY + half) / image.height,
  });
}

/** Returns the dot product of two L2-normalized vectors: their cosine similarity. */
export function cosine(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) {
    throw new RangeError(`Vectors of different lengths: ${a.length} and ${b.length}.`);
  }
  return a.reduce((sum, value, index) => sum + value * (b[index] as number), 0);
}

/** Returns the single embedding of an output, failing the test when there is none. */
export function embeddingOf(output: OutputData | undefined): Embedding {
  const embedding = output?.embeddings?.[0];
  if (embedding === undefined) {
    throw new Error(`Expected one embedding, got ${JSON.stringify(output)}.`);
  }
  return embedding;
}

export function regionsOf(output: OutputData | undefined): Region[] {
  return output?.regions ?? [];
}

/** Returns the concept id of each region, best first. */
export function regionConcepts(output: OutputData | undefined): string[] {
  return regionsOf(output).map((region) => region.data.concepts[0]?.id ?? '');
}
