import { describe, expect, test } from 'vitest';

import { DEFAULT_IMAGE_LIMITS, imageLimitsFromEnv } from '#commons/image/decode.ts';

describe('imageLimitsFromEnv', () => {
  test('defaults without variables', () => {
    expect(imageLimitsFromEnv({})).toEqual({ maxBytes: 20 * 1024 * 1024, maxPixels: 85_000_000 });
  });

  test('empty variables use defaults', () => {
    expect(imageLimitsFromEnv({ IMAGE_MAX_BYTES: '', IMAGE_MAX_PIXELS: '  ' })).toEqual(imageLimitsFromEnv({}));
  });

  test('variables override defaults', () => {
    const limits = imageLimitsFromEnv({ IMAGE_MAX_BYTES: '1048576', IMAGE_MAX_PIXELS: ' 4000000 ' });

    expect(limits).toEqual({ maxBytes: 1_048_576, maxPixels: 4_000_000 });
  });

  test.each(['abc', '-5', '0', '1.5', '1e6', '10MB', '99999999999999999999'])('invalid value %j', (value) => {
    expect(() => imageLimitsFromEnv({ IMAGE_MAX_BYTES: value })).toThrow(
      `Environment variable IMAGE_MAX_BYTES must be a positive whole number of bytes, got ${JSON.stringify(value)}.`,
    );
  });

  test('invalid pixel cap names variable', () => {
    expect(() => imageLimitsFromEnv({ IMAGE_MAX_PIXELS: 'many' })).toThrow(
      'Environment variable IMAGE_MAX_PIXELS must be a positive whole number of pixels, got "many". Set it to e.g. 85000000',
    );
  });

  test('module default matches environment', () => {
    expect(DEFAULT_IMAGE_LIMITS).toEqual(imageLimitsFromEnv(process.env));
    expect(Object.isFrozen(DEFAULT_IMAGE_LIMITS)).toBe(true);
  });
});
