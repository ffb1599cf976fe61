/**
 * Dense vector arithmetic on row-major `Float32Array`s: row `i` of a matrix with `dim` columns
 * starts at `i * dim`. The loops keep four independent sums because V8 compiles each `+=` to a
 * scalar add whose latency, not throughput, limits a single running sum.
 */

/** Returns the dot product of `a[aOffset .. aOffset + dim)` and `b[bOffset .. bOffset + dim)`. */
export function dot(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, dim: number): number {
  let sum0 = 0;
  let sum1 = 0;
  let sum2 = 0;
  let sum3 = 0;
  let j = 0;
  for (; j + 3 < dim; j += 4) {
    sum0 += a[aOffset + j]! * b[bOffset + j]!;
    sum1 += a[aOffset + j + 1]! * b[bOffset + j + 1]!;
    sum2 += a[aOffset + j + 2]! * b[bOffset + j + 2]!;
    sum3 += a[aOffset + j + 3]! * b[bOffset + j + 3]!;
  }
  for (; j < dim; j += 1) {
    sum0 += a[aOffset + j]! * b[bOffset + j]!;
  }
  return sum0 + sum1 + sum2 + sum3;
}

/**
 * Writes into `scores[row - firstRow]` the dot product of `query` with each row of `matrix` from
 * `firstRow` up to, not including, `endRow` (default: all rows). Four rows share each load of a
 * query value and keep four independent sums.
 */
export function dotAll(
  matrix: Float32Array,
  dim: number,
  query: Float32Array,
  queryOffset: number,
  scores: Float32Array,
  firstRow = 0,
  endRow = matrix.length / dim,
): void {
  let row = firstRow;
  for (; row + 3 < endRow; row += 4) {
    const offset0 = row * dim;
    const offset1 = offset0 + dim;
    const offset2 = offset1 + dim;
    const offset3 = offset2 + dim;
    let sum0 = 0;
    let sum1 = 0;
    let sum2 = 0;
    let sum3 = 0;
    for (let j = 0; j < dim; j += 1) {
      const value = query[queryOffset + j]!;
      sum0 += matrix[offset0 + j]! * value;
      sum1 += matrix[offset1 + j]! * value;
      sum2 += matrix[offset2 + j]! * value;
      sum3 += matrix[offset3 + j]! * value;
    }
    const target = row - firstRow;
    scores[target] = sum0;
    scores[target + 1] = sum1;
    scores[target + 2] = sum2;
    scores[target + 3] = sum3;
  }
  for (; row < endRow; row += 1) {
    scores[row - firstRow] = dot(matrix, row * dim, query, queryOffset, dim);
  }
}

/** Scales `vector[offset .. offset + dim)` to unit length in place; a zero vector stays zero. */
export function normalizeInPlace(vector: Float32Array, offset: number, dim: number): void {
  const norm = Math.sqrt(dot(vector, offset, vector, offset, dim));
  if (norm === 0) {
    return;
  }
  for (let j = 0; j < dim; j += 1) {
    vector[offset + j] = vector[offset + j]! / norm;
  }
}

/** Throws a `RangeError` unless `dim` is a positive integer. */
export function checkDimension(dim: number): void {
  if (!Number.isSafeInteger(dim) || dim <= 0) {
    throw new RangeError(`The dimension must be a positive integer, got ${dim}.`);
  }
}

/** Returns the number of `dim`-long rows in `vectors`, or throws a `RangeError` when the length is not a multiple of `dim`. */
export function countRows(vectors: Float32Array, dim: number, name = 'vectors'): number {
  checkDimension(dim);
  if (vectors.length % dim !== 0) {
    throw new RangeError(`The length of ${name} (${vectors.length}) is not a multiple of the dimension ${dim}.`);
  }
  return vectors.length / dim;
}

/** Throws a `RangeError` unless `vector` has exactly `dim` values. */
export function checkVector(vector: Float32Array, dim: number, name = 'vector'): void {
  if (vector.length !== dim) {
    throw new RangeError(`The ${name} has ${vector.length} values, expected the index dimension ${dim}.`);
  }
}
