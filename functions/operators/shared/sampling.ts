/** Random numbers for the sampler, reproducible when a seed is given. */
import { createHash, randomBytes } from 'node:crypto';

const UNIFORM_BITS = 48;
const UNIFORM_RANGE = 2 ** UNIFORM_BITS;

/**
 * Returns a number in [0, 1) that depends only on `seed` and `key`: the first 48 bits of
 * SHA-256 over both. The same seed and input id always give the same number, and
 * different ids give independent, uniformly spread numbers.
 */
export function seededUniform(seed: string, key: string): number {
  const digest = createHash('sha256').update(`${seed}\n${key}`).digest();
  return toUniform(digest);
}

/** Returns an unpredictable number in [0, 1), for a sampler without a seed. */
export function randomUniform(): number {
  return toUniform(randomBytes(UNIFORM_BITS / 8));
}

function toUniform(bytes: Buffer): number {
  return bytes.readUIntBE(0, UNIFORM_BITS / 8) / UNIFORM_RANGE;
}
