/**
 * Training of an IVF index's centroids (its coarse quantizer) and assignment of vectors to them.
 *
 * With `nlist` centroids, flat k-means costs `sample * nlist` dot products per iteration and
 * assigning `n` vectors costs `n * nlist`. At a million vectors and 4,000 lists that is 4e9 dot
 * products for the assignment alone, minutes in JavaScript. Above `TWO_LEVEL_MIN_LISTS` lists the
 * training is two-level instead: k-means with about sqrt(nlist) parent centroids, then k-means
 * inside each parent's members, with children shared out in proportion to the members. A vector
 * then joins the best child of its `PARENTS_PROBED` best parents, about
 * `sqrt(nlist) * (1 + PARENTS_PROBED)` dot products. That child is not always the nearest of all
 * centroids, which costs a little recall; the benchmark in bench/search.bench.ts measures the
 * index built this way.
 */
import { assignClusters, trainKMeans } from '#commons/search/index/kmeans.ts';
import { Random } from '#commons/search/index/random.ts';
import { dot, dotAll } from '#commons/search/index/vectors.ts';

export interface CoarseTrainingOptions {
  nlist: number;
  seed: number;
  iterations: number;
  sampleSize: number;
}

export interface CoarseQuantizer {
  /** `nlist * dim` values; the children of parent `p` are rows `childStarts[p]` to `childStarts[p + 1]`. */
  centroids: Float32Array;
  /** Parent centroids of the two-level training, or undefined when the training was flat. */
  parents?: Float32Array;
  childStarts?: Uint32Array;
}

/** Lists from which the training becomes two-level. */
export const TWO_LEVEL_MIN_LISTS = 256;
/** Parents whose children a vector is compared with during assignment. */
const PARENTS_PROBED = 3;

/** Trains the centroids, flat below `TWO_LEVEL_MIN_LISTS` lists and two-level from there. */
export function trainCoarseQuantizer(vectors: Float32Array, dim: number, options: CoarseTrainingOptions): CoarseQuantizer {
  const { nlist, seed, iterations, sampleSize } = options;
  if (nlist < TWO_LEVEL_MIN_LISTS) {
    return { centroids: trainKMeans(vectors, dim, { k: nlist, iterations, sampleSize, seed }) };
  }

  const count = vectors.length / dim;
  const sample = sampleRows(vectors, dim, count, Math.max(nlist, Math.min(count, sampleSize)), seed);
  const sampleCount = sample.length / dim;
  const parentCount = Math.round(Math.sqrt(nlist));
  const parents = trainKMeans(sample, dim, { k: parentCount, iterations, seed });
  const parentOfSample = assignClusters(parents, dim, sample);

  const members = groupRows(sample, dim, parentOfSample, parentCount);
  const childCounts = shareChildren(
    members.map((rows) => rows.length / dim),
    nlist,
    sampleCount,
  );

  const centroids = new Float32Array(nlist * dim);
  const childStarts = new Uint32Array(parentCount + 1);
  let next = 0;
  members.forEach((rows, parent) => {
    childStarts[parent] = next;
    const children = childCounts[parent]!;
    if (children > 0) {
      centroids.set(trainKMeans(rows, dim, { k: children, iterations, seed: seed + parent + 1 }), next * dim);
      next += children;
    }
  });
  childStarts[parentCount] = next;
  return { centroids, parents, childStarts };
}

/** Returns the list of each row of `vectors`: the nearest centroid, or the nearest child of the best parents. */
export function assignToLists(coarse: CoarseQuantizer, dim: number, vectors: Float32Array): Uint32Array {
  const { parents, childStarts, centroids } = coarse;
  if (parents === undefined || childStarts === undefined) {
    return assignClusters(centroids, dim, vectors);
  }

  const count = vectors.length / dim;
  const parentCount = parents.length / dim;
  const probed = Math.min(PARENTS_PROBED, parentCount);
  const parentScores = new Float32Array(parentCount);
  const childScores = new Float32Array(centroids.length / dim);
  const bestParents = new Int32Array(probed);
  const assignments = new Uint32Array(count);

  for (let row = 0; row < count; row += 1) {
    const offset = row * dim;
    dotAll(parents, dim, vectors, offset, parentScores);
    pickBest(parentScores, bestParents);

    let bestChild = 0;
    let bestScore = -Infinity;
    for (const parent of bestParents) {
      const first = childStarts[parent]!;
      const end = childStarts[parent + 1]!;
      dotAll(centroids, dim, vectors, offset, childScores, first, end);
      for (let child = first; child < end; child += 1) {
        if (childScores[child - first]! > bestScore) {
          bestScore = childScores[child - first]!;
          bestChild = child;
        }
      }
    }
    assignments[row] = bestScore === -Infinity ? nearestRow(centroids, dim, vectors, offset) : bestChild;
  }
  return assignments;
}

/** Returns the centroid with the highest dot product: the fallback when the best parents have no children. */
function nearestRow(centroids: Float32Array, dim: number, vectors: Float32Array, offset: number): number {
  let best = 0;
  let bestScore = -Infinity;
  for (let row = 0; row < centroids.length / dim; row += 1) {
    const score = dot(centroids, row * dim, vectors, offset, dim);
    if (score > bestScore) {
      bestScore = score;
      best = row;
    }
  }
  return best;
}

/** Writes the indices of the `best.length` highest scores into `best`, in no particular order. */
function pickBest(scores: Float32Array, best: Int32Array): void {
  best.fill(-1);
  for (let slot = 0; slot < best.length; slot += 1) {
    let chosen = -1;
    for (let index = 0; index < scores.length; index += 1) {
      if (best.indexOf(index) === -1 && (chosen === -1 || scores[index]! > scores[chosen]!)) {
        chosen = index;
      }
    }
    best[slot] = chosen;
  }
}

function sampleRows(vectors: Float32Array, dim: number, count: number, size: number, seed: number): Float32Array {
  if (size >= count) {
    return vectors;
  }
  const rows = new Random(seed).sampleIndices(count, size);
  const sample = new Float32Array(size * dim);
  rows.forEach((row, index) => sample.set(vectors.subarray(row * dim, (row + 1) * dim), index * dim));
  return sample;
}

/** Copies the rows of each cluster into its own contiguous array. */
function groupRows(vectors: Float32Array, dim: number, assignments: Uint32Array, clusters: number): Float32Array[] {
  const sizes = new Uint32Array(clusters);
  assignments.forEach((cluster) => {
    sizes[cluster] = sizes[cluster]! + 1;
  });
  const groups = Array.from(sizes, (size) => new Float32Array(size * dim));
  const filled = new Uint32Array(clusters);
  assignments.forEach((cluster, row) => {
    groups[cluster]!.set(vectors.subarray(row * dim, (row + 1) * dim), filled[cluster]! * dim);
    filled[cluster] = filled[cluster]! + 1;
  });
  return groups;
}

/**
 * Shares `total` children among parents in proportion to their member counts (largest
 * remainder). A parent with members gets at least one child and never more children than members.
 */
function shareChildren(memberCounts: number[], total: number, memberTotal: number): number[] {
  const quotas = memberCounts.map((members) => (total * members) / memberTotal);
  const shares = quotas.map((quota, parent) => Math.min(memberCounts[parent]!, Math.max(memberCounts[parent]! > 0 ? 1 : 0, Math.floor(quota))));
  let assigned = shares.reduce((sum, share) => sum + share, 0);

  while (assigned > total) {
    const largest = shares.indexOf(Math.max(...shares));
    shares[largest] = shares[largest]! - 1;
    assigned -= 1;
  }
  while (assigned < total) {
    let chosen = -1;
    let bestRemainder = -Infinity;
    shares.forEach((share, parent) => {
      const remainder = quotas[parent]! - share;
      if (share < memberCounts[parent]! && remainder > bestRemainder) {
        bestRemainder = remainder;
        chosen = parent;
      }
    });
    // Unreachable while the sample has at least `total` rows, which the caller ensures.
    if (chosen === -1) {
      throw new RangeError(`Cannot share ${total} lists among ${memberTotal} training vectors.`);
    }
    shares[chosen] = shares[chosen]! + 1;
    assigned += 1;
  }
  return shares;
}
