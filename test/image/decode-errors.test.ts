import { crc32 } from 'node:zlib';

import sharp from 'sharp';
import { beforeAll, describe, expect, test } from 'vitest';

import { StatusCode } from '#commons/errors.ts';
import { DEFAULT_IMAGE_LIMITS, decodeImage } from '#commons/image/decode.ts';

import { invalidInputFrom, readFixture } from './helpers.ts';

/** Builds a 2 x 2, 24-bit Windows bitmap: a 14-byte file header, a 40-byte DIB header, two padded rows. */
function tinyBmp(): Buffer {
  const bmp = Buffer.alloc(70);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(bmp.length, 2);
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(2, 18);
  bmp.writeInt32LE(2, 22);
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  bmp.writeUInt32LE(16, 34);
  return bmp;
}

/**
 * Builds an 8 x 8 PNG and rewrites its IHDR chunk, CRC included, to claim 50000 x 50000 pixels.
 * The header parses, and decoding would need 7.5 GB for the RGB pixels.
 */
async function headerOnlyPngBomb(): Promise<Buffer> {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000000' } }).png().toBuffer();
  const bomb = Buffer.from(png);
  // The IHDR chunk starts at byte 8: length (4), type (4), width (4), height (4), ..., CRC at 29.
  bomb.writeUInt32BE(50_000, 16);
  bomb.writeUInt32BE(50_000, 20);
  bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)), 29);
  return bomb;
}

describe('decodeImage errors', () => {
  let chelsea: Buffer;

  beforeAll(async () => {
    chelsea = await readFixture('chelsea.jpg');
  });

  test('empty buffer', async () => {
    const error = await invalidInputFrom(() => decodeImage(Buffer.alloc(0)));

    expect(error.code).toBe('EMPTY_IMAGE');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain('The image is empty (0 bytes)');
    expect(error.message).toContain('Send the bytes of a JPEG, PNG');
  });

  test('json text', async () => {
    const json = Buffer.from(JSON.stringify({ inputs: [{ data: { image: { url: 'https://example.com/a.jpg' } } }] }));

    const error = await invalidInputFrom(() => decodeImage(json));

    expect(error.code).toBe('NOT_AN_IMAGE');
    expect(error.httpStatus).toBe(400);
    expect(error.statusCode).toBe(StatusCode.INPUT_INVALID_REQUEST);
    expect(error.message).toContain('is not an image');
    expect(error.message).toContain('7b 22 69 6e');
    expect(error.message).toContain('{\\"inputs\\"');
    expect(error.message).toContain('not text, JSON or an HTML page');
    expect(error.cause).toBeInstanceOf(Error);
  });

  test('truncated jpeg', async () => {
    const half = chelsea.subarray(0, Math.floor(chelsea.length / 2));

    const error = await invalidInputFrom(() => decodeImage(half));

    expect(error.code).toBe('IMAGE_TRUNCATED');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain(`The JPEG image (${half.length} bytes) is truncated or corrupt`);
    expect(error.message).toContain('premature end');
    expect(error.message).toContain('Send the complete, unmodified file');
    expect(error.cause).toBeInstanceOf(Error);
  });

  test('truncated png', async () => {
    const page = await readFixture('page.png');
    const half = page.subarray(0, Math.floor(page.length / 2));

    const error = await invalidInputFrom(() => decodeImage(half));

    expect(error.code).toBe('IMAGE_TRUNCATED');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain('The PNG image');
    expect(error.message).toContain('truncated or corrupt');
    expect(error.cause).toBeInstanceOf(Error);
  });

  test('png cut inside header', async () => {
    const page = await readFixture('page.png');

    const error = await invalidInputFrom(() => decodeImage(page.subarray(0, 30)));

    expect(error.code).toBe('IMAGE_TRUNCATED');
    expect(error.message).toContain('The PNG image (30 bytes) is truncated or corrupt');
  });

  test('truncated tiff', async () => {
    // sharp writes the TIFF directory after the pixel data, so the first half has no directory
    // and sharp reports an unknown format: the TIFF signature still identifies it.
    const tiff = await sharp(chelsea).tiff().toBuffer();

    const error = await invalidInputFrom(() => decodeImage(tiff.subarray(0, Math.floor(tiff.length / 2))));

    expect(error.code).toBe('IMAGE_TRUNCATED');
    expect(error.message).toContain('The TIFF image');
  });

  test('svg rejected', async () => {
    const svg = Buffer.from(
      '\uFEFF<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>',
    );

    const error = await invalidInputFrom(() => decodeImage(svg));

    expect(error.code).toBe('UNSUPPORTED_IMAGE_FORMAT');
    expect(error.httpStatus).toBe(400);
    expect(error.statusCode).toBe(StatusCode.INPUT_UNSUPPORTED_FORMAT);
    expect(error.message).toContain('The image is in SVG format, which Percept does not accept');
    expect(error.message).toContain('Convert it to JPEG, PNG, WebP, GIF, TIFF or AVIF');
  });

  test.each([
    { name: 'BMP', bytes: tinyBmp() },
    { name: 'PDF', bytes: Buffer.from('%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n') },
    // Only the leading `ftyp` box of a HEIC photo: major brand heic, compatible brands mif1 and heic.
    { name: 'HEIC', bytes: Buffer.from('00000018667479706865696300000000' + '6d69663168656963', 'hex') },
    // Only the JPEG 2000 signature box and the start of the `ftyp` box.
    { name: 'JPEG 2000', bytes: Buffer.from('0000000c6a5020200d0a870a00000014667479706a703220', 'hex') },
  ])('$name rejected', async ({ name, bytes }) => {
    const error = await invalidInputFrom(() => decodeImage(bytes));

    expect(error.code).toBe('UNSUPPORTED_IMAGE_FORMAT');
    expect(error.httpStatus).toBe(400);
    expect(error.statusCode).toBe(StatusCode.INPUT_UNSUPPORTED_FORMAT);
    expect(error.message).toContain(`in ${name} format`);
  });

  test('too many pixels', async () => {
    const limits = { maxBytes: DEFAULT_IMAGE_LIMITS.maxBytes, maxPixels: 10_000 };

    const error = await invalidInputFrom(() => decodeImage(chelsea, limits));

    expect(error.code).toBe('TOO_MANY_PIXELS');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain('The image is 400 x 266 = 106400 pixels, above the limit of 10000 pixels');
    expect(error.message).toContain('Resize it to at most 122 x 81');
    expect(error.message).toContain('IMAGE_MAX_PIXELS');
    // No sharp error as cause: the header check rejected it, not sharp's limitInputPixels.
    expect(error.cause).toBeUndefined();
  });

  test('header-only png bomb', async () => {
    const bomb = await headerOnlyPngBomb();
    expect(bomb.length).toBeLessThan(200);

    const error = await invalidInputFrom(() => decodeImage(bomb));

    // The file contains no pixel data for 50000 x 50000, so only a check on the header can give
    // TOO_MANY_PIXELS here. Decoding would give IMAGE_TRUNCATED.
    expect(error.code).toBe('TOO_MANY_PIXELS');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain(`50000 x 50000 = 2500000000 pixels, above the limit of ${DEFAULT_IMAGE_LIMITS.maxPixels}`);
    expect(error.cause).toBeUndefined();
  });

  test('file too large', async () => {
    const limits = { maxBytes: 1000, maxPixels: DEFAULT_IMAGE_LIMITS.maxPixels };

    const error = await invalidInputFrom(() => decodeImage(chelsea, limits));

    expect(error.code).toBe('FILE_TOO_LARGE');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain(`The image file is ${chelsea.length} bytes`);
    expect(error.message).toContain('above the limit of 1000 bytes');
    expect(error.message).toContain('Compress or downscale it');
    expect(error.message).toContain('IMAGE_MAX_BYTES');
  });

  test('invalid limits', async () => {
    await expect(decodeImage(chelsea, { maxBytes: 1000, maxPixels: 0 })).rejects.toThrow(
      'ImageLimits.maxPixels must be a positive integer, got 0.',
    );
  });
});
