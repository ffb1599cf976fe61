import sharp from 'sharp';
import { beforeAll, describe, expect, test } from 'vitest';

import { decodeImage } from '#commons/image/decode.ts';
import type { DecodedImage } from '#commons/image/types.ts';

import { meanAbsoluteError, pixelAt, readFixture } from './helpers.ts';

/** Builds an 8-bit raw RGB or RGBA buffer of `width` x `height` pixels, all of one colour. */
function solidPixels(width: number, height: number, colour: readonly number[]): Buffer {
  return Buffer.alloc(width * height * colour.length).fill(Buffer.from(colour));
}

function expectRgbLayout(image: DecodedImage, width: number, height: number): void {
  expect(image.width).toBe(width);
  expect(image.height).toBe(height);
  expect(image.pixels.length).toBe(width * height * 3);
}

describe('decodeImage', () => {
  let chelsea: Buffer;
  let reference: DecodedImage;

  beforeAll(async () => {
    chelsea = await readFixture('chelsea.jpg');
    reference = await decodeImage(chelsea);
  });

  test('jpeg fixture', () => {
    expect(reference.format).toBe('jpeg');
    expectRgbLayout(reference, 400, 266);

    // A photo, not a flat fill: the channel values spread over most of the 0-255 range.
    const values = new Set(reference.pixels);
    expect(values.size).toBeGreaterThan(200);
  });

  // Lossy encoders change single pixels, so each decode is compared with the JPEG decode on
  // average. A wrong channel order, a grey fill or a shifted image gives an error above 20.
  test.each([
    { format: 'webp', encode: (input: Buffer) => sharp(input).webp().toBuffer(), maxError: 6 },
    { format: 'gif', encode: (input: Buffer) => sharp(input).gif().toBuffer(), maxError: 6 },
    { format: 'tiff', encode: (input: Buffer) => sharp(input).tiff().toBuffer(), maxError: 6 },
    { format: 'avif', encode: (input: Buffer) => sharp(input).avif().toBuffer(), maxError: 6 },
    { format: 'png', encode: (input: Buffer) => sharp(input).png().toBuffer(), maxError: 0 },
  ])('$format variant', async ({ format, encode, maxError }) => {
    const encoded = await encode(chelsea);

    const image = await decodeImage(encoded);

    expect(image.format).toBe(format);
    expectRgbLayout(image, 400, 266);
    expect(meanAbsoluteError(image, reference)).toBeLessThanOrEqual(maxError);
  });

  test('16-bit png', async () => {
    const png16 = await sharp(chelsea).toColourspace('rgb16').png().toBuffer();
    const header = await sharp(png16).metadata();
    expect(header.depth).toBe('ushort');

    const image = await decodeImage(png16);

    expect(image.format).toBe('png');
    expectRgbLayout(image, 400, 266);
    // Every 8-bit value v was stored as v * 257, so scaling back must give the same pixels.
    expect(meanAbsoluteError(image, reference)).toBe(0);
  });

  test('greyscale png becomes rgb', async () => {
    const page = await readFixture('page.png');
    const header = await sharp(page).metadata();
    expect(header.channels).toBe(1);

    const image = await decodeImage(page);

    expectRgbLayout(image, header.width, header.height);
    let differentChannels = 0;
    for (let offset = 0; offset < image.pixels.length; offset += 3) {
      const [red, green, blue] = [image.pixels[offset], image.pixels[offset + 1], image.pixels[offset + 2]];
      if (red !== green || green !== blue) {
        differentChannels += 1;
      }
    }
    expect(differentChannels).toBe(0);
  });

  test('cmyk jpeg red stays red', async () => {
    const red = sharp(solidPixels(32, 32, [255, 0, 0]), { raw: { width: 32, height: 32, channels: 3 } });
    const cmyk = await red.toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    const header = await sharp(cmyk).metadata();
    expect(header.space).toBe('cmyk');
    expect(header.channels).toBe(4);

    const image = await decodeImage(cmyk);

    expectRgbLayout(image, 32, 32);
    // The sRGB -> CMYK -> sRGB round trip through ICC profiles gives about (232, 0, 21).
    const [r, g, b] = pixelAt(image, 16, 16);
    expect(r).toBeGreaterThan(200);
    expect(g).toBeLessThan(40);
    expect(b).toBeLessThan(60);
  });

  test('display p3 jpeg converted to srgb', async () => {
    const red = sharp(solidPixels(32, 32, [255, 0, 0]), { raw: { width: 32, height: 32, channels: 3 } });
    // Stored as P3 values (about 234, 51, 35) with the P3 profile embedded.
    const p3 = await red.withIccProfile('p3').jpeg({ quality: 95 }).toBuffer();
    const header = await sharp(p3).metadata();
    expect(header.hasProfile).toBe(true);

    const image = await decodeImage(p3);

    const [r, g, b] = pixelAt(image, 16, 16);
    expect(r).toBeGreaterThan(245);
    expect(g).toBeLessThan(15);
    expect(b).toBeLessThan(15);
  });

  test('png alpha flattened onto white', async () => {
    // Three 8-pixel-wide bands: transparent black, half-transparent black, opaque red.
    const width = 24;
    const height = 8;
    const rgba = Buffer.alloc(width * height * 4);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) {
        const colour = x < 8 ? [0, 0, 0, 0] : x < 16 ? [0, 0, 0, 128] : [255, 0, 0, 255];
        rgba.set(colour, (y * width + x) * 4);
      }
    }
    const png = await sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer();

    const image = await decodeImage(png);

    expectRgbLayout(image, width, height);
    expect(pixelAt(image, 2, 4)).toEqual([255, 255, 255]);
    const [grey] = pixelAt(image, 12, 4);
    expect(grey).toBeGreaterThanOrEqual(125);
    expect(grey).toBeLessThanOrEqual(129);
    expect(pixelAt(image, 20, 4)).toEqual([255, 0, 0]);
  });

  test('exif orientation 6 rotates', async () => {
    const tagged = await sharp(chelsea).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toBuffer();
    const header = await sharp(tagged).metadata();
    expect(header.orientation).toBe(6);
    expect([header.width, header.height]).toEqual([400, 266]);
    const rotatedByHand = await decodeImage(await sharp(chelsea).rotate(90).png().toBuffer());

    const image = await decodeImage(tagged);

    expectRgbLayout(image, 266, 400);
    expect(meanAbsoluteError(image, rotatedByHand)).toBeLessThan(4);
  });

  test('animated gif first frame', async () => {
    // Two 16 x 16 frames stacked vertically: red, then blue.
    const frames = Buffer.concat([solidPixels(16, 16, [255, 0, 0]), solidPixels(16, 16, [0, 0, 255])]);
    const gif = await sharp(frames, { raw: { width: 16, height: 32, channels: 3, pageHeight: 16 } })
      .gif({ delay: [100, 100] })
      .toBuffer();
    const header = await sharp(gif).metadata();
    expect(header.pages).toBe(2);

    const image = await decodeImage(gif);

    expect(image.format).toBe('gif');
    expectRgbLayout(image, 16, 16);
    expect(pixelAt(image, 0, 0)).toEqual([255, 0, 0]);
    expect(pixelAt(image, 15, 15)).toEqual([255, 0, 0]);
  });
});
