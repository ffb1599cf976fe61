/** Loads fixture photos as `DecodedImage`s with sharp, forced to 3-channel sRGB. */
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import type { DecodedImage } from '#commons/image/types.ts';

const FIXTURES = path.resolve('test/fixtures/images');

async function toDecodedImage(pipeline: Sharp): Promise<DecodedImage> {
  const { data, info } = await pipeline
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) {
    throw new Error(`Expected 3 channels from sharp, got ${info.channels}.`);
  }
  return { pixels: data, width: info.width, height: info.height, format: info.format };
}

export function loadImage(name: string): Promise<DecodedImage> {
  return toDecodedImage(sharp(path.join(FIXTURES, name)));
}

/** Crops a rectangle (in pixels) out of a fixture, optionally rotated by 180 degrees. */
export async function cropImage(
  name: string,
  area: { left: number; top: number; width: number; height: number },
  rotate180 = false,
): Promise<DecodedImage> {
  const cropped = await sharp(path.join(FIXTURES, name)).extract(area).png().toBuffer();
  const image = sharp(cropped);
  return toDecodedImage(rotate180 ? image.rotate(180) : image);
}
