/**
 * The part of an IVF index that every search reads before it touches a list: the centroids,
 * the quantizer, and the parent level of a two-level training. Also the choice of the lists to
 * scan for a query, and the binary form of the header for storage.
 */
import { type Quantizer, deserializeQuantizer, serializeQuantizer } from '#commons/search/index/quantizer.ts';
import { TopK } from '#commons/search/index/top-k.ts';
import { countRows, dotAll } from '#commons/search/index/vectors.ts';

export interface IvfHeader {
  dim: number;
  /** `nlist * dim` unit-length values, row-major. List `i` contains the vectors nearest to centroid `i`. */
  centroids: Float32Array;
  quantizer: Quantizer;
  /** Whether the lists carry float vectors for exact re-ranking. */
  storeVectors: boolean;
  /** Parent centroids of a two-level training (`coarse.ts`); absent when the training was flat. */
  parents?: Float32Array;
  /** The children of parent `p` are centroids `childStarts[p]` to `childStarts[p + 1]`. */
  childStarts?: Uint32Array;
}

/** Reusable buffers of `probeLists`, sized for one header. */
export class ProbeBuffers {
  public readonly scores: Float32Array;
  public readonly parentScores: Float32Array;
  public readonly best = new TopK(1);
  public readonly bestParents = new TopK(1);
  public lists = new Float64Array(1);
  public listScores = new Float64Array(1);
  public parents = new Float64Array(1);
  public parentOrderScores = new Float64Array(1);

  public constructor(header: IvfHeader) {
    this.scores = new Float32Array(header.centroids.length / header.dim);
    this.parentScores = new Float32Array((header.parents?.length ?? 0) / header.dim);
  }
}

const HEADER_MAGIC = 'PIVF';
const HEADER_FIXED_BYTES = 24;
const STORES_VECTORS = 1;

/**
 * Writes into `buffers.lists` the `nprobe` lists whose centroids have the highest dot product with
 * `query`, nearest first, and their scores into `buffers.listScores`, and returns how many it
 * wrote. With a parent level, only the children of the `parentProbe` best parents are ranked, so
 * a list under another parent can be missed. Without one, every centroid is ranked.
 */
export function probeLists(header: IvfHeader, query: Float32Array, nprobe: number, parentProbe: number, buffers: ProbeBuffers): number {
  const { dim, centroids, parents, childStarts } = header;
  const { scores, best } = buffers;
  if (buffers.lists.length < nprobe) {
    buffers.lists = new Float64Array(nprobe);
    buffers.listScores = new Float64Array(nprobe);
  }
  best.reset(nprobe);

  if (parents === undefined || childStarts === undefined) {
    dotAll(centroids, dim, query, 0, scores);
    pushAll(best, scores, 0, scores.length);
    return best.drainSorted(buffers.listScores, buffers.lists);
  }

  const parentCount = parents.length / dim;
  const probed = Math.min(parentProbe, parentCount);
  if (buffers.parents.length < probed) {
    buffers.parents = new Float64Array(probed);
    buffers.parentOrderScores = new Float64Array(probed);
  }
  dotAll(parents, dim, query, 0, buffers.parentScores);
  buffers.bestParents.reset(probed);
  pushAll(buffers.bestParents, buffers.parentScores, 0, parentCount);
  const found = buffers.bestParents.drainSorted(buffers.parentOrderScores, buffers.parents);
  for (let position = 0; position < found; position += 1) {
    const parent = buffers.parents[position]!;
    const first = childStarts[parent]!;
    const end = childStarts[parent + 1]!;
    dotAll(centroids, dim, query, 0, scores, first, end);
    pushAll(best, scores, first, end);
  }
  return best.drainSorted(buffers.listScores, buffers.lists);
}

/** Pushes `scores[0 .. end - first)` as the entries `first .. end`. */
function pushAll(best: TopK, scores: Float32Array, first: number, end: number): void {
  let threshold = best.threshold;
  for (let index = first; index < end; index += 1) {
    const score = scores[index - first]!;
    if (score > threshold) {
      best.push(score, index);
      threshold = best.threshold;
    }
  }
}

/**
 * Returns the header as bytes, little-endian. The bytes are "PIVF", then uint32 dimension, nlist,
 * flags (bit 0: lists store float vectors), quantizer byte length and parent count (0 for a flat
 * training). Then follow the quantizer bytes (`serializeQuantizer`), zero padding to a multiple
 * of 4, the centroids and the parents as float32, and the parent count + 1 child starts as uint32.
 */
export function encodeIvfHeader(header: IvfHeader): Uint8Array {
  const nlist = countRows(header.centroids, header.dim, 'centroids');
  const parentCount = header.parents === undefined ? 0 : countRows(header.parents, header.dim, 'parents');
  const starts = header.childStarts ?? new Uint32Array(0);
  if (parentCount > 0 && starts.length !== parentCount + 1) {
    throw new RangeError(`The header has ${parentCount} parents and ${starts.length} child starts, expected ${parentCount + 1}.`);
  }
  const quantizer = serializeQuantizer(header.quantizer);
  const centroidsStart = alignTo4(HEADER_FIXED_BYTES + quantizer.length);
  const parentsStart = centroidsStart + 4 * header.centroids.length;
  const startsStart = parentsStart + 4 * parentCount * header.dim;
  const bytes = new Uint8Array(startsStart + 4 * (parentCount > 0 ? parentCount + 1 : 0));
  const view = new DataView(bytes.buffer);

  for (let index = 0; index < HEADER_MAGIC.length; index += 1) {
    bytes[index] = HEADER_MAGIC.charCodeAt(index);
  }
  view.setUint32(4, header.dim, true);
  view.setUint32(8, nlist, true);
  view.setUint32(12, header.storeVectors ? STORES_VECTORS : 0, true);
  view.setUint32(16, quantizer.length, true);
  view.setUint32(20, parentCount, true);
  bytes.set(quantizer, HEADER_FIXED_BYTES);
  header.centroids.forEach((value, index) => view.setFloat32(centroidsStart + 4 * index, value, true));
  if (parentCount > 0) {
    header.parents!.forEach((value, index) => view.setFloat32(parentsStart + 4 * index, value, true));
    starts.forEach((value, index) => view.setUint32(startsStart + 4 * index, value, true));
  }
  return bytes;
}

/** Reads bytes written by `encodeIvfHeader`; throws an `Error` naming the problem when they are not. */
export function decodeIvfHeader(bytes: Uint8Array): IvfHeader {
  const magic = String.fromCharCode(...bytes.subarray(0, HEADER_MAGIC.length));
  if (bytes.length < HEADER_FIXED_BYTES || magic !== HEADER_MAGIC) {
    throw new Error(`Invalid IVF header: expected the magic "${HEADER_MAGIC}", got ${JSON.stringify(magic)}.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dim = view.getUint32(4, true);
  const nlist = view.getUint32(8, true);
  const storeVectors = (view.getUint32(12, true) & STORES_VECTORS) !== 0;
  const quantizerBytes = view.getUint32(16, true);
  const parentCount = view.getUint32(20, true);
  const centroidsStart = alignTo4(HEADER_FIXED_BYTES + quantizerBytes);
  const parentsStart = centroidsStart + 4 * nlist * dim;
  const startsStart = parentsStart + 4 * parentCount * dim;
  const expected = startsStart + 4 * (parentCount > 0 ? parentCount + 1 : 0);
  if (dim === 0 || bytes.length !== expected) {
    throw new Error(
      `Invalid IVF header: ${bytes.length} bytes, expected ${expected} for ${nlist} centroids and ${parentCount} parents of dimension ${dim}.`,
    );
  }
  const quantizer = deserializeQuantizer(bytes.subarray(HEADER_FIXED_BYTES, HEADER_FIXED_BYTES + quantizerBytes));
  if (quantizer.dim !== dim) {
    throw new Error(`Invalid IVF header: the quantizer has dimension ${quantizer.dim}, the header ${dim}.`);
  }

  const readFloats = (start: number, count: number): Float32Array => {
    const values = new Float32Array(count);
    for (let index = 0; index < count; index += 1) {
      values[index] = view.getFloat32(start + 4 * index, true);
    }
    return values;
  };
  const header: IvfHeader = { dim, centroids: readFloats(centroidsStart, nlist * dim), quantizer, storeVectors };
  if (parentCount > 0) {
    header.parents = readFloats(parentsStart, parentCount * dim);
    header.childStarts = new Uint32Array(parentCount + 1);
    for (let index = 0; index <= parentCount; index += 1) {
      header.childStarts[index] = view.getUint32(startsStart + 4 * index, true);
    }
    if (header.childStarts[parentCount] !== nlist) {
      throw new Error(`Invalid IVF header: the last child start is ${header.childStarts[parentCount]}, expected nlist ${nlist}.`);
    }
  }
  return header;
}

function alignTo4(offset: number): number {
  return (offset + 3) & ~3;
}
