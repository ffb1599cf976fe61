/**
 * An inverted file (IVF) index: k-means splits the vectors into `nlist` clusters, each kept as
 * a list of ids, quantizer codes and, optionally, float vectors. A code stores the residual
 * `x - c` of a vector `x` from its list's centroid `c`, which is smaller than `x` and so
 * compresses with less error. A search ranks the centroids, through the parent level when the
 * training was two-level (see `coarse.ts`). It scans the codes of the `nprobe` nearest lists
 * with the score `dot(q, c) + approximate dot(q, x - c)`, the first pass. Then it re-scores the
 * best `rerank` candidates exactly with their float vectors.
 *
 * The same parts travel to storage: `exportHeader` returns the centroids and the quantizer, and
 * `exportList` one list in the `cluster-list.ts` format. `probeLists` and `searchClusterLists`
 * search lists that were decoded from storage, without an `IvfIndex`.
 */
import { type ClusterList, decodeClusterList, encodeClusterList } from '#commons/search/index/cluster-list.ts';
import { assignToLists, trainCoarseQuantizer } from '#commons/search/index/coarse.ts';
import { checkK, estimateIdBytes, type SearchHit } from '#commons/search/index/exact.ts';
import {
  type QueryTable,
  type Quantizer,
  type QuantizerOptions,
  codeBytes,
  encodeInto,
  prepareQuery,
  productDot,
  scalarDot,
  trainQuantizer,
} from '#commons/search/index/quantizer.ts';
import { type IvfHeader, ProbeBuffers, decodeIvfHeader, encodeIvfHeader, probeLists } from '#commons/search/index/ivf-header.ts';
import { Random } from '#commons/search/index/random.ts';
import { TopK } from '#commons/search/index/top-k.ts';
import { checkVector, countRows, dot, dotAll } from '#commons/search/index/vectors.ts';

export interface IvfBuildOptions {
  /** Number of clusters (inverted lists), at most the number of vectors. @default min(n, round(4 * sqrt(n))) */
  nlist?: number;
  /** Seed of the k-means training; the same seed and data give the same index. @default 1 */
  seed?: number;
  /** Lloyd iterations of each k-means run. @default 10 */
  iterations?: number;
  /** Training vectors per list that k-means samples. @default 32 */
  trainingSamplesPerList?: number;
  /** Keeps the float vectors for exact re-ranking; without them scores are the codes' approximations. @default true */
  storeVectors?: boolean;
  /** The compression of the first pass, trained on the residuals of the vectors being indexed. @default { kind: 'pq' } */
  quantizer?: QuantizerOptions;
}

export interface IvfSearchOptions {
  /**
   * Lists scanned, nearest centroids first. More lists raise recall and cost time. On the 1M
   * vectors of bench/search.bench.ts (4,000 lists), recall@10 was 0.93 at 16 and 0.96 at 24,
   * with rerank 50. @default 16
   */
  nprobe?: number;
  /**
   * Parents whose children are ranked to choose the lists, for an index trained in two levels
   * (see `coarse.ts`). More parents find the nearest lists more reliably. @default max(8, ceil(nprobe / 2))
   */
  parentProbe?: number;
  /** First-pass candidates re-scored with the float vectors; `k` when lower than `k`. @default 5 * k */
  rerank?: number;
  /**
   * Keeps only the ids it returns true for, checked during the scan. NOTE: only the `nprobe`
   * lists are scanned, so a filter that allows few ids can return fewer than `k` hits although
   * more allowed ids exist. Raise `nprobe` for such filters, up to `nlist` for an exhaustive scan.
   */
  allow?: (id: string) => boolean;
}

/** One inverted list in memory, with room for `capacity` entries of which `ids.length` are used. */
interface InvertedList {
  ids: string[];
  codes: Uint8Array;
  vectors: Float32Array | undefined;
  capacity: number;
}

const DEFAULT_NLIST_FACTOR = 4;
const DEFAULT_NPROBE = 16;
const DEFAULT_RERANK_FACTOR = 5;
const DEFAULT_ITERATIONS = 10;
const DEFAULT_SAMPLES_PER_LIST = 32;
const DEFAULT_SEED = 1;
const GROWTH_FACTOR = 1.5;
/** A candidate's handle is `list * LIST_STRIDE + slot`, exact in a float64 for any list size below 2^32. */
const LIST_STRIDE = 2 ** 32;
const MIN_PARENT_PROBE = 8;
/** Residuals that the quantizer trains on at most; the `pq` k-means samples fewer again. */
const QUANTIZER_SAMPLE = 65_536;

/**
 * Reusable buffers of one search: a search allocates only its result, apart from growing these
 * when `rerank` or `k` exceed every earlier call's.
 */
class SearchBuffers {
  public readonly candidates = new TopK(1);
  public readonly final = new TopK(1);
  public candidateScores = new Float64Array(1);
  public candidateHandles = new Float64Array(1);
  public finalScores = new Float64Array(1);
  public finalHandles = new Float64Array(1);

  public ensure(candidates: number, k: number): void {
    if (this.candidateScores.length < candidates) {
      this.candidateScores = new Float64Array(candidates);
      this.candidateHandles = new Float64Array(candidates);
    }
    if (this.finalScores.length < k) {
      this.finalScores = new Float64Array(k);
      this.finalHandles = new Float64Array(k);
    }
  }
}

/**
 * An IVF index in memory. Searches reuse buffers of the index, so an `allow` callback must not
 * search the same index.
 */
export class IvfIndex {
  public readonly dim: number;
  public readonly nlist: number;
  public readonly storeVectors: boolean;
  private readonly header: IvfHeader;
  private readonly centroids: Float32Array;
  private readonly quantizer: Quantizer;
  private readonly codeBytes: number;
  private readonly lists: InvertedList[];
  private readonly listOfId = new Map<string, number>();
  private readonly buffers = new SearchBuffers();
  private readonly probeBuffers: ProbeBuffers;
  private readonly code: Uint8Array;
  private readonly residual: Float32Array;

  private constructor(header: IvfHeader) {
    this.dim = header.dim;
    this.nlist = header.centroids.length / header.dim;
    this.storeVectors = header.storeVectors;
    this.header = header;
    this.centroids = header.centroids;
    this.quantizer = header.quantizer;
    this.codeBytes = codeBytes(header.quantizer);
    this.lists = Array.from({ length: this.nlist }, () => ({
      ids: [],
      codes: new Uint8Array(0),
      vectors: header.storeVectors ? new Float32Array(0) : undefined,
      capacity: 0,
    }));
    this.probeBuffers = new ProbeBuffers(header);
    this.code = new Uint8Array(this.codeBytes);
    this.residual = new Float32Array(this.dim);
  }

  /**
   * Trains the centroids and the quantizer on `vectors` (row-major, `dim` columns, one row per
   * id) and fills the lists. Throws a `RangeError` when there are no vectors, the ids do not match
   * the rows or an id repeats.
   */
  public static build(vectors: Float32Array, ids: readonly string[], dim: number, options: IvfBuildOptions = {}): IvfIndex {
    const count = countRows(vectors, dim);
    if (ids.length !== count) {
      throw new RangeError(`Got ${ids.length} ids for ${count} vectors; pass one id per vector.`);
    }
    if (count === 0) {
      throw new RangeError('An IVF index needs at least one vector to train on, got none.');
    }
    const nlist = options.nlist ?? Math.min(count, Math.round(DEFAULT_NLIST_FACTOR * Math.sqrt(count)));
    if (!Number.isSafeInteger(nlist) || nlist < 1 || nlist > count) {
      throw new RangeError(`nlist must be an integer from 1 to the number of vectors (${count}), got ${nlist}.`);
    }

    const coarse = trainCoarseQuantizer(vectors, dim, {
      nlist,
      seed: options.seed ?? DEFAULT_SEED,
      iterations: options.iterations ?? DEFAULT_ITERATIONS,
      sampleSize: nlist * (options.trainingSamplesPerList ?? DEFAULT_SAMPLES_PER_LIST),
    });
    const assignments = assignToLists(coarse, dim, vectors);
    const seed = options.seed ?? DEFAULT_SEED;
    const residuals = sampleResiduals(vectors, dim, coarse.centroids, assignments, seed);
    const header: IvfHeader = {
      dim,
      centroids: coarse.centroids,
      quantizer: trainQuantizer(residuals, dim, { seed, kind: 'pq', ...options.quantizer }),
      storeVectors: options.storeVectors ?? true,
    };
    if (coarse.parents !== undefined && coarse.childStarts !== undefined) {
      header.parents = coarse.parents;
      header.childStarts = coarse.childStarts;
    }
    const index = new IvfIndex(header);
    index.fill(vectors, ids, assignments);
    return index;
  }

  /** Rebuilds an index from `exportHeader()` and every list's `exportList()` bytes, in list order. */
  public static fromExport(header: Uint8Array, lists: readonly Uint8Array[]): IvfIndex {
    const index = new IvfIndex(decodeIvfHeader(header));
    if (lists.length !== index.nlist) {
      throw new RangeError(`The header describes ${index.nlist} lists, got ${lists.length}.`);
    }
    lists.forEach((bytes, list) => index.importList(list, decodeClusterList(bytes)));
    return index;
  }

  public get size(): number {
    return this.listOfId.size;
  }

  public has(id: string): boolean {
    return this.listOfId.has(id);
  }

  /** Returns the list that contains `id`, or undefined when the index has no vector for it. */
  public listOf(id: string): number | undefined {
    return this.listOfId.get(id);
  }

  /** Returns the number of entries of each list. */
  public listSizes(): number[] {
    return this.lists.map((list) => list.ids.length);
  }

  /**
   * Adds the vector of `id` to the list of its nearest centroid, replacing any earlier vector of
   * `id`, and returns that list. The centroids and the quantizer stay as trained: rebuild the
   * index when the data drifts far from them.
   */
  public add(id: string, vector: Float32Array): number {
    checkVector(vector, this.dim);
    this.remove(id);
    const nearest = nearestList(this.header, vector, this.probeBuffers.scores);
    this.encodeResidual(vector, 0, nearest);
    this.append(nearest, id, this.code, 0, vector, 0);
    return nearest;
  }

  /** Removes the vector of `id`; returns false when the index has none. */
  public remove(id: string): boolean {
    const listIndex = this.listOfId.get(id);
    if (listIndex === undefined) {
      return false;
    }
    const list = this.lists[listIndex]!;
    const slot = list.ids.indexOf(id);
    const last = list.ids.length - 1;
    const dim = this.dim;
    const bytes = this.codeBytes;
    // Moves the last entry into the freed slot, so the list stays contiguous.
    if (slot !== last) {
      list.ids[slot] = list.ids[last]!;
      list.codes.copyWithin(slot * bytes, last * bytes, (last + 1) * bytes);
      list.vectors?.copyWithin(slot * dim, last * dim, (last + 1) * dim);
    }
    list.ids.pop();
    this.listOfId.delete(id);
    return true;
  }

  /** Returns the `k` ids with the highest scores, best first: exact dot products for re-ranked candidates. */
  public search(query: Float32Array, k: number, options: IvfSearchOptions = {}): SearchHit[] {
    checkVector(query, this.dim, 'query');
    checkK(k);
    const nprobe = Math.min(this.nlist, options.nprobe ?? DEFAULT_NPROBE);
    if (!Number.isSafeInteger(nprobe) || nprobe < 1) {
      throw new RangeError(`nprobe must be a positive integer, got ${options.nprobe}.`);
    }
    const parentProbe = options.parentProbe ?? Math.max(MIN_PARENT_PROBE, Math.ceil(nprobe / 2));
    if (!Number.isSafeInteger(parentProbe) || parentProbe < 1) {
      throw new RangeError(`parentProbe must be a positive integer, got ${options.parentProbe}.`);
    }
    const rerank = rerankCount(k, options.rerank);
    if (k === 0 || this.size === 0) {
      return [];
    }

    const buffers = this.buffers;
    buffers.ensure(rerank, k);
    const probed = probeLists(this.header, query, nprobe, parentProbe, this.probeBuffers);
    const table = prepareQuery(this.quantizer, query);
    buffers.candidates.reset(rerank);
    for (let position = 0; position < probed; position += 1) {
      const listIndex = this.probeBuffers.lists[position]!;
      const list = this.lists[listIndex]!;
      const centroidScore = this.probeBuffers.listScores[position]!;
      scanList(table, centroidScore, list.codes, list.ids, options.allow, buffers.candidates, listIndex);
    }
    const found = buffers.candidates.drainSorted(buffers.candidateScores, buffers.candidateHandles);
    return this.storeVectors
      ? rerankCandidates(query, this.dim, found, k, buffers, (listIndex) => this.lists[listIndex]!)
      : approximateHits(found, k, buffers, (listIndex) => this.lists[listIndex]!);
  }

  /**
   * Returns the bytes of the centroids, codes and float vectors (the allocated capacity of each
   * list) plus an estimate of the ids and the id-to-list map (see `estimateIdBytes`).
   */
  public memoryBytes(): number {
    let bytes = this.centroids.byteLength + (this.header.parents?.byteLength ?? 0) + this.probeBuffers.scores.byteLength;
    for (const list of this.lists) {
      bytes += list.codes.byteLength + (list.vectors?.byteLength ?? 0) + estimateIdBytes(list.ids);
    }
    return bytes;
  }

  /** Returns the header (centroids, parents, quantizer, whether lists carry vectors) in the format of `encodeIvfHeader`. */
  public exportHeader(): Uint8Array {
    return encodeIvfHeader(this.header);
  }

  /** Returns one list in the `cluster-list.ts` format. */
  public exportList(listIndex: number): Uint8Array {
    const list = this.lists[listIndex];
    if (list === undefined) {
      throw new RangeError(`List ${listIndex} does not exist; lists run from 0 to ${this.nlist - 1}.`);
    }
    const used = list.ids.length;
    const clusterList: ClusterList = {
      dim: this.dim,
      codeBytes: this.codeBytes,
      ids: list.ids,
      codes: list.codes.subarray(0, used * this.codeBytes),
    };
    if (list.vectors !== undefined) {
      clusterList.vectors = list.vectors.subarray(0, used * this.dim);
    }
    return encodeClusterList(clusterList);
  }

  private importList(listIndex: number, decoded: ClusterList): void {
    if (decoded.dim !== this.dim || decoded.codeBytes !== this.codeBytes) {
      throw new RangeError(
        `List ${listIndex} has dimension ${decoded.dim} and ${decoded.codeBytes}-byte codes, expected ${this.dim} and ${this.codeBytes}.`,
      );
    }
    if (this.storeVectors && decoded.vectors === undefined) {
      throw new RangeError(`List ${listIndex} has no float vectors, but the header requires them (storeVectors is true).`);
    }
    const list = this.lists[listIndex]!;
    this.reserve(list, list.ids.length + decoded.ids.length);
    decoded.ids.forEach((id, slot) => {
      this.remove(id);
      this.append(listIndex, id, decoded.codes, slot * this.codeBytes, decoded.vectors, slot * this.dim);
    });
  }

  private fill(vectors: Float32Array, ids: readonly string[], assignments: Uint32Array): void {
    const sizes = new Uint32Array(this.nlist);
    assignments.forEach((list) => {
      sizes[list] = sizes[list]! + 1;
    });
    this.lists.forEach((list, listIndex) => this.reserve(list, sizes[listIndex]!));

    const dim = this.dim;
    ids.forEach((id, row) => {
      if (this.listOfId.has(id)) {
        throw new RangeError(`The id ${JSON.stringify(id)} appears more than once; ids must be unique.`);
      }
      this.encodeResidual(vectors, row * dim, assignments[row]!);
      this.append(assignments[row]!, id, this.code, 0, vectors, row * dim);
    });
  }

  /** Writes into `this.code` the code of the vector's residual from the centroid of `listIndex`. */
  private encodeResidual(vectors: Float32Array, offset: number, listIndex: number): void {
    encodeResidualInto(this.header, vectors, offset, listIndex, this.residual, this.code);
  }

  private append(
    listIndex: number,
    id: string,
    codes: Uint8Array,
    codeOffset: number,
    vectors: Float32Array | undefined,
    vectorOffset: number,
  ): void {
    const list = this.lists[listIndex]!;
    const slot = list.ids.length;
    if (slot === list.capacity) {
      this.reserve(list, Math.max(4, Math.ceil(list.capacity * GROWTH_FACTOR)));
    }
    const dim = this.dim;
    const bytes = this.codeBytes;
    list.codes.set(codes.subarray(codeOffset, codeOffset + bytes), slot * bytes);
    if (list.vectors !== undefined && vectors !== undefined) {
      list.vectors.set(vectors.subarray(vectorOffset, vectorOffset + dim), slot * dim);
    }
    list.ids.push(id);
    this.listOfId.set(id, listIndex);
  }

  private reserve(list: InvertedList, capacity: number): void {
    if (capacity <= list.capacity) {
      return;
    }
    const codes = new Uint8Array(capacity * this.codeBytes);
    codes.set(list.codes);
    list.codes = codes;
    if (list.vectors !== undefined) {
      const vectors = new Float32Array(capacity * this.dim);
      vectors.set(list.vectors);
      list.vectors = vectors;
    }
    list.capacity = capacity;
  }
}

export { type IvfHeader, ProbeBuffers, decodeIvfHeader, encodeIvfHeader, probeLists };

/** A list read from storage, with its index in the header's centroids. */
export interface ProbedList {
  listIndex: number;
  list: ClusterList;
}

/**
 * Searches lists decoded from storage: the first pass over every list's codes, then exact
 * re-ranking when every list carries float vectors. `lists` are the lists to scan, usually
 * those that `probeLists` chooses.
 */
export function searchClusterLists(
  header: Pick<IvfHeader, 'dim' | 'quantizer' | 'centroids'>,
  query: Float32Array,
  lists: readonly ProbedList[],
  k: number,
  options: Pick<IvfSearchOptions, 'rerank' | 'allow'> = {},
): SearchHit[] {
  checkVector(query, header.dim, 'query');
  checkK(k);
  const bytes = codeBytes(header.quantizer);
  const nlist = header.centroids.length / header.dim;
  lists.forEach(({ listIndex, list }) => {
    if (!Number.isSafeInteger(listIndex) || listIndex < 0 || listIndex >= nlist) {
      throw new RangeError(`List index ${listIndex} does not exist; lists run from 0 to ${nlist - 1}.`);
    }
    if (list.dim !== header.dim || list.codeBytes !== bytes) {
      throw new RangeError(
        `List ${listIndex} has dimension ${list.dim} and ${list.codeBytes}-byte codes, expected ${header.dim} and ${bytes}.`,
      );
    }
  });
  const rerank = rerankCount(k, options.rerank);
  if (k === 0) {
    return [];
  }

  const buffers = new SearchBuffers();
  buffers.ensure(rerank, k);
  buffers.candidates.reset(rerank);
  const table = prepareQuery(header.quantizer, query);
  lists.forEach(({ listIndex, list }, position) => {
    const centroidScore = dot(header.centroids, listIndex * header.dim, query, 0, header.dim);
    scanList(table, centroidScore, list.codes, list.ids, options.allow, buffers.candidates, position);
  });
  const found = buffers.candidates.drainSorted(buffers.candidateScores, buffers.candidateHandles);
  const withVectors = lists.every(({ list }) => list.vectors !== undefined);
  return withVectors
    ? rerankCandidates(query, header.dim, found, k, buffers, (position) => lists[position]!.list)
    : approximateHits(found, k, buffers, (position) => lists[position]!.list);
}

/**
 * Returns the list that `vector` joins, the one of its nearest centroid, and its code for that
 * list: what an index kept in storage appends to that list for a new input.
 */
export function encodeEntry(header: IvfHeader, vector: Float32Array): { listIndex: number; code: Uint8Array } {
  checkVector(vector, header.dim);
  const listIndex = nearestList(header, vector, new Float32Array(header.centroids.length / header.dim));
  const code = new Uint8Array(codeBytes(header.quantizer));
  encodeResidualInto(header, vector, 0, listIndex, new Float32Array(header.dim), code);
  return { listIndex, code };
}

/** Returns the list whose centroid has the highest dot product with `vector`, ranking every centroid. */
function nearestList(header: IvfHeader, vector: Float32Array, scores: Float32Array): number {
  dotAll(header.centroids, header.dim, vector, 0, scores);
  let nearest = 0;
  for (let list = 1; list < scores.length; list += 1) {
    if (scores[list]! > scores[nearest]!) {
      nearest = list;
    }
  }
  return nearest;
}

/** Writes into `code` the code of the residual of `vectors[offset ..]` from the centroid of `listIndex`. */
function encodeResidualInto(
  header: IvfHeader,
  vectors: Float32Array,
  offset: number,
  listIndex: number,
  residual: Float32Array,
  code: Uint8Array,
): void {
  const { dim, centroids } = header;
  const centroidOffset = listIndex * dim;
  for (let j = 0; j < dim; j += 1) {
    residual[j] = vectors[offset + j]! - centroids[centroidOffset + j]!;
  }
  encodeInto(header.quantizer, residual, 0, code, 0);
}

/**
 * Returns the residuals `x - c` of up to `QUANTIZER_SAMPLE` random rows from their list's
 * centroid: the quantizer's training set.
 */
function sampleResiduals(vectors: Float32Array, dim: number, centroids: Float32Array, assignments: Uint32Array, seed: number): Float32Array {
  const count = assignments.length;
  const size = Math.min(count, QUANTIZER_SAMPLE);
  const rows = size < count ? new Random(seed).sampleIndices(count, size) : undefined;
  const residuals = new Float32Array(size * dim);
  for (let index = 0; index < size; index += 1) {
    const row = rows === undefined ? index : rows[index]!;
    const centroidOffset = assignments[row]! * dim;
    for (let j = 0; j < dim; j += 1) {
      residuals[index * dim + j] = vectors[row * dim + j]! - centroids[centroidOffset + j]!;
    }
  }
  return residuals;
}

/** Returns the number of candidates to re-rank: `rerank` (default `5 * k`), at least `k`. */
function rerankCount(k: number, rerank: number | undefined): number {
  if (rerank !== undefined && (!Number.isSafeInteger(rerank) || rerank < 0)) {
    throw new RangeError(`rerank must be a non-negative integer, got ${rerank}.`);
  }
  return Math.max(k, rerank ?? DEFAULT_RERANK_FACTOR * k);
}

/**
 * Pushes each allowed entry of one list into `candidates` with its first-pass score. Codes
 * encode the residual `x - c` from the list's centroid `c`, so `dot(q, x)` is `dot(q, c)`
 * (`centroidScore`) plus the approximate dot product of the query with the residual.
 */
function scanList(
  table: QueryTable,
  centroidScore: number,
  codes: Uint8Array,
  ids: readonly string[],
  allow: ((id: string) => boolean) | undefined,
  candidates: TopK,
  listIndex: number,
): void {
  const base = listIndex * LIST_STRIDE;
  const count = ids.length;
  let threshold = candidates.threshold;
  // One loop per code kind, so that V8 compiles each with a single, inlined scoring function.
  // The filter runs only for entries that would enter the candidates.
  if (table.kind === 'pq') {
    const lookup = table.table;
    const runs = lookup.length >> 8;
    for (let slot = 0; slot < count; slot += 1) {
      const score = centroidScore + productDot(lookup, codes, slot * runs);
      if (score > threshold && (allow === undefined || allow(ids[slot]!))) {
        candidates.push(score, base + slot);
        threshold = candidates.threshold;
      }
    }
    return;
  }
  const { weights, bias } = table;
  const dim = weights.length;
  for (let slot = 0; slot < count; slot += 1) {
    const score = centroidScore + scalarDot(weights, bias, codes, slot * dim);
    if (score > threshold && (allow === undefined || allow(ids[slot]!))) {
      candidates.push(score, base + slot);
      threshold = candidates.threshold;
    }
  }
}

/** Re-scores the first `found` candidates with their float vectors and returns the best `k`. */
function rerankCandidates(
  query: Float32Array,
  dim: number,
  found: number,
  k: number,
  buffers: SearchBuffers,
  listAt: (listIndex: number) => { ids: readonly string[]; vectors?: Float32Array | undefined },
): SearchHit[] {
  const { final, candidateHandles, finalScores, finalHandles } = buffers;
  final.reset(k);
  for (let position = 0; position < found; position += 1) {
    const handle = candidateHandles[position]!;
    const listIndex = Math.floor(handle / LIST_STRIDE);
    const slot = handle - listIndex * LIST_STRIDE;
    const vectors = listAt(listIndex).vectors!;
    final.push(dot(vectors, slot * dim, query, 0, dim), handle);
  }
  const kept = final.drainSorted(finalScores, finalHandles);
  return toHits(finalScores, finalHandles, kept, listAt);
}

function approximateHits(
  found: number,
  k: number,
  buffers: SearchBuffers,
  listAt: (listIndex: number) => { ids: readonly string[] },
): SearchHit[] {
  return toHits(buffers.candidateScores, buffers.candidateHandles, Math.min(k, found), listAt);
}

function toHits(
  scores: Float64Array,
  handles: Float64Array,
  count: number,
  listAt: (listIndex: number) => { ids: readonly string[] },
): SearchHit[] {
  const hits: SearchHit[] = [];
  for (let position = 0; position < count; position += 1) {
    const handle = handles[position]!;
    const listIndex = Math.floor(handle / LIST_STRIDE);
    hits.push({ id: listAt(listIndex).ids[handle - listIndex * LIST_STRIDE]!, score: scores[position]! });
  }
  return hits;
}
