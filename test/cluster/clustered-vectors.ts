/**
 * Synthetic clustered unit vectors shaped like image embeddings: centers drawn around a common
 * mean (all embeddings point into one cone), and each vector a random center plus Gaussian
 * noise, L2-normalized. The noise makes neighboring clusters overlap, so that the nearest
 * neighbors of a query spread over several lists of an IVF index.
 */
import { Random } from '#commons/search/index/random.ts';

export interface ClusteredVectors {
  dim: number;
  /** Returns a new vector: a random center plus noise. */
  draw(): Float32Array;
}

/** `noise` is the noise's standard deviation per dimension, in units of the centers' spread. */
export function clusteredVectors(options: { dim: number; centers: number; noise: number; seed: number }): ClusteredVectors {
  const { dim, noise } = options;
  const random = new Random(options.seed);
  const mean = Float32Array.from({ length: dim }, () => random.nextGaussian());
  const spread = Float32Array.from({ length: dim }, () => 0.5 + random.next());
  const centers = Array.from({ length: options.centers }, () =>
    mean.map((value, index) => value + (spread[index] as number) * random.nextGaussian()),
  );
  return {
    dim,
    draw: () => {
      const center = centers[random.nextInt(centers.length)] as Float32Array;
      return unit(center.map((value, index) => value + noise * (spread[index] as number) * random.nextGaussian()));
    },
  };
}

export function unit(values: Float32Array): Float32Array {
  const norm = Math.hypot(...values);
  return values.map((value) => value / norm);
}

export function dotOf(a: Float32Array, b: Float32Array): number {
  return a.reduce((sum, value, index) => sum + value * (b[index] as number), 0);
}

/** Returns the ids of the `k` vectors with the highest dot product with `query`, best first. */
export function exactTop(vectors: ReadonlyMap<string, Float32Array>, query: Float32Array, k: number): string[] {
  return [...vectors]
    .map(([inputId, vector]) => ({ inputId, score: dotOf(vector, query) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k)
    .map((hit) => hit.inputId);
}

/** Returns the share of `expected` found in `found`, over all queries. */
export function recall(found: readonly string[][], expected: readonly string[][]): number {
  let hits = 0;
  let total = 0;
  expected.forEach((ids, query) => {
    const wanted = new Set(ids);
    hits += (found[query] ?? []).filter((inputId) => wanted.has(inputId)).length;
    total += wanted.size;
  });
  return total === 0 ? 1 : hits / total;
}
