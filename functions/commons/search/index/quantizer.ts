/**
 * Compression of vectors into byte codes for the first pass of a search, with an approximate
 * dot product of a float query against a code. Two kinds:
 *
 * - `sq8`, scalar quantization: one byte per dimension. Dimension `j` maps
 *   [offset_j, offset_j + 255 * step_j] onto the codes 0..255. Cheap to train and encode, and
 *   nearly as precise as the floats.
 * - `pq`, product quantization (Jégou, Douze and Schmid, "Product quantization for nearest
 *   neighbor search", IEEE TPAMI 2011). The dimensions are cut into `subspaces` runs. Each run is
 *   replaced by the nearest of 256 k-means centroids trained on that run, so a code is one byte
 *   per run. A query first fills a table of its dot product with every centroid of every run, so
 *   the approximate dot product of a code is `subspaces` table look-ups.
 *
 * `IvfIndex` uses `pq` by default. At 120 dimensions a `pq` code is 30 look-ups against 120
 * multiply-adds for `sq8`, and V8 runs both as scalar code (no SIMD). So scanning a list costs
 * `pq` a fraction of the work, and its codes are 4 times smaller. Its codes are less precise, so a
 * search re-ranks more candidates. bench/search.bench.ts measures both at equal recall
 * (bench/RESULTS.md, "Vector search"). `sq8` trains in one pass over the data and stays the
 * default of `trainQuantizer`.
 */
import { trainKMeans } from '#commons/search/index/kmeans.ts';
import { Random } from '#commons/search/index/random.ts';
import { checkVector, countRows } from '#commons/search/index/vectors.ts';

export type QuantizerKind = 'sq8' | 'pq';

export interface ScalarQuantizer {
  readonly kind: 'sq8';
  readonly dim: number;
  /** Value of code 0 in each dimension. */
  readonly offsets: Float32Array;
  /** Value between two consecutive codes in each dimension. */
  readonly steps: Float32Array;
}

export interface ProductQuantizer {
  readonly kind: 'pq';
  readonly dim: number;
  /** Runs of dimensions; run `m` covers dimensions `subspaceStart(dim, subspaces, m)` up to that of `m + 1`. */
  readonly subspaces: number;
  /** 256 centroids per run, run after run: run `m` starts at `256 * subspaceStart(m)` and has `256 * runLength` values. */
  readonly codebooks: Float32Array;
}

export type Quantizer = ScalarQuantizer | ProductQuantizer;

export interface QuantizerOptions {
  /** @default 'sq8' */
  kind?: QuantizerKind;
  /** Runs of dimensions of a `pq` quantizer, from 1 to the dimension. @default round(dim / 4) */
  subspaces?: number;
  /** Vectors that the `pq` k-means trains on. @default 65536 */
  sampleSize?: number;
  /** Lloyd iterations of the `pq` k-means. @default 10 */
  iterations?: number;
  /** Seed of the `pq` training sample and k-means. @default 1 */
  seed?: number;
}

/** A query prepared for `approximateDot`. */
export type QueryTable =
  | {
      readonly kind: 'sq8';
      /** `dot(query, decode(code)) = bias + sum(weights[j] * code[j])`. */
      readonly weights: Float32Array;
      readonly bias: number;
    }
  | {
      readonly kind: 'pq';
      /** `dot(query, decode(code)) = sum over runs m of table[256 * m + code[m]]`. */
      readonly table: Float32Array;
    };

const LEVELS = 255;
const CENTROIDS_PER_RUN = 256;
/**
 * Share of each dimension's training range added on both sides of an `sq8` range, so that
 * vectors added after training that lie a little outside the range are not clamped. Values
 * beyond it are clamped.
 */
const RANGE_MARGIN = 0.05;
const DIMENSIONS_PER_RUN = 4;
const DEFAULT_PQ_SAMPLE = 16_384;
const DEFAULT_PQ_ITERATIONS = 10;
const SQ8_MAGIC = 'PSQ8';
const PQ_MAGIC = 'PPQ1';

/** Returns the first dimension of run `run` when `dim` dimensions are cut into `subspaces` runs. */
export function subspaceStart(dim: number, subspaces: number, run: number): number {
  return Math.floor((run * dim) / subspaces);
}

/** Returns the bytes of one code. */
export function codeBytes(quantizer: Quantizer): number {
  return quantizer.kind === 'sq8' ? quantizer.dim : quantizer.subspaces;
}

/**
 * Trains a quantizer on `vectors`: the per-dimension ranges of `sq8` codes, or the run
 * centroids of `pq` codes. Throws a `RangeError` when there are no vectors.
 */
export function trainQuantizer(vectors: Float32Array, dim: number, options: QuantizerOptions = {}): Quantizer {
  const count = countRows(vectors, dim);
  if (count === 0) {
    throw new RangeError('The quantizer needs at least one training vector, got none.');
  }
  return (options.kind ?? 'sq8') === 'sq8' ? trainScalar(vectors, dim, count) : trainProduct(vectors, dim, count, options);
}

function trainScalar(vectors: Float32Array, dim: number, count: number): ScalarQuantizer {
  const minimum = new Float32Array(dim).fill(Infinity);
  const maximum = new Float32Array(dim).fill(-Infinity);
  for (let row = 0; row < count; row += 1) {
    const offset = row * dim;
    for (let j = 0; j < dim; j += 1) {
      const value = vectors[offset + j]!;
      if (value < minimum[j]!) {
        minimum[j] = value;
      }
      if (value > maximum[j]!) {
        maximum[j] = value;
      }
    }
  }

  const offsets = new Float32Array(dim);
  const steps = new Float32Array(dim);
  for (let j = 0; j < dim; j += 1) {
    const margin = (maximum[j]! - minimum[j]!) * RANGE_MARGIN;
    offsets[j] = minimum[j]! - margin;
    // A constant dimension gets a tiny step so that encoding never divides by zero.
    steps[j] = Math.max((maximum[j]! - minimum[j]! + 2 * margin) / LEVELS, 1e-12);
  }
  return { kind: 'sq8', dim, offsets, steps };
}

function trainProduct(vectors: Float32Array, dim: number, count: number, options: QuantizerOptions): ProductQuantizer {
  const subspaces = options.subspaces ?? Math.max(1, Math.round(dim / DIMENSIONS_PER_RUN));
  if (!Number.isSafeInteger(subspaces) || subspaces < 1 || subspaces > dim) {
    throw new RangeError(`subspaces must be an integer from 1 to the dimension ${dim}, got ${subspaces}.`);
  }
  const seed = options.seed ?? 1;
  const sampleSize = Math.min(count, options.sampleSize ?? DEFAULT_PQ_SAMPLE);
  const rows = sampleSize < count ? new Random(seed).sampleIndices(count, sampleSize) : undefined;

  const codebooks = new Float32Array(CENTROIDS_PER_RUN * dim);
  for (let run = 0; run < subspaces; run += 1) {
    const start = subspaceStart(dim, subspaces, run);
    const length = subspaceStart(dim, subspaces, run + 1) - start;
    const pieces = new Float32Array(sampleSize * length);
    for (let index = 0; index < sampleSize; index += 1) {
      const row = rows === undefined ? index : rows[index]!;
      pieces.set(vectors.subarray(row * dim + start, row * dim + start + length), index * length);
    }
    const centroids = trainKMeans(pieces, length, {
      k: Math.min(CENTROIDS_PER_RUN, sampleSize),
      iterations: options.iterations ?? DEFAULT_PQ_ITERATIONS,
      seed: seed + run,
      spherical: false,
    });
    // With fewer than 256 training vectors the remaining centroids stay zero, and no code uses them.
    codebooks.set(centroids, CENTROIDS_PER_RUN * start);
  }
  return { kind: 'pq', dim, subspaces, codebooks };
}

/** Returns the codes of every row of `vectors`, `codeBytes(quantizer)` bytes per row, row-major. */
export function encode(quantizer: Quantizer, vectors: Float32Array): Uint8Array {
  const count = countRows(vectors, quantizer.dim);
  const bytes = codeBytes(quantizer);
  const codes = new Uint8Array(count * bytes);
  for (let row = 0; row < count; row += 1) {
    encodeInto(quantizer, vectors, row * quantizer.dim, codes, row * bytes);
  }
  return codes;
}

/** Writes the code of `vector[vectorOffset .. + dim)` into `codes[codeOffset ..)`. */
export function encodeInto(quantizer: Quantizer, vector: Float32Array, vectorOffset: number, codes: Uint8Array, codeOffset: number): void {
  if (quantizer.kind === 'sq8') {
    const { dim, offsets, steps } = quantizer;
    for (let j = 0; j < dim; j += 1) {
      const level = Math.round((vector[vectorOffset + j]! - offsets[j]!) / steps[j]!);
      codes[codeOffset + j] = Math.min(LEVELS, Math.max(0, level));
    }
    return;
  }

  const { dim, subspaces, codebooks } = quantizer;
  const halfNorms = centroidHalfNorms(quantizer);
  for (let run = 0; run < subspaces; run += 1) {
    const start = subspaceStart(dim, subspaces, run);
    const length = subspaceStart(dim, subspaces, run + 1) - start;
    const base = CENTROIDS_PER_RUN * start;
    const normOffset = run * CENTROIDS_PER_RUN;
    // The nearest centroid c maximizes x·c - |c|²/2, which needs one multiply-add per value.
    let best = 0;
    let bestScore = -Infinity;
    if (length === 4) {
      const x0 = vector[vectorOffset + start]!;
      const x1 = vector[vectorOffset + start + 1]!;
      const x2 = vector[vectorOffset + start + 2]!;
      const x3 = vector[vectorOffset + start + 3]!;
      for (let centroid = 0; centroid < CENTROIDS_PER_RUN; centroid += 1) {
        const offset = base + 4 * centroid;
        const score =
          x0 * codebooks[offset]! + x1 * codebooks[offset + 1]! + x2 * codebooks[offset + 2]! + x3 * codebooks[offset + 3]! -
          halfNorms[normOffset + centroid]!;
        if (score > bestScore) {
          bestScore = score;
          best = centroid;
        }
      }
      codes[codeOffset + run] = best;
      continue;
    }
    for (let centroid = 0; centroid < CENTROIDS_PER_RUN; centroid += 1) {
      const centroidOffset = base + centroid * length;
      let score = -halfNorms[normOffset + centroid]!;
      for (let j = 0; j < length; j += 1) {
        score += vector[vectorOffset + start + j]! * codebooks[centroidOffset + j]!;
      }
      if (score > bestScore) {
        bestScore = score;
        best = centroid;
      }
    }
    codes[codeOffset + run] = best;
  }
}

const halfNormCache = new WeakMap<ProductQuantizer, Float32Array>();

/** Returns |c|²/2 of every centroid of every run, computed once per quantizer. */
function centroidHalfNorms(quantizer: ProductQuantizer): Float32Array {
  const cached = halfNormCache.get(quantizer);
  if (cached !== undefined) {
    return cached;
  }
  const { dim, subspaces, codebooks } = quantizer;
  const halfNorms = new Float32Array(CENTROIDS_PER_RUN * subspaces);
  for (let run = 0; run < subspaces; run += 1) {
    const start = subspaceStart(dim, subspaces, run);
    const length = subspaceStart(dim, subspaces, run + 1) - start;
    for (let centroid = 0; centroid < CENTROIDS_PER_RUN; centroid += 1) {
      const offset = CENTROIDS_PER_RUN * start + centroid * length;
      let sum = 0;
      for (let j = 0; j < length; j += 1) {
        sum += codebooks[offset + j]! * codebooks[offset + j]!;
      }
      halfNorms[run * CENTROIDS_PER_RUN + centroid] = sum / 2;
    }
  }
  halfNormCache.set(quantizer, halfNorms);
  return halfNorms;
}

/** Returns the vector that a code stands for. */
export function decode(quantizer: Quantizer, codes: Uint8Array, offset: number): Float32Array {
  const vector = new Float32Array(quantizer.dim);
  if (quantizer.kind === 'sq8') {
    for (let j = 0; j < quantizer.dim; j += 1) {
      vector[j] = quantizer.offsets[j]! + quantizer.steps[j]! * codes[offset + j]!;
    }
    return vector;
  }
  const { dim, subspaces, codebooks } = quantizer;
  for (let run = 0; run < subspaces; run += 1) {
    const start = subspaceStart(dim, subspaces, run);
    const length = subspaceStart(dim, subspaces, run + 1) - start;
    const centroidOffset = CENTROIDS_PER_RUN * start + codes[offset + run]! * length;
    vector.set(codebooks.subarray(centroidOffset, centroidOffset + length), start);
  }
  return vector;
}

/** Computes once per query what `approximateDot` needs per code. */
export function prepareQuery(quantizer: Quantizer, query: Float32Array): QueryTable {
  checkVector(query, quantizer.dim, 'query');
  if (quantizer.kind === 'sq8') {
    const weights = new Float32Array(quantizer.dim);
    let bias = 0;
    for (let j = 0; j < quantizer.dim; j += 1) {
      weights[j] = query[j]! * quantizer.steps[j]!;
      bias += query[j]! * quantizer.offsets[j]!;
    }
    return { kind: 'sq8', weights, bias };
  }

  const { dim, subspaces, codebooks } = quantizer;
  const table = new Float32Array(CENTROIDS_PER_RUN * subspaces);
  for (let run = 0; run < subspaces; run += 1) {
    const start = subspaceStart(dim, subspaces, run);
    const length = subspaceStart(dim, subspaces, run + 1) - start;
    const base = CENTROIDS_PER_RUN * start;
    const tableOffset = run * CENTROIDS_PER_RUN;
    if (length === 4) {
      // The default run length, unrolled: the generic loop below is about 4 times slower in V8.
      const q0 = query[start]!;
      const q1 = query[start + 1]!;
      const q2 = query[start + 2]!;
      const q3 = query[start + 3]!;
      for (let centroid = 0; centroid < CENTROIDS_PER_RUN; centroid += 1) {
        const offset = base + 4 * centroid;
        table[tableOffset + centroid] =
          q0 * codebooks[offset]! + q1 * codebooks[offset + 1]! + q2 * codebooks[offset + 2]! + q3 * codebooks[offset + 3]!;
      }
      continue;
    }
    for (let centroid = 0; centroid < CENTROIDS_PER_RUN; centroid += 1) {
      let sum = 0;
      for (let j = 0; j < length; j += 1) {
        sum += query[start + j]! * codebooks[base + centroid * length + j]!;
      }
      table[tableOffset + centroid] = sum;
    }
  }
  return { kind: 'pq', table };
}

/** Returns the dot product of the prepared query with the vector that the code at `codes[offset]` stands for. */
export function approximateDot(table: QueryTable, codes: Uint8Array, offset: number): number {
  return table.kind === 'sq8' ? scalarDot(table.weights, table.bias, codes, offset) : productDot(table.table, codes, offset);
}

/** Returns the `sq8` approximate dot product, for scan loops that branch on the kind once. */
export function scalarDot(weights: Float32Array, bias: number, codes: Uint8Array, offset: number): number {
  const dim = weights.length;
  let sum0 = 0;
  let sum1 = 0;
  let sum2 = 0;
  let sum3 = 0;
  let j = 0;
  for (; j + 3 < dim; j += 4) {
    sum0 += weights[j]! * codes[offset + j]!;
    sum1 += weights[j + 1]! * codes[offset + j + 1]!;
    sum2 += weights[j + 2]! * codes[offset + j + 2]!;
    sum3 += weights[j + 3]! * codes[offset + j + 3]!;
  }
  for (; j < dim; j += 1) {
    sum0 += weights[j]! * codes[offset + j]!;
  }
  return bias + sum0 + sum1 + sum2 + sum3;
}

/** Returns the `pq` approximate dot product, for scan loops that branch on the kind once. */
export function productDot(table: Float32Array, codes: Uint8Array, offset: number): number {
  const runs = table.length >> 8;
  let sum0 = 0;
  let sum1 = 0;
  let run = 0;
  for (; run + 1 < runs; run += 2) {
    sum0 += table[(run << 8) + codes[offset + run]!]!;
    sum1 += table[((run + 1) << 8) + codes[offset + run + 1]!]!;
  }
  if (run < runs) {
    sum0 += table[(run << 8) + codes[offset + run]!]!;
  }
  return sum0 + sum1;
}

/**
 * Returns the quantizer as bytes, little-endian: the magic ("PSQ8" or "PPQ1") and the dimension
 * (uint32), then for `sq8` the offsets and steps (float32), for `pq` the number of runs (uint32)
 * and the codebooks (float32).
 */
export function serializeQuantizer(quantizer: Quantizer): Uint8Array {
  const floats: Float32Array[] = quantizer.kind === 'sq8' ? [quantizer.offsets, quantizer.steps] : [quantizer.codebooks];
  const headerBytes = quantizer.kind === 'sq8' ? 8 : 12;
  const floatCount = floats.reduce((sum, values) => sum + values.length, 0);
  const bytes = new Uint8Array(headerBytes + 4 * floatCount);
  const view = new DataView(bytes.buffer);
  const magic = quantizer.kind === 'sq8' ? SQ8_MAGIC : PQ_MAGIC;
  for (let index = 0; index < magic.length; index += 1) {
    bytes[index] = magic.charCodeAt(index);
  }
  view.setUint32(4, quantizer.dim, true);
  if (quantizer.kind === 'pq') {
    view.setUint32(8, quantizer.subspaces, true);
  }
  let position = headerBytes;
  for (const values of floats) {
    for (const value of values) {
      view.setFloat32(position, value, true);
      position += 4;
    }
  }
  return bytes;
}

/** Reads bytes written by `serializeQuantizer`; throws an `Error` naming the problem when they are not. */
export function deserializeQuantizer(bytes: Uint8Array): Quantizer {
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (bytes.length < 8 || (magic !== SQ8_MAGIC && magic !== PQ_MAGIC)) {
    throw new Error(`Invalid quantizer bytes: expected the magic "${SQ8_MAGIC}" or "${PQ_MAGIC}", got ${JSON.stringify(magic)}.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dim = view.getUint32(4, true);
  const readFloats = (start: number, count: number): Float32Array => {
    const values = new Float32Array(count);
    for (let index = 0; index < count; index += 1) {
      values[index] = view.getFloat32(start + 4 * index, true);
    }
    return values;
  };

  if (magic === SQ8_MAGIC) {
    const expected = 8 + 8 * dim;
    if (dim === 0 || bytes.length !== expected) {
      throw new Error(`Invalid quantizer bytes: ${bytes.length} bytes for an sq8 quantizer of dimension ${dim}, expected ${expected}.`);
    }
    return { kind: 'sq8', dim, offsets: readFloats(8, dim), steps: readFloats(8 + 4 * dim, dim) };
  }

  const subspaces = bytes.length >= 12 ? view.getUint32(8, true) : 0;
  const expected = 12 + 4 * CENTROIDS_PER_RUN * dim;
  if (dim === 0 || subspaces === 0 || subspaces > dim || bytes.length !== expected) {
    throw new Error(
      `Invalid quantizer bytes: ${bytes.length} bytes for a pq quantizer of dimension ${dim} and ${subspaces} runs, expected ${expected}.`,
    );
  }
  return { kind: 'pq', dim, subspaces, codebooks: readFloats(12, CENTROIDS_PER_RUN * dim) };
}
