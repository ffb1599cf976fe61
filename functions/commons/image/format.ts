/**
 * Image format detection from the first bytes of a file (its magic number). sharp detects the
 * formats it can decode by itself. This sniffing covers three cases that sharp cannot report:
 * - formats that must be rejected before sharp parses them (SVG),
 * - formats this sharp build cannot read (BMP, PDF, JPEG 2000, JPEG XL, PSD),
 * - the supported format that a file too damaged for sharp to open was meant to be.
 */

/** Formats that `decodeImage` accepts, as reported in `DecodedImage.format`. */
export const SUPPORTED_FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'] as const;

export type SupportedFormat = (typeof SUPPORTED_FORMATS)[number];

/** Human-readable list for error messages. */
export const SUPPORTED_FORMATS_TEXT = 'JPEG, PNG, WebP, GIF, TIFF or AVIF';

const FORMAT_NAMES: Readonly<Record<string, string>> = {
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  gif: 'GIF',
  tiff: 'TIFF',
  avif: 'AVIF',
  heic: 'HEIC',
  heif: 'HEIF',
  svg: 'SVG',
  bmp: 'BMP',
  pdf: 'PDF',
  jp2: 'JPEG 2000',
  jxl: 'JPEG XL',
  psd: 'Photoshop (PSD)',
};

/** Returns the display name of a format id from this module or from sharp, e.g. `jp2` -> `JPEG 2000`. */
export function formatName(format: string): string {
  return FORMAT_NAMES[format] ?? format.toUpperCase();
}

export function isSupportedFormat(format: string): format is SupportedFormat {
  return (SUPPORTED_FORMATS as readonly string[]).includes(format);
}

function startsWith(bytes: Buffer, signature: readonly number[], offset = 0): boolean {
  if (bytes.length < offset + signature.length) {
    return false;
  }
  return signature.every((value, index) => bytes[offset + index] === value);
}

function ascii(text: string): number[] {
  return [...text].map((character) => character.charCodeAt(0));
}

/** HEIF brands whose images are coded with HEVC, which this sharp build cannot decode. */
const HEVC_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);

/** Reads the major and compatible brands of an ISO base media `ftyp` box at the start of the file. */
function isoBrands(bytes: Buffer): string[] {
  if (bytes.length < 16 || bytes.toString('latin1', 4, 8) !== 'ftyp') {
    return [];
  }
  const boxEnd = Math.min(bytes.readUInt32BE(0), bytes.length, 256);
  const brands = [bytes.toString('latin1', 8, 12)];
  for (let offset = 16; offset + 4 <= boxEnd; offset += 4) {
    brands.push(bytes.toString('latin1', offset, offset + 4));
  }
  return brands;
}

/** True for XML or SVG text whose first 4 KB contain an `<svg` element. */
function looksLikeSvg(bytes: Buffer): boolean {
  const head = bytes.toString('utf8', 0, Math.min(bytes.length, 4096)).replace(/^\uFEFF/, '').trimStart();
  return head.startsWith('<') && /<svg[\s>/]/i.test(head);
}

/** True for a Windows bitmap: `BM`, then a DIB header whose size is one of the known versions. */
function looksLikeBmp(bytes: Buffer): boolean {
  if (!startsWith(bytes, ascii('BM')) || bytes.length < 18) {
    return false;
  }
  return [12, 40, 52, 56, 64, 108, 124].includes(bytes.readUInt32LE(14));
}

/**
 * Detects the format of an encoded image from its first bytes. Returns a format id (`jpeg`,
 * `png`, `webp`, `gif`, `tiff`, `avif`, `heic`, `svg`, `bmp`, `pdf`, `jp2`, `jxl`, `psd`) or
 * `undefined` when no known signature matches. A match does not mean that the rest of the file
 * is valid.
 */
export function sniffFormat(bytes: Buffer): string | undefined {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) {
    return 'jpeg';
  }
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) {
    return 'png';
  }
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) {
    return 'gif';
  }
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) {
    return 'webp';
  }
  // Classic TIFF (42) and BigTIFF (43), little- and big-endian.
  if ([ascii('II*\0'), ascii('MM\0*'), ascii('II+\0'), ascii('MM\0+')].some((signature) => startsWith(bytes, signature))) {
    return 'tiff';
  }

  const brands = isoBrands(bytes);
  if (brands.includes('avif') || brands.includes('avis')) {
    return 'avif';
  }
  if (brands.some((brand) => HEVC_BRANDS.has(brand))) {
    return 'heic';
  }

  if (startsWith(bytes, ascii('%PDF-'))) {
    return 'pdf';
  }
  // JP2 container signature box, then a bare JPEG 2000 codestream (SOC and SIZ markers).
  if (startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20, 0x0d, 0x0a, 0x87, 0x0a])) {
    return 'jp2';
  }
  if (startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])) {
    return 'jp2';
  }
  // JPEG XL container signature box, then a bare JPEG XL codestream.
  if (startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20, 0x0d, 0x0a, 0x87, 0x0a])) {
    return 'jxl';
  }
  if (startsWith(bytes, [0xff, 0x0a])) {
    return 'jxl';
  }
  if (startsWith(bytes, ascii('8BPS'))) {
    return 'psd';
  }
  if (looksLikeBmp(bytes)) {
    return 'bmp';
  }
  if (looksLikeSvg(bytes)) {
    return 'svg';
  }
  return undefined;
}
