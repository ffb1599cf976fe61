/** Seeded synthetic data for the index tests: unit vectors in Gaussian clusters around random unit centers. */
import { Random } from '#commons/search/index/random.ts';
import { normalizeInPlace } from '#commons/search/index/vectors.ts';

export interface ClusteredData {
  dim: number;
  centers: Float32Array;
  vectors: Float32Array;
  /** The center that each vector was drawn around. */
  labels: Uint32Array;
}

/**
 * Draws `clusters` random unit centers and `count` vectors, each a random center plus Gaussian
 * noise of standard deviation `noise` per dimension, L2-normalized.
 */
export function clusteredData(options: { dim: number; clusters: number; count: number; noise: number; seed: number }): ClusteredData {
  const { dim, clusters, count, noise, seed } = options;
  const random = new Random(seed);
  const centers = new Float32Array(clusters * dim);
  for (let index = 0; index < centers.length; index += 1) {
    centers[index] = random.nextGaussian();
  }
  for (let cluster = 0; cluster < clusters; cluster += 1) {
    normalizeInPlace(centers, cluster * dim, dim);
  }

  const vectors = new Float32Array(count * dim);
  const labels = new Uint32Array(count);
  for (let row = 0; row < count; row += 1) {
    const cluster = random.nextInt(clusters);
    labels[row] = cluster;
    for (let j = 0; j < dim; j += 1) {
      vectors[row * dim + j] = centers[cluster * dim + j]! + noise * random.nextGaussian();
    }
    normalizeInPlace(vectors, row * dim, dim);
  }
  return { dim, centers, vectors, labels };
}

/** Returns row `row` of a row-major matrix as a view. */
export function rowOf(vectors: Float32Array, dim: number, row: number): Float32Array {
  return vectors.subarray(row * dim, (row + 1) * dim);
}

/** Returns the dot product of two equal-length vectors. */
export function dotProduct(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let j = 0; j < a.length; j += 1) {
    sum += a[j]! * b[j]!;
  }
  return sum;
}
