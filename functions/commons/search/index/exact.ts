/**
 * Exact top-k search by brute force: the dot product of the query with every vector. It is the
 * baseline that approximate indexes are measured against, and the whole index of a small app.
 */
import { TopK } from '#commons/search/index/top-k.ts';
import { checkDimension, checkVector, countRows, dotAll } from '#commons/search/index/vectors.ts';

export interface SearchHit {
  id: string;
  /** Dot product with the query: the cosine similarity for L2-normalized vectors. */
  score: number;
}

export interface ScoredRow {
  row: number;
  score: number;
}

/**
 * Returns the `k` rows of `vectors` with the highest dot product with `query`, best first.
 * Rows for which `allow` returns false are skipped.
 */
export function exactTopK(
  vectors: Float32Array,
  dim: number,
  query: Float32Array,
  k: number,
  allow?: (row: number) => boolean,
  scores: Float32Array = new Float32Array(vectors.length / dim),
): ScoredRow[] {
  const count = countRows(vectors, dim);
  checkVector(query, dim, 'query');
  checkK(k);
  dotAll(vectors, dim, query, 0, scores);

  const best = new TopK(Math.min(k, count));
  for (let row = 0; row < count; row += 1) {
    const score = scores[row]!;
    if (score > best.threshold && (allow === undefined || allow(row))) {
      best.push(score, row);
    }
  }
  const sortedScores = new Float64Array(best.size);
  const rows = new Float64Array(best.size);
  const found = best.drainSorted(sortedScores, rows);
  const hits: ScoredRow[] = [];
  for (let index = 0; index < found; index += 1) {
    hits.push({ row: rows[index]!, score: sortedScores[index]! });
  }
  return hits;
}

/** Throws a `RangeError` unless `k` is a non-negative integer. */
export function checkK(k: number): void {
  if (!Number.isSafeInteger(k) || k < 0) {
    throw new RangeError(`k must be a non-negative integer, got ${k}.`);
  }
}

/** A growable set of id-vector pairs searched by brute force. */
export class ExactIndex {
  public readonly dim: number;
  private vectors: Float32Array;
  private ids: string[] = [];
  private rowOf = new Map<string, number>();
  private scores: Float32Array = new Float32Array(0);

  public constructor(dim: number, capacity = 16) {
    checkDimension(dim);
    this.dim = dim;
    this.vectors = new Float32Array(Math.max(1, capacity) * dim);
  }

  /** Builds an index from row-major `vectors` and their `ids`, one id per row. */
  public static build(vectors: Float32Array, ids: readonly string[], dim: number): ExactIndex {
    const count = countRows(vectors, dim);
    if (ids.length !== count) {
      throw new RangeError(`Got ${ids.length} ids for ${count} vectors; pass one id per vector.`);
    }
    const index = new ExactIndex(dim, count);
    ids.forEach((id, row) => index.add(id, vectors.subarray(row * dim, (row + 1) * dim)));
    return index;
  }

  public get size(): number {
    return this.ids.length;
  }

  public has(id: string): boolean {
    return this.rowOf.has(id);
  }

  /** Adds the vector of `id`, or replaces it when `id` is already in the index. */
  public add(id: string, vector: Float32Array): void {
    checkVector(vector, this.dim);
    const existing = this.rowOf.get(id);
    if (existing !== undefined) {
      this.vectors.set(vector, existing * this.dim);
      return;
    }
    const row = this.ids.length;
    if ((row + 1) * this.dim > this.vectors.length) {
      const grown = new Float32Array(Math.max(2 * this.vectors.length, (row + 1) * this.dim));
      grown.set(this.vectors);
      this.vectors = grown;
    }
    this.vectors.set(vector, row * this.dim);
    this.ids.push(id);
    this.rowOf.set(id, row);
  }

  /** Removes the vector of `id`; returns false when the index has none. */
  public remove(id: string): boolean {
    const row = this.rowOf.get(id);
    if (row === undefined) {
      return false;
    }
    const last = this.ids.length - 1;
    if (row !== last) {
      this.vectors.copyWithin(row * this.dim, last * this.dim, (last + 1) * this.dim);
      const movedId = this.ids[last]!;
      this.ids[row] = movedId;
      this.rowOf.set(movedId, row);
    }
    this.ids.pop();
    this.rowOf.delete(id);
    return true;
  }

  /** Returns the `k` ids whose vectors have the highest dot product with `query`, best first. */
  public search(query: Float32Array, k: number, options: { allow?: (id: string) => boolean } = {}): SearchHit[] {
    const used = this.vectors.subarray(0, this.ids.length * this.dim);
    if (this.scores.length < this.ids.length) {
      this.scores = new Float32Array(this.ids.length);
    }
    const allowId = options.allow;
    const allowRow = allowId === undefined ? undefined : (row: number): boolean => allowId(this.ids[row]!);
    return exactTopK(used, this.dim, query, k, allowRow, this.scores).map(({ row, score }) => ({ id: this.ids[row]!, score }));
  }

  /** Returns the bytes of the vector buffer plus an estimate of the ids and their map (see `estimateIdBytes`). */
  public memoryBytes(): number {
    return this.vectors.byteLength + this.scores.byteLength + estimateIdBytes(this.ids);
  }
}

/**
 * Estimates the heap bytes of `ids` kept in an array and a `Map` keyed by id. Per id it counts a
 * one-byte string (about 16 bytes of header plus one byte per character, as for ASCII ids), an
 * array slot of 8 bytes and a Map entry of about 32 bytes. NOTE: an estimate of V8's layout, not
 * a measurement. Ids with characters beyond Latin-1 take two bytes per character.
 */
export function estimateIdBytes(ids: readonly string[]): number {
  let bytes = 0;
  for (const id of ids) {
    bytes += 16 + id.length + 8 + 32;
  }
  return bytes;
}
