import { describe, expect, it } from 'vitest';
import { type ClusterList, decodeClusterList, encodeClusterList } from '#commons/search/index/cluster-list.ts';

const DIM = 3;

function sampleList(withVectors: boolean): ClusterList {
  const list: ClusterList = {
    dim: DIM,
    codeBytes: 2,
    ids: ['input-1', 'é-ü-图像', '', 'x'.repeat(300)],
    codes: new Uint8Array([1, 2, 3, 4, 5, 6, 255, 0]),
  };
  if (withVectors) {
    list.vectors = new Float32Array([0.1, 0.2, 0.3, -1, 0, 1, 0.5, 0.5, 0.5, 1e-7, -1e7, 3.25]);
  }
  return list;
}

describe('cluster list codec', () => {
  it('round-trips ids, codes and vectors', () => {
    const list = sampleList(true);

    const decoded = decodeClusterList(encodeClusterList(list));

    expect(decoded.dim).toBe(DIM);
    expect(decoded.codeBytes).toBe(2);
    expect(decoded.ids).toEqual(list.ids);
    expect(Array.from(decoded.codes)).toEqual(Array.from(list.codes));
    expect(Array.from(decoded.vectors!)).toEqual(Array.from(list.vectors!));
  });

  it('round-trips a list without vectors', () => {
    const list = sampleList(false);

    const bytes = encodeClusterList(list);
    const decoded = decodeClusterList(bytes);

    expect(decoded.vectors).toBeUndefined();
    expect(decoded.ids).toEqual(list.ids);
    expect(Array.from(decoded.codes)).toEqual(Array.from(list.codes));
    expect(bytes.length).toBeLessThan(encodeClusterList(sampleList(true)).length);
  });

  it('round-trips an empty list', () => {
    const decoded = decodeClusterList(encodeClusterList({ dim: 120, codeBytes: 30, ids: [], codes: new Uint8Array(0), vectors: new Float32Array(0) }));

    expect(decoded.ids).toEqual([]);
    expect(decoded.codes).toHaveLength(0);
    expect(decoded.vectors).toHaveLength(0);
  });

  it('decodes bytes at an unaligned offset', () => {
    // Buffers from S3 or DynamoDB can start at any offset of a shared ArrayBuffer.
    const bytes = encodeClusterList(sampleList(true));
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);

    const decoded = decodeClusterList(shifted.subarray(1));

    expect(Array.from(decoded.vectors!)).toEqual(Array.from(sampleList(true).vectors!));
  });

  it('decodes from a Node.js Buffer', () => {
    const bytes = Buffer.from(encodeClusterList(sampleList(true)));

    expect(decodeClusterList(bytes).ids).toEqual(sampleList(true).ids);
  });

  it('rejects a wrong magic', () => {
    const bytes = encodeClusterList(sampleList(true));
    bytes[0] = 'X'.charCodeAt(0);

    expect(() => decodeClusterList(bytes)).toThrow(new Error('Invalid cluster list: expected the magic "PCL1", got "XCL1".'));
  });

  it('rejects truncated bytes', () => {
    const bytes = encodeClusterList(sampleList(true));

    expect(() => decodeClusterList(bytes.subarray(0, bytes.length - 4))).toThrow(
      new Error(`Invalid cluster list: ${bytes.length - 4} bytes, expected ${bytes.length} for 4 entries of dimension 3 with 2-byte codes.`),
    );
    expect(() => decodeClusterList(bytes.subarray(0, 10))).toThrow(
      new Error('Invalid cluster list: 10 bytes is shorter than the 24-byte header.'),
    );
  });

  it('rejects codes that do not match the ids', () => {
    const list = { ...sampleList(false), codes: new Uint8Array(7) };

    expect(() => encodeClusterList(list)).toThrow(new RangeError('The list has 4 ids and 7 code bytes, expected 8.'));
  });

  it('rejects vectors that do not match the ids', () => {
    const list = { ...sampleList(false), vectors: new Float32Array(11) };

    expect(() => encodeClusterList(list)).toThrow(new RangeError('The list has 4 ids and 11 vector values, expected 12.'));
  });

  it('rejects an id longer than 65535 bytes', () => {
    const list = { dim: 1, codeBytes: 1, ids: ['a'.repeat(70_000)], codes: new Uint8Array(1) };

    expect(() => encodeClusterList(list)).toThrow(
      new RangeError('The id at index 0 has 70000 UTF-8 bytes, more than the maximum of 65535.'),
    );
  });
});
