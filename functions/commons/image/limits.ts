/**
 * Size caps for image input, with defaults that the `IMAGE_MAX_BYTES` and `IMAGE_MAX_PIXELS`
 * environment variables override.
 */
import type { ImageLimits } from './types.ts';

// Clarifai accepts image files under 20 MB (docs.clarifai.com, "Upload Inputs"), so files sized for Clarifai pass.
const DEFAULT_MAX_BYTES = 20 * 1024 * 1024;

// Clarifai accepts at most 85 megapixels per image (same page), so images sized for Clarifai pass.
// NOTE: 85 megapixels decode to 255 MB of RGB pixels plus libvips buffers, so size the Lambda memory for that.
const DEFAULT_MAX_PIXELS = 85_000_000;

function readPositiveInteger(env: NodeJS.ProcessEnv, name: string, unit: string, fallback: number): number {
  const raw = env[name];
  const text = raw?.trim() ?? '';
  if (text === '') {
    return fallback;
  }

  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value === 0) {
    throw new Error(
      `Environment variable ${name} must be a positive whole number of ${unit}, got ${JSON.stringify(raw)}. ` +
        `Set it to e.g. ${fallback}, or unset it to use the default of ${fallback}.`,
    );
  }
  return value;
}

/**
 * Reads the image limits from `IMAGE_MAX_BYTES` and `IMAGE_MAX_PIXELS`, falling back to the
 * defaults for unset or empty variables. Throws an `Error` naming the variable when a value is
 * not a positive whole number.
 */
export function imageLimitsFromEnv(env: NodeJS.ProcessEnv = process.env): ImageLimits {
  return {
    maxBytes: readPositiveInteger(env, 'IMAGE_MAX_BYTES', 'bytes', DEFAULT_MAX_BYTES),
    maxPixels: readPositiveInteger(env, 'IMAGE_MAX_PIXELS', 'pixels', DEFAULT_MAX_PIXELS),
  };
}

/**
 * Limits read once from the environment when this module loads, so an invalid variable makes
 * the import throw at cold start rather than on the first request.
 */
export const DEFAULT_IMAGE_LIMITS: ImageLimits = Object.freeze(imageLimitsFromEnv());
