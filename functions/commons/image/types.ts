/** A decoded image: 8-bit sRGB pixels, 3 channels, row-major HWC, orientation applied. */
export interface DecodedImage {
  pixels: Buffer;
  width: number;
  height: number;
  /** Container format that sharp detected, e.g. `jpeg`, `png`, `webp`. */
  format: string;
}

/** Caps applied before and during decoding. */
export interface ImageLimits {
  /** Largest accepted encoded file, in bytes. */
  maxBytes: number;
  /** Largest accepted width x height after decoding. */
  maxPixels: number;
}
