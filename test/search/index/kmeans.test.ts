import { describe, expect, it } from 'vitest';
import { assignClusters, nearestCentroids, trainKMeans } from '#commons/search/index/kmeans.ts';
import { clusteredData, dotProduct, rowOf } from './synthetic.ts';

const DIM = 32;

/** For each true center, the index of the trained centroid with the highest cosine, and that cosine. */
function matchCenters(centers: Float32Array, centroids: Float32Array, dim: number): { match: number; cosine: number }[] {
  const matches: { match: number; cosine: number }[] = [];
  for (let center = 0; center < centers.length / dim; center += 1) {
    const [match] = nearestCentroids(centroids, dim, rowOf(centers, dim, center), 1);
    matches.push({ match: match!, cosine: dotProduct(rowOf(centers, dim, center), rowOf(centroids, dim, match!)) });
  }
  return matches;
}

describe('trainKMeans', () => {
  it('recovers separated clusters', () => {
    const data = clusteredData({ dim: DIM, clusters: 6, count: 1200, noise: 0.02, seed: 3 });

    const centroids = trainKMeans(data.vectors, DIM, { k: 6, seed: 1 });

    const matches = matchCenters(data.centers, centroids, DIM);
    expect(new Set(matches.map(({ match }) => match)).size).toBe(6);
    for (const { cosine } of matches) {
      expect(cosine).toBeGreaterThan(0.99);
    }
    // Every point lands in the centroid that matches its true center.
    const assignments = assignClusters(centroids, DIM, data.vectors);
    const wrong = data.labels.filter((label, row) => matches[label]!.match !== assignments[row]).length;
    expect(wrong).toBe(0);
  });

  it('recovers noisier clusters with restarts', () => {
    // At this noise one k-means++ start in about 13 puts two centroids in one cluster (3 of 40 seeds).
    for (const seed of [1, 2, 3, 4, 5]) {
      const data = clusteredData({ dim: DIM, clusters: 6, count: 1200, noise: 0.05, seed: 100 + seed });

      const centroids = trainKMeans(data.vectors, DIM, { k: 6, seed, restarts: 3 });

      const matches = matchCenters(data.centers, centroids, DIM);
      expect(new Set(matches.map(({ match }) => match)).size, `seed ${seed}`).toBe(6);
    }
  });

  it('recovers clusters from a sample', () => {
    const data = clusteredData({ dim: DIM, clusters: 6, count: 3000, noise: 0.05, seed: 4 });

    const centroids = trainKMeans(data.vectors, DIM, { k: 6, sampleSize: 300, seed: 2 });

    const matches = matchCenters(data.centers, centroids, DIM);
    expect(new Set(matches.map(({ match }) => match)).size).toBe(6);
    for (const { cosine } of matches) {
      expect(cosine).toBeGreaterThan(0.98);
    }
  });

  it('returns unit-length centroids', () => {
    const data = clusteredData({ dim: DIM, clusters: 10, count: 500, noise: 0.3, seed: 5 });

    const centroids = trainKMeans(data.vectors, DIM, { k: 10 });

    for (let centroid = 0; centroid < 10; centroid += 1) {
      expect(dotProduct(rowOf(centroids, DIM, centroid), rowOf(centroids, DIM, centroid))).toBeCloseTo(1, 5);
    }
  });

  it('repeats itself for the same seed', () => {
    // Overlapping clusters, so that different starts end in different centroids.
    const data = clusteredData({ dim: DIM, clusters: 20, count: 2000, noise: 0.4, seed: 6 });

    const first = trainKMeans(data.vectors, DIM, { k: 12, sampleSize: 800, seed: 7 });
    const second = trainKMeans(data.vectors, DIM, { k: 12, sampleSize: 800, seed: 7 });
    const otherSeed = trainKMeans(data.vectors, DIM, { k: 12, sampleSize: 800, seed: 8 });

    expect(Array.from(second)).toEqual(Array.from(first));
    expect(Array.from(otherSeed)).not.toEqual(Array.from(first));
  });

  it('handles fewer distinct points than k', () => {
    const a = Array.from({ length: DIM }, (_, j) => (j === 0 ? 1 : 0));
    const b = Array.from({ length: DIM }, (_, j) => (j === 1 ? 1 : 0));
    const vectors = new Float32Array([...Array.from({ length: 10 }, () => a), ...Array.from({ length: 10 }, () => b)].flat());

    const centroids = trainKMeans(vectors, DIM, { k: 4, seed: 3 });

    expect(centroids.every((value) => Number.isFinite(value))).toBe(true);
    const assignments = assignClusters(centroids, DIM, vectors);
    // Both points are matched exactly by some centroid.
    expect(dotProduct(rowOf(vectors, DIM, 0), rowOf(centroids, DIM, assignments[0]!))).toBeCloseTo(1, 5);
    expect(dotProduct(rowOf(vectors, DIM, 10), rowOf(centroids, DIM, assignments[10]!))).toBeCloseTo(1, 5);
  });

  it('computes means when not spherical', () => {
    // Two groups in 2-d whose means are (2, 0) and (0, -3): not unit length.
    const vectors = new Float32Array([1.9, 0, 2.1, 0, 2, 0.1, 2, -0.1, 0, -2.9, 0, -3.1, 0.1, -3, -0.1, -3]);

    const centroids = trainKMeans(vectors, 2, { k: 2, spherical: false, seed: 1 });

    const means = [Array.from(rowOf(centroids, 2, 0)), Array.from(rowOf(centroids, 2, 1))].sort((p, q) => q[0]! - p[0]!);
    expect(means[0]![0]).toBeCloseTo(2, 5);
    expect(means[0]![1]).toBeCloseTo(0, 5);
    expect(means[1]![0]).toBeCloseTo(0, 5);
    expect(means[1]![1]).toBeCloseTo(-3, 5);
  });

  it('rejects k above the vector count', () => {
    const vectors = new Float32Array(3 * DIM).fill(0.1);

    expect(() => trainKMeans(vectors, DIM, { k: 4 })).toThrow(new RangeError('k-means needs at least k vectors: got 3 vectors for k = 4.'));
  });

  it('rejects a length that is not a multiple of dim', () => {
    expect(() => trainKMeans(new Float32Array(10), 3, { k: 1 })).toThrow(
      new RangeError('The length of vectors (10) is not a multiple of the dimension 3.'),
    );
  });
});

describe('nearestCentroids', () => {
  it('orders centroids nearest first', () => {
    const centroids = new Float32Array([1, 0, 0, 1, -1, 0, 0.6, 0.8]);
    const query = new Float32Array([0.8, 0.6]);

    expect(nearestCentroids(centroids, 2, query, 4)).toEqual([3, 0, 1, 2]);
    expect(nearestCentroids(centroids, 2, query, 2)).toEqual([3, 0]);
  });
});
