import { beforeAll, describe, expect, it } from 'vitest';
import { decodeClusterList } from '#commons/search/index/cluster-list.ts';
import { exactTopK } from '#commons/search/index/exact.ts';
import { IvfIndex, ProbeBuffers, decodeIvfHeader, encodeEntry, probeLists, searchClusterLists } from '#commons/search/index/ivf.ts';
import type { QuantizerKind } from '#commons/search/index/quantizer.ts';
import { clusteredData, dotProduct, rowOf } from './synthetic.ts';

const DIM = 120;
const COUNT = 10_000;
const QUERIES = 100;
const K = 10;
// Overlapping clusters (noise norm about 0.9, so a vector's cosine with its center is about 0.75):
// the true neighbours of a query spread over several lists.
const data = clusteredData({ dim: DIM, clusters: 50, count: COUNT + QUERIES, noise: 0.08, seed: 31 });
const base = data.vectors.subarray(0, COUNT * DIM);
const ids = Array.from({ length: COUNT }, (_, row) => `input-${row}`);
const queryOf = (index: number): Float32Array => rowOf(data.vectors, DIM, COUNT + index);

/** Mean share of the exact top 10 among the hits, over all queries. */
function recallAt10(search: (query: Float32Array) => { id: string }[], allow?: (row: number) => boolean): number {
  let found = 0;
  for (let query = 0; query < QUERIES; query += 1) {
    const truth = new Set(exactTopK(base, DIM, queryOf(query), K, allow).map(({ row }) => `input-${row}`));
    found += search(queryOf(query)).filter((hit) => truth.has(hit.id)).length;
  }
  return found / (QUERIES * K);
}

describe.each<QuantizerKind>(['sq8', 'pq'])('IvfIndex with %s codes', (kind) => {
  let index: IvfIndex;

  beforeAll(() => {
    index = IvfIndex.build(base, ids, DIM, { quantizer: { kind, sampleSize: 4096 } });
  });

  it('uses 4 sqrt(n) lists by default', () => {
    expect(index.nlist).toBe(400);
    expect(index.size).toBe(COUNT);
    expect(index.listSizes().reduce((sum, size) => sum + size, 0)).toBe(COUNT);
  });

  it('reaches recall@10 of 0.95 at nprobe 8', () => {
    const recall = recallAt10((query) => index.search(query, K, { nprobe: 8, rerank: 50 }));

    expect(recall).toBeGreaterThanOrEqual(0.95);
  });

  it('loses recall with one list', () => {
    const recall = recallAt10((query) => index.search(query, K, { nprobe: 1, rerank: 50 }));

    // The true neighbours are spread over several lists (measured: 0.30 with one list, 0.78 with four).
    expect(recall).toBeLessThan(0.5);
  });

  it('returns exact scores best first', () => {
    const hits = index.search(queryOf(0), K, { nprobe: 16 });

    expect(hits).toHaveLength(K);
    for (const [position, hit] of hits.entries()) {
      const row = Number(hit.id.slice('input-'.length));
      expect(hit.score).toBeCloseTo(dotProduct(queryOf(0), rowOf(base, DIM, row)), 5);
      if (position > 0) {
        expect(hit.score).toBeLessThanOrEqual(hits[position - 1]!.score);
      }
    }
  });

  it('respects the allow filter', () => {
    const allowedRow = (row: number): boolean => row % 3 === 0;
    const allow = (id: string): boolean => allowedRow(Number(id.slice('input-'.length)));

    const recall = recallAt10((query) => {
      const hits = index.search(query, K, { nprobe: 16, rerank: 50, allow });
      expect(hits.every((hit) => allow(hit.id))).toBe(true);
      return hits;
    }, allowedRow);

    expect(recall).toBeGreaterThanOrEqual(0.95);
  });

  it('returns nothing when the filter allows nothing', () => {
    expect(index.search(queryOf(0), K, { allow: () => false })).toEqual([]);
  });
});

describe('IvfIndex updates', () => {
  const small = () => IvfIndex.build(base.subarray(0, 2000 * DIM), ids.slice(0, 2000), DIM, { nlist: 40 });

  it('removes vectors', () => {
    const index = small();
    const [best] = index.search(queryOf(1), 1, { nprobe: 40 });

    expect(index.remove(best!.id)).toBe(true);

    expect(index.has(best!.id)).toBe(false);
    expect(index.size).toBe(1999);
    expect(index.listSizes().reduce((sum, size) => sum + size, 0)).toBe(1999);
    expect(index.search(queryOf(1), 50, { nprobe: 40 }).map((hit) => hit.id)).not.toContain(best!.id);
    expect(index.remove(best!.id)).toBe(false);
    expect(index.remove('never-added')).toBe(false);
  });

  it('finds every vector after removals', () => {
    const index = small();
    for (let row = 0; row < 2000; row += 2) {
      index.remove(`input-${row}`);
    }

    for (let row = 1; row < 2000; row += 98) {
      expect(index.search(rowOf(base, DIM, row), 1, { nprobe: 40 })[0]!.id).toBe(`input-${row}`);
    }
  });

  it('adds and replaces vectors', () => {
    const index = small();

    const list = index.add('new-input', queryOf(2));
    expect(index.listOf('new-input')).toBe(list);
    expect(index.size).toBe(2001);
    expect(index.search(queryOf(2), 1)[0]).toEqual({ id: 'new-input', score: expect.closeTo(1, 5) });

    index.add('new-input', queryOf(3));
    expect(index.size).toBe(2001);
    expect(index.search(queryOf(3), 1)[0]!.id).toBe('new-input');
    expect(index.search(queryOf(2), 10, { nprobe: 40 }).map((hit) => hit.id)).not.toContain('new-input');
  });

  it('returns no hits for k = 0', () => {
    expect(small().search(queryOf(0), 0)).toEqual([]);
  });

  it('keeps approximate scores without vectors', () => {
    const index = IvfIndex.build(base.subarray(0, 2000 * DIM), ids.slice(0, 2000), DIM, { nlist: 40, storeVectors: false, quantizer: { kind: 'sq8' } });

    const hits = index.search(queryOf(4), K, { nprobe: 40 });

    for (const hit of hits) {
      const row = Number(hit.id.slice('input-'.length));
      expect(Math.abs(hit.score - dotProduct(queryOf(4), rowOf(base, DIM, row)))).toBeLessThan(0.01);
    }
  });
});

describe('IvfIndex export', () => {
  let index: IvfIndex;

  beforeAll(() => {
    index = IvfIndex.build(base, ids, DIM, { quantizer: { kind: 'pq', sampleSize: 4096 } });
  });

  it('round-trips through header and list bytes', () => {
    const lists = Array.from({ length: index.nlist }, (_, list) => index.exportList(list));

    const copy = IvfIndex.fromExport(index.exportHeader(), lists);

    expect(copy.size).toBe(COUNT);
    expect(copy.listSizes()).toEqual(index.listSizes());
    for (let query = 0; query < 20; query += 1) {
      expect(copy.search(queryOf(query), K, { nprobe: 8 })).toEqual(index.search(queryOf(query), K, { nprobe: 8 }));
    }
  });

  it('searches decoded lists like the index', () => {
    const header = decodeIvfHeader(index.exportHeader());
    const buffers = new ProbeBuffers(header);

    for (let query = 0; query < 20; query += 1) {
      const probed = probeLists(header, queryOf(query), 8, 8, buffers);
      const lists = Array.from(buffers.lists.subarray(0, probed), (listIndex) => ({
        listIndex,
        list: decodeClusterList(index.exportList(listIndex)),
      }));

      const hits = searchClusterLists(header, queryOf(query), lists, K, { rerank: 40 });

      expect(hits).toEqual(index.search(queryOf(query), K, { nprobe: 8, parentProbe: 8, rerank: 40 }));
    }
  });

  it('encodes a new entry as add does', () => {
    const header = decodeIvfHeader(index.exportHeader());
    const copy = IvfIndex.fromExport(index.exportHeader(), Array.from({ length: index.nlist }, (_, list) => index.exportList(list)));

    const { listIndex, code } = encodeEntry(header, queryOf(5));
    copy.add('new-input', queryOf(5));

    expect(copy.listOf('new-input')).toBe(listIndex);
    const list = decodeClusterList(copy.exportList(listIndex));
    const slot = list.ids.indexOf('new-input');
    expect(Array.from(list.codes.subarray(slot * 30, (slot + 1) * 30))).toEqual(Array.from(code));
  });

  it('builds the same index for the same seed', () => {
    const first = IvfIndex.build(base.subarray(0, 3000 * DIM), ids.slice(0, 3000), DIM, { seed: 5 });
    const second = IvfIndex.build(base.subarray(0, 3000 * DIM), ids.slice(0, 3000), DIM, { seed: 5 });

    expect(second.exportHeader()).toEqual(first.exportHeader());
    expect(second.exportList(3)).toEqual(first.exportList(3));
  });

  it('rejects a list count that differs from the header', () => {
    expect(() => IvfIndex.fromExport(index.exportHeader(), [])).toThrow(new RangeError('The header describes 400 lists, got 0.'));
  });

  it('rejects a truncated header', () => {
    const header = index.exportHeader();

    expect(() => decodeIvfHeader(header.subarray(0, header.length - 4))).toThrow(
      new Error(`Invalid IVF header: ${header.length - 4} bytes, expected ${header.length} for 400 centroids and 20 parents of dimension 120.`),
    );
  });
});

describe('IvfIndex.build', () => {
  it('rejects repeated ids', () => {
    expect(() => IvfIndex.build(base.subarray(0, 3 * DIM), ['a', 'b', 'a'], DIM, { nlist: 1 })).toThrow(
      new RangeError('The id "a" appears more than once; ids must be unique.'),
    );
  });

  it('rejects an empty set of vectors', () => {
    expect(() => IvfIndex.build(new Float32Array(0), [], DIM)).toThrow(
      new RangeError('An IVF index needs at least one vector to train on, got none.'),
    );
  });

  it('rejects more lists than vectors', () => {
    expect(() => IvfIndex.build(base.subarray(0, 5 * DIM), ids.slice(0, 5), DIM, { nlist: 6 })).toThrow(
      new RangeError('nlist must be an integer from 1 to the number of vectors (5), got 6.'),
    );
  });

  it('rejects ids that do not match the vectors', () => {
    expect(() => IvfIndex.build(base.subarray(0, 5 * DIM), ids.slice(0, 4), DIM)).toThrow(
      new RangeError('Got 4 ids for 5 vectors; pass one id per vector.'),
    );
  });
});
