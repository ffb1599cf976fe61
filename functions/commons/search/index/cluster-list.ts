/**
 * Binary codec of one cluster's inverted list: the input ids, their quantizer codes and,
 * optionally, their float vectors for exact re-ranking. The bytes are what an S3 object or a
 * DynamoDB binary attribute stores. Layout, little-endian:
 *
 * | bytes | content |
 * | --- | --- |
 * | 4 | magic "PCL1" |
 * | 4 | uint32 entry count n |
 * | 4 | uint32 vector dimension d |
 * | 4 | uint32 bytes per code c |
 * | 4 | uint32 flags: bit 0 set when float vectors follow |
 * | 4 | uint32 total UTF-8 bytes of the ids |
 * | 2n | uint16 UTF-8 byte length of each id |
 * | … | the ids' UTF-8 bytes, concatenated |
 * | cn | the codes, entry by entry |
 * | 0–3 | zero padding to a multiple of 4 bytes |
 * | 4dn | float32 vectors, entry by entry (when flagged) |
 */

export interface ClusterList {
  /** Dimension of the float vectors; also the vectors' length when they are present. */
  dim: number;
  /** Bytes per quantizer code. */
  codeBytes: number;
  ids: readonly string[];
  /** `ids.length * codeBytes` bytes, entry by entry. */
  codes: Uint8Array;
  /** `ids.length * dim` values, entry by entry; absent when the list stores codes only. */
  vectors?: Float32Array;
}

const MAGIC = 'PCL1';
const HEADER_BYTES = 24;
const HAS_VECTORS = 1;
const MAX_ID_BYTES = 0xffff;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

/** Returns the list as bytes; throws a `RangeError` when the arrays disagree with the ids or an id is too long. */
export function encodeClusterList(list: ClusterList): Uint8Array {
  const count = list.ids.length;
  if (list.codes.length !== count * list.codeBytes) {
    throw new RangeError(`The list has ${count} ids and ${list.codes.length} code bytes, expected ${count * list.codeBytes}.`);
  }
  if (list.vectors !== undefined && list.vectors.length !== count * list.dim) {
    throw new RangeError(`The list has ${count} ids and ${list.vectors.length} vector values, expected ${count * list.dim}.`);
  }

  const encodedIds = list.ids.map((id) => utf8Encoder.encode(id));
  let idBytes = 0;
  encodedIds.forEach((encoded, index) => {
    if (encoded.length > MAX_ID_BYTES) {
      throw new RangeError(`The id at index ${index} has ${encoded.length} UTF-8 bytes, more than the maximum of ${MAX_ID_BYTES}.`);
    }
    idBytes += encoded.length;
  });

  const codesStart = HEADER_BYTES + 2 * count + idBytes;
  const vectorsStart = alignTo4(codesStart + list.codes.length);
  const total = list.vectors === undefined ? codesStart + list.codes.length : vectorsStart + 4 * list.vectors.length;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);

  for (let index = 0; index < MAGIC.length; index += 1) {
    bytes[index] = MAGIC.charCodeAt(index);
  }
  view.setUint32(4, count, true);
  view.setUint32(8, list.dim, true);
  view.setUint32(12, list.codeBytes, true);
  view.setUint32(16, list.vectors === undefined ? 0 : HAS_VECTORS, true);
  view.setUint32(20, idBytes, true);

  let position = HEADER_BYTES + 2 * count;
  encodedIds.forEach((encoded, index) => {
    view.setUint16(HEADER_BYTES + 2 * index, encoded.length, true);
    bytes.set(encoded, position);
    position += encoded.length;
  });
  bytes.set(list.codes, codesStart);
  if (list.vectors !== undefined) {
    writeFloats(bytes, vectorsStart, list.vectors);
  }
  return bytes;
}

/**
 * Reads bytes written by `encodeClusterList`. The returned `codes`, and `vectors` when the bytes
 * are 4-byte aligned in memory, are views on `bytes`, not copies. Throws an `Error` that names
 * the problem when the bytes are not a cluster list or are truncated.
 */
export function decodeClusterList(bytes: Uint8Array): ClusterList {
  if (bytes.length < HEADER_BYTES) {
    throw new Error(`Invalid cluster list: ${bytes.length} bytes is shorter than the ${HEADER_BYTES}-byte header.`);
  }
  const magic = String.fromCharCode(...bytes.subarray(0, MAGIC.length));
  if (magic !== MAGIC) {
    throw new Error(`Invalid cluster list: expected the magic "${MAGIC}", got ${JSON.stringify(magic)}.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(4, true);
  const dim = view.getUint32(8, true);
  const codeBytes = view.getUint32(12, true);
  const hasVectors = (view.getUint32(16, true) & HAS_VECTORS) !== 0;
  const idBytes = view.getUint32(20, true);

  const codesStart = HEADER_BYTES + 2 * count + idBytes;
  const codesEnd = codesStart + count * codeBytes;
  const vectorsStart = alignTo4(codesEnd);
  const expected = hasVectors ? vectorsStart + 4 * count * dim : codesEnd;
  if (bytes.length !== expected) {
    throw new Error(
      `Invalid cluster list: ${bytes.length} bytes, expected ${expected} for ${count} entries of dimension ${dim} with ${codeBytes}-byte codes.`,
    );
  }

  const ids: string[] = new Array<string>(count);
  let position = HEADER_BYTES + 2 * count;
  for (let index = 0; index < count; index += 1) {
    const length = view.getUint16(HEADER_BYTES + 2 * index, true);
    ids[index] = utf8Decoder.decode(bytes.subarray(position, position + length));
    position += length;
  }
  if (position !== codesStart) {
    throw new Error(`Invalid cluster list: the id lengths add up to ${position - HEADER_BYTES - 2 * count} bytes, but the header gives ${idBytes}.`);
  }

  const list: ClusterList = { dim, codeBytes, ids, codes: bytes.subarray(codesStart, codesEnd) };
  if (hasVectors) {
    list.vectors = readFloats(bytes, vectorsStart, count * dim);
  }
  return list;
}

function alignTo4(offset: number): number {
  return (offset + 3) & ~3;
}

function writeFloats(bytes: Uint8Array, start: number, values: Float32Array): void {
  if (LITTLE_ENDIAN) {
    bytes.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), start);
    return;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  values.forEach((value, index) => view.setFloat32(start + 4 * index, value, true));
}

function readFloats(bytes: Uint8Array, start: number, count: number): Float32Array {
  if (LITTLE_ENDIAN) {
    const absolute = bytes.byteOffset + start;
    if (absolute % 4 === 0) {
      return new Float32Array(bytes.buffer, absolute, count);
    }
    return new Float32Array(bytes.slice(start, start + 4 * count).buffer);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Float32Array(count);
  for (let index = 0; index < count; index += 1) {
    values[index] = view.getFloat32(start + 4 * index, true);
  }
  return values;
}
