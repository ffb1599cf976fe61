/** Shared helpers for the image decoding tests: fixtures, pixel access and error capture. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { expect } from 'vitest';

import { InvalidInputError } from '#commons/errors.ts';
import type { DecodedImage } from '#commons/image/types.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/images');

export async function readFixture(name: string): Promise<Buffer> {
  return readFile(path.join(FIXTURES, name));
}

/** Returns the [r, g, b] values of the pixel at column `x`, row `y`. */
export function pixelAt(image: DecodedImage, x: number, y: number): [number, number, number] {
  const offset = (y * image.width + x) * 3;
  return [image.pixels[offset] ?? -1, image.pixels[offset + 1] ?? -1, image.pixels[offset + 2] ?? -1];
}

/** Mean absolute difference per channel value between two decoded images of the same size. */
export function meanAbsoluteError(actual: DecodedImage, expected: DecodedImage): number {
  expect(actual.pixels.length).toBe(expected.pixels.length);
  let sum = 0;
  for (let index = 0; index < actual.pixels.length; index += 1) {
    sum += Math.abs((actual.pixels[index] ?? 0) - (expected.pixels[index] ?? 0));
  }
  return sum / actual.pixels.length;
}

/** Runs `action` and returns the `InvalidInputError` it throws. Fails the test when it throws nothing or another error. */
export async function invalidInputFrom(action: () => unknown): Promise<InvalidInputError> {
  let thrown: unknown;
  try {
    await action();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(InvalidInputError);
  return thrown as InvalidInputError;
}
