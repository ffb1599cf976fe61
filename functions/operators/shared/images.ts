/**
 * Reading the image an operator runs on and writing the crops it cuts out of it.
 */
import { config } from '#commons/config.ts';
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { BoundingBox, Region } from '#commons/clarifai/types.ts';
import { decodeImage, imageLimitsFromEnv } from '#commons/image/decode.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { getImageBytes, putImage } from '#commons/storage/images.ts';
import { type Crop, type NodeTaskEvent, nodeObjectKey } from '#commons/workflows/node-data.ts';
import { type PixelRect, WHOLE_IMAGE, placeInside, toBoundingBox } from './geometry.ts';

/** The image a node works on, and the area of the input image it shows. */
export interface SourceImage {
  image: DecodedImage;
  /** Area of the input image that `image` shows: the whole image, or the crop being processed. */
  area: BoundingBox;
}

/**
 * Loads the image the node of `event` runs on: the crop inside a crop scope, otherwise the
 * input image. It is decoded as the models decode it (orientation applied, sRGB, no alpha),
 * so boxes that a model returned for it address the same pixels.
 */
export async function loadSourceImage(event: Pick<NodeTaskEvent, 'input' | 'crop'>): Promise<SourceImage> {
  const limits = imageLimitsFromEnv();
  const ref = event.crop?.image ?? event.input.image;
  const bytes = await getImageBytes(ref, limits.maxBytes);
  const image = await decodeImage(bytes, limits);
  return { image, area: event.crop?.region.region_info.bounding_box ?? WHOLE_IMAGE };
}

/** Encodes the pixels of `rect` as a lossless PNG. */
export function encodeCrop(image: DecodedImage, rect: PixelRect): Promise<Buffer> {
  return sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract(rect)
    .png()
    .toBuffer();
}

/** Replaces the characters that should not appear in an S3 key segment. */
export function safeKeySegment(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]/g, '-');
}

/** Returns a 32-hex-digit id derived from `parts`, so the same crop always gets the same id. */
export function derivedId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}

/**
 * Cuts `rect` out of the source image, stores it as PNG under the node's derived-object key
 * `name` in the input's bucket, and returns the crop with `region` placed at the crop's
 * position in the input image.
 */
export async function writeCrop(
  event: Pick<NodeTaskEvent, 'input' | 'node' | 'crop'>,
  source: SourceImage,
  rect: PixelRect,
  name: string,
  region: Omit<Region, 'region_info'>,
): Promise<Crop> {
  const bytes = await encodeCrop(source.image, rect);
  // The Percept bucket, not the input's: an input may come from an external bucket that
  // node functions can only read.
  const image = { bucket: config.bucketName, key: nodeObjectKey(event, name) };
  await putImage(image, bytes);
  const box = placeInside(toBoundingBox(rect, source.image.width, source.image.height), source.area);
  return { image, region: { ...region, region_info: { bounding_box: box } } };
}
