/**
 * Image decoding for every model: turns the bytes of an uploaded file into 8-bit sRGB pixels
 * with sharp. Size, format and pixel count are checked first, so an oversized file or a
 * decompression bomb is rejected before its pixels are decoded.
 */
import sharp, { type Metadata, type OutputInfo } from 'sharp';

import { InvalidInputError, StatusCode } from '#commons/errors.ts';

import { SUPPORTED_FORMATS_TEXT, formatName, isSupportedFormat, sniffFormat } from './format.ts';
import { DEFAULT_IMAGE_LIMITS } from './limits.ts';
import type { DecodedImage, ImageLimits } from './types.ts';

export { parseBase64Image } from './base64.ts';
export { DEFAULT_IMAGE_LIMITS, imageLimitsFromEnv } from './limits.ts';
export { SUPPORTED_FORMATS, type SupportedFormat } from './format.ts';

// White, because transparent areas are shown on white by browsers and document viewers, and
// dark text or line art on a transparent background (logos, scans, screenshots) stays legible
// for OCR and detection, where black would hide it.
const FLATTEN_BACKGROUND = '#ffffff';

/**
 * sharp's most sensitive level, which the sharp 0.35 documentation of `failOn` recommends for
 * untrusted input. A truncated or corrupt file fails instead of decoding to grey or partial pixels.
 * NOTE: this level also rejects files on which the decoder only printed a warning. If
 * valid-looking photos are rejected as IMAGE_TRUNCATED, 'error' is the next level down.
 */
const FAIL_ON = 'warning';

const MIB = 1024 * 1024;

function formatMebibytes(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

/** First line of a libvips error, which often repeats the same lines several times. */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]?.trim() ?? '';
}

/** Shows the first bytes of an unrecognised file in hex, plus as text when they are printable. */
function describeLeadingBytes(bytes: Buffer): string {
  const head = bytes.subarray(0, 16);
  const hex = head.toString('hex').replace(/(..)(?!$)/g, '$1 ');
  const text = head.toString('latin1');
  if (/^[\x20-\x7e\t\r\n]+$/.test(text)) {
    return `${hex} (text ${JSON.stringify(text)})`;
  }
  return hex;
}

function unsupportedFormat(format: string): InvalidInputError {
  return new InvalidInputError(
    'UNSUPPORTED_IMAGE_FORMAT',
    `The image is in ${formatName(format)} format, which Percept does not accept. ` +
      `Convert it to ${SUPPORTED_FORMATS_TEXT} and send it again.`,
    StatusCode.INPUT_UNSUPPORTED_FORMAT,
  );
}

function truncatedImage(format: string | undefined, bytes: Buffer, cause: unknown): InvalidInputError {
  const subject = format === undefined ? 'The image' : `The ${formatName(format)} image`;
  return new InvalidInputError(
    'IMAGE_TRUNCATED',
    `${subject} (${bytes.length} bytes) is truncated or corrupt and could not be decoded: ${firstLine(cause)}. ` +
      'Send the complete, unmodified file, and if it was sent as base64 or uploaded in parts, check that nothing was cut off.',
    StatusCode.INPUT_INVALID_REQUEST,
    cause,
  );
}

function tooManyPixels(width: number, height: number, maxPixels: number, cause?: unknown): InvalidInputError {
  const pixels = width * height;
  const scale = Math.sqrt(maxPixels / pixels);
  const fittingWidth = Math.max(1, Math.floor(width * scale));
  const fittingHeight = Math.max(1, Math.floor(height * scale));
  return new InvalidInputError(
    'TOO_MANY_PIXELS',
    `The image is ${width} x ${height} = ${pixels} pixels, above the limit of ${maxPixels} pixels. ` +
      `Resize it to at most ${fittingWidth} x ${fittingHeight} and send it again. ` +
      'The server setting IMAGE_MAX_PIXELS sets the limit.',
    StatusCode.INPUT_INVALID_REQUEST,
    cause,
  );
}

function assertValidLimits(limits: ImageLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new TypeError(`ImageLimits.${name} must be a positive integer, got ${String(value)}.`);
    }
  }
}

/**
 * Reads the header only. `limitInputPixels: false` lets sharp report the dimensions of an
 * oversized image, so the caller can reject it with its size in the message.
 */
async function readHeader(bytes: Buffer, sniffedFormat: string | undefined): Promise<Metadata> {
  try {
    return await sharp(bytes, { failOn: FAIL_ON, limitInputPixels: false }).metadata();
  } catch (error) {
    if (!/unsupported image format/i.test(firstLine(error))) {
      throw truncatedImage(sniffedFormat, bytes, error);
    }
    // The signature of a supported format whose header sharp cannot parse, e.g. a TIFF whose
    // directory lies in the missing second half of the file.
    if (sniffedFormat !== undefined && isSupportedFormat(sniffedFormat)) {
      throw truncatedImage(sniffedFormat, bytes, error);
    }
    throw new InvalidInputError(
      'NOT_AN_IMAGE',
      `The input (${bytes.length} bytes) is not an image in any format that Percept reads: it starts with ` +
        `${describeLeadingBytes(bytes)}. Send the bytes of a ${SUPPORTED_FORMATS_TEXT} file, not text, JSON or an HTML page.`,
      StatusCode.INPUT_INVALID_REQUEST,
      error,
    );
  }
}

/** Maps sharp's format id to ours, rejecting anything outside the supported list. */
function acceptedFormat(metadata: Metadata): string {
  const format: string = metadata.format;
  if (format === 'heif') {
    // sharp reports AVIF and HEIC both as `heif`, and only the AV1-coded variant is AVIF.
    if (metadata.compression === 'av1') {
      return 'avif';
    }
    throw unsupportedFormat(metadata.compression === 'hevc' ? 'heic' : 'heif');
  }
  if (!isSupportedFormat(format)) {
    throw unsupportedFormat(format);
  }
  return format;
}

/**
 * Decodes an encoded image into 8-bit sRGB pixels, 3 channels, row-major (HWC).
 *
 * Accepts JPEG, PNG, WebP, GIF, TIFF and AVIF. Of an animated or multi-page file only the first
 * frame or page is decoded. The EXIF orientation is applied, so width and height are those of the
 * image as displayed. CMYK, greyscale, 16-bit and images with an ICC profile are converted to
 * sRGB, and transparency is flattened onto white.
 *
 * Checks, in order: the file size, the format from the first bytes and then from the header, the
 * pixel count from the header, and only then decodes the pixels, with sharp's `limitInputPixels`
 * as a second guard. Throws `InvalidInputError` (HTTP 400) with code `EMPTY_IMAGE`,
 * `FILE_TOO_LARGE`, `NOT_AN_IMAGE`, `UNSUPPORTED_IMAGE_FORMAT`, `IMAGE_TRUNCATED` or
 * `TOO_MANY_PIXELS`, with the sharp error, if any, as `cause`.
 */
export async function decodeImage(bytes: Buffer, limits: ImageLimits = DEFAULT_IMAGE_LIMITS): Promise<DecodedImage> {
  assertValidLimits(limits);

  if (bytes.length === 0) {
    throw new InvalidInputError(
      'EMPTY_IMAGE',
      `The image is empty (0 bytes). Send the bytes of a ${SUPPORTED_FORMATS_TEXT} file.`,
    );
  }
  if (bytes.length > limits.maxBytes) {
    throw new InvalidInputError(
      'FILE_TOO_LARGE',
      `The image file is ${bytes.length} bytes (${formatMebibytes(bytes.length)}), above the limit of ` +
        `${limits.maxBytes} bytes (${formatMebibytes(limits.maxBytes)}). Compress or downscale it below the limit and ` +
        'send it again. The server setting IMAGE_MAX_BYTES sets the limit.',
    );
  }

  // Unsupported formats are rejected before sharp parses the bytes, because sharp would parse an
  // SVG document with librsvg.
  const sniffedFormat = sniffFormat(bytes);
  if (sniffedFormat !== undefined && !isSupportedFormat(sniffedFormat)) {
    throw unsupportedFormat(sniffedFormat);
  }

  const metadata = await readHeader(bytes, sniffedFormat);
  const format = acceptedFormat(metadata);

  // Dimensions of the first frame or page, after the EXIF orientation, read from the header only.
  const width = metadata.autoOrient.width;
  const height = metadata.autoOrient.height;
  if (width * height > limits.maxPixels) {
    throw tooManyPixels(width, height, limits.maxPixels);
  }

  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(bytes, {
      failOn: FAIL_ON,
      limitInputPixels: limits.maxPixels,
      page: 0,
      pages: 1,
    })
      .rotate()
      .flatten({ background: FLATTEN_BACKGROUND })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    if (/pixel limit/i.test(firstLine(error))) {
      throw tooManyPixels(width, height, limits.maxPixels, error);
    }
    throw truncatedImage(format, bytes, error);
  }

  const { data, info } = decoded;
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new Error(
      `sharp returned ${info.channels} channels and ${data.length} bytes for a ${info.width} x ${info.height} image, ` +
        'expected 3 channels of 8-bit pixels.',
    );
  }
  return { pixels: data, width: info.width, height: info.height, format };
}
