/**
 * K-means on row-major `Float32Array`s. By default it is spherical k-means for L2-normalized
 * embeddings: every centroid is scaled back to unit length after each update, so the nearest
 * centroid is the one with the highest dot product (the cosine similarity). With
 * `spherical: false` it is ordinary Euclidean k-means, as product quantization needs for the
 * pieces of vectors.
 */
import { Random } from '#commons/search/index/random.ts';
import { TopK } from '#commons/search/index/top-k.ts';
import { checkVector, countRows, dot, dotAll, normalizeInPlace } from '#commons/search/index/vectors.ts';

export interface KMeansOptions {
  /** Number of clusters, at least 1 and at most the number of vectors. */
  k: number;
  /** Lloyd iterations at most; training stops early when no assignment changes. @default 20 */
  iterations?: number;
  /**
   * Vectors drawn at random to train on, when fewer than all of them. At least `k` are drawn.
   * @default all vectors
   */
  sampleSize?: number;
  /** Seed of the random choices (sample, k-means++ start): the same seed gives the same centroids. @default 1 */
  seed?: number;
  /** Scales centroids to unit length after each update. @default true */
  spherical?: boolean;
  /**
   * Independent runs from different k-means++ starts; the centroids with the lowest sum of
   * squared distances over the sample win. More runs make a bad local optimum less likely. @default 1
   */
  restarts?: number;
}

const DEFAULT_ITERATIONS = 20;
const DEFAULT_SEED = 1;

/**
 * Trains `k` centroids, unit-length unless `spherical` is false, on `vectors` (row-major, `dim`
 * columns) and returns them as one row-major array of `k * dim` values. Starts from greedy
 * k-means++ (see `kMeansPlusPlus`), then runs Lloyd iterations on the sample. A cluster left
 * empty by an iteration is re-seeded with the sample point farthest from its own centroid.
 */
export function trainKMeans(vectors: Float32Array, dim: number, options: KMeansOptions): Float32Array {
  const count = countRows(vectors, dim);
  const { k } = options;
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isSafeInteger(k) || k < 1) {
    throw new RangeError(`k must be a positive integer, got ${k}.`);
  }
  if (k > count) {
    throw new RangeError(`k-means needs at least k vectors: got ${count} vectors for k = ${k}.`);
  }
  if (!Number.isSafeInteger(iterations) || iterations < 0) {
    throw new RangeError(`iterations must be a non-negative integer, got ${iterations}.`);
  }

  const restarts = options.restarts ?? 1;
  if (!Number.isSafeInteger(restarts) || restarts < 1) {
    throw new RangeError(`restarts must be a positive integer, got ${restarts}.`);
  }

  const random = new Random(options.seed ?? DEFAULT_SEED);
  const sample = drawSample(vectors, dim, count, Math.max(k, options.sampleSize ?? count), random);
  const spherical = options.spherical ?? true;
  let best: Float32Array = new Float32Array(0);
  let bestInertia = Infinity;
  for (let run = 0; run < restarts; run += 1) {
    const centroids = kMeansPlusPlus(sample, dim, k, random, spherical);
    lloyd(sample, dim, centroids, iterations, spherical);
    const runInertia = restarts === 1 ? 0 : inertia(sample, dim, centroids);
    if (runInertia < bestInertia) {
      bestInertia = runInertia;
      best = centroids;
    }
  }
  return best;
}

/** Returns the sum of squared Euclidean distances from each row of `data` to its nearest centroid. */
function inertia(data: Float32Array, dim: number, centroids: Float32Array): number {
  const k = centroids.length / dim;
  const halfNorms = new Float32Array(k);
  for (let centroid = 0; centroid < k; centroid += 1) {
    halfNorms[centroid] = dot(centroids, centroid * dim, centroids, centroid * dim, dim) / 2;
  }
  const scores = new Float32Array(k);
  let sum = 0;
  for (let row = 0; row < data.length / dim; row += 1) {
    dotAll(centroids, dim, data, row * dim, scores);
    let bestScore = -Infinity;
    for (let centroid = 0; centroid < k; centroid += 1) {
      bestScore = Math.max(bestScore, scores[centroid]! - halfNorms[centroid]!);
    }
    sum += Math.max(0, dot(data, row * dim, data, row * dim, dim) - 2 * bestScore);
  }
  return sum;
}

/** Returns the indices of the `count` centroids with the highest dot product with `query`, nearest first. */
export function nearestCentroids(centroids: Float32Array, dim: number, query: Float32Array, count: number): number[] {
  const total = countRows(centroids, dim, 'centroids');
  checkVector(query, dim, 'query');
  const scores = new Float32Array(total);
  dotAll(centroids, dim, query, 0, scores);

  const best = new TopK(Math.min(count, total));
  for (let index = 0; index < total; index += 1) {
    best.push(scores[index]!, index);
  }
  const sortedScores = new Float64Array(best.size);
  const indices = new Float64Array(best.size);
  best.drainSorted(sortedScores, indices);
  return Array.from(indices);
}

/** Returns, for each row of `vectors`, the index of the centroid with the highest dot product. */
export function assignClusters(centroids: Float32Array, dim: number, vectors: Float32Array): Uint32Array {
  const total = countRows(centroids, dim, 'centroids');
  const count = countRows(vectors, dim);
  const assignments = new Uint32Array(count);
  const scores = new Float32Array(total);
  for (let row = 0; row < count; row += 1) {
    dotAll(centroids, dim, vectors, row * dim, scores);
    assignments[row] = argMax(scores);
  }
  return assignments;
}

function argMax(scores: Float32Array): number {
  let best = 0;
  let bestScore = -Infinity;
  for (let index = 0; index < scores.length; index += 1) {
    if (scores[index]! > bestScore) {
      bestScore = scores[index]!;
      best = index;
    }
  }
  return best;
}

/** Copies `size` random rows into a new array, or returns `vectors` itself when `size` covers them all. */
function drawSample(vectors: Float32Array, dim: number, count: number, size: number, random: Random): Float32Array {
  if (size >= count) {
    return vectors;
  }
  const rows = random.sampleIndices(count, size);
  const sample = new Float32Array(size * dim);
  for (let index = 0; index < size; index += 1) {
    sample.set(vectors.subarray(rows[index]! * dim, (rows[index]! + 1) * dim), index * dim);
  }
  return sample;
}

function rowNorms(data: Float32Array, dim: number): Float64Array {
  const count = data.length / dim;
  const norm2 = new Float64Array(count);
  for (let row = 0; row < count; row += 1) {
    norm2[row] = dot(data, row * dim, data, row * dim, dim);
  }
  return norm2;
}

/**
 * Greedy k-means++ (as scikit-learn's `kmeans_plusplus` does it): each new centroid is the best of
 * `2 + floor(ln k)` points drawn with probability proportional to their squared distance from
 * the nearest centroid so far, the one that lowers the sum of those distances most. A single draw
 * per centroid leaves two centroids in one cluster noticeably often.
 */
function kMeansPlusPlus(data: Float32Array, dim: number, k: number, random: Random, spherical: boolean): Float32Array {
  const count = data.length / dim;
  const centroids = new Float32Array(k * dim);
  const norm2 = rowNorms(data, dim);
  const trials = 2 + Math.floor(Math.log(k));
  const candidate = new Float32Array(dim);

  /** Writes row `row`, normalized when spherical, into `target` at `offset` and returns its squared norm. */
  const copyRow = (row: number, target: Float32Array, offset: number): number => {
    target.set(data.subarray(row * dim, (row + 1) * dim), offset);
    if (spherical) {
      normalizeInPlace(target, offset, dim);
    }
    return dot(target, offset, target, offset, dim);
  };
  const squaredDistance = (row: number, point: Float32Array, offset: number, pointNorm2: number): number =>
    Math.max(0, norm2[row]! + pointNorm2 - 2 * dot(data, row * dim, point, offset, dim));

  const firstNorm2 = copyRow(random.nextInt(count), centroids, 0);
  const nearest = new Float64Array(count);
  const trialNearest = new Float64Array(count);
  const bestNearest = new Float64Array(count);
  let total = 0;
  for (let row = 0; row < count; row += 1) {
    nearest[row] = squaredDistance(row, centroids, 0, firstNorm2);
    total += nearest[row]!;
  }

  for (let centroid = 1; centroid < k; centroid += 1) {
    let bestRow = -1;
    let bestTotal = Infinity;
    for (let trial = 0; trial < trials; trial += 1) {
      // When every point sits on a centroid already (duplicates), any point will do.
      const row = total > 0 ? drawWeighted(nearest, total, random) : random.nextInt(count);
      const candidateNorm2 = copyRow(row, candidate, 0);
      let trialTotal = 0;
      for (let other = 0; other < count; other += 1) {
        const distance = Math.min(nearest[other]!, squaredDistance(other, candidate, 0, candidateNorm2));
        trialNearest[other] = distance;
        trialTotal += distance;
      }
      if (trialTotal < bestTotal) {
        bestTotal = trialTotal;
        bestRow = row;
        bestNearest.set(trialNearest);
      }
    }
    copyRow(bestRow, centroids, centroid * dim);
    nearest.set(bestNearest);
    total = bestTotal;
  }
  return centroids;
}

/** Draws an index with probability proportional to its weight. */
function drawWeighted(weights: Float64Array, total: number, random: Random): number {
  let target = random.next() * total;
  for (let index = 0; index < weights.length; index += 1) {
    target -= weights[index]!;
    if (target < 0 && weights[index]! > 0) {
      return index;
    }
  }
  // Rounding can leave `target` just above zero after the last weight: take the last positive one.
  for (let index = weights.length - 1; index >= 0; index -= 1) {
    if (weights[index]! > 0) {
      return index;
    }
  }
  return 0;
}

/**
 * Runs Lloyd iterations on `centroids` in place. A point's score for a centroid is
 * `dot(x, c) - |c|^2 / 2`, which is highest for the nearest centroid in Euclidean distance.
 */
function lloyd(data: Float32Array, dim: number, centroids: Float32Array, iterations: number, spherical: boolean): void {
  const count = data.length / dim;
  const k = centroids.length / dim;
  const norm2 = rowNorms(data, dim);
  const assignments = new Int32Array(count).fill(-1);
  const distances = new Float64Array(count);
  const scores = new Float32Array(k);
  const halfNorms = new Float32Array(k);
  const sums = new Float64Array(k * dim);
  const sizes = new Uint32Array(k);

  for (let iteration = 0; iteration < iterations; iteration += 1) {
    for (let centroid = 0; centroid < k; centroid += 1) {
      halfNorms[centroid] = dot(centroids, centroid * dim, centroids, centroid * dim, dim) / 2;
    }
    let changed = 0;
    for (let row = 0; row < count; row += 1) {
      dotAll(centroids, dim, data, row * dim, scores);
      let best = 0;
      let bestScore = -Infinity;
      for (let centroid = 0; centroid < k; centroid += 1) {
        const score = scores[centroid]! - halfNorms[centroid]!;
        if (score > bestScore) {
          bestScore = score;
          best = centroid;
        }
      }
      distances[row] = norm2[row]! - 2 * bestScore;
      if (assignments[row] !== best) {
        assignments[row] = best;
        changed += 1;
      }
    }
    if (changed === 0) {
      return;
    }

    sums.fill(0);
    sizes.fill(0);
    for (let row = 0; row < count; row += 1) {
      const cluster = assignments[row]!;
      sizes[cluster] = sizes[cluster]! + 1;
      const sumOffset = cluster * dim;
      const rowOffset = row * dim;
      for (let j = 0; j < dim; j += 1) {
        sums[sumOffset + j] = sums[sumOffset + j]! + data[rowOffset + j]!;
      }
    }
    updateCentroids(centroids, dim, sums, sizes, spherical);
    reseedEmptyClusters(data, dim, centroids, sizes, assignments, distances, spherical);
  }
}

/** Sets each non-empty cluster's centroid to its members' mean, scaled to unit length when spherical. */
function updateCentroids(centroids: Float32Array, dim: number, sums: Float64Array, sizes: Uint32Array, spherical: boolean): void {
  for (let cluster = 0; cluster < sizes.length; cluster += 1) {
    const offset = cluster * dim;
    let norm2 = 0;
    for (let j = 0; j < dim; j += 1) {
      norm2 += sums[offset + j]! * sums[offset + j]!;
    }
    // An empty cluster, or spherical members that cancel out, keep the previous centroid.
    if (sizes[cluster] === 0 || (spherical && norm2 === 0)) {
      continue;
    }
    const scale = spherical ? Math.sqrt(norm2) : sizes[cluster]!;
    for (let j = 0; j < dim; j += 1) {
      centroids[offset + j] = sums[offset + j]! / scale;
    }
  }
}

/**
 * Moves the centroid of each empty cluster onto the point that is farthest from its own
 * centroid, a different point for each empty cluster.
 */
function reseedEmptyClusters(
  data: Float32Array,
  dim: number,
  centroids: Float32Array,
  sizes: Uint32Array,
  assignments: Int32Array,
  distances: Float64Array,
  spherical: boolean,
): void {
  const empty: number[] = [];
  sizes.forEach((size, cluster) => {
    if (size === 0) {
      empty.push(cluster);
    }
  });
  if (empty.length === 0) {
    return;
  }

  const farthest = new TopK(empty.length);
  for (let row = 0; row < distances.length; row += 1) {
    farthest.push(distances[row]!, row);
  }
  const scores = new Float64Array(farthest.size);
  const rows = new Float64Array(farthest.size);
  const found = farthest.drainSorted(scores, rows);
  for (let index = 0; index < found; index += 1) {
    const cluster = empty[index]!;
    const row = rows[index]!;
    centroids.set(data.subarray(row * dim, (row + 1) * dim), cluster * dim);
    if (spherical) {
      normalizeInPlace(centroids, cluster * dim, dim);
    }
    // Forces a reassignment count above zero in the next iteration, so training goes on.
    assignments[row] = -1;
  }
}
