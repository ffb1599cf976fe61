import { describe, expect, it } from 'vitest';
import { ExactIndex, exactTopK } from '#commons/search/index/exact.ts';
import { clusteredData, dotProduct, rowOf } from './synthetic.ts';

const DIM = 24;
const data = clusteredData({ dim: DIM, clusters: 8, count: 500, noise: 0.2, seed: 21 });
const query = rowOf(clusteredData({ dim: DIM, clusters: 8, count: 1, noise: 0.2, seed: 22 }).vectors, DIM, 0);

/** Returns the expected top k by sorting every dot product. */
function sortedTopK(k: number, keep: (row: number) => boolean = () => true): { row: number; score: number }[] {
  return Array.from({ length: 500 }, (_, row) => ({ row, score: dotProduct(query, rowOf(data.vectors, DIM, row)) }))
    .filter(({ row }) => keep(row))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

describe('exactTopK', () => {
  it('matches a full sort', () => {
    const hits = exactTopK(data.vectors, DIM, query, 10);

    const expected = sortedTopK(10);
    expect(hits.map((hit) => hit.row)).toEqual(expected.map((hit) => hit.row));
    hits.forEach((hit, index) => expect(hit.score).toBeCloseTo(expected[index]!.score, 5));
  });

  it('skips rows that are not allowed', () => {
    const even = (row: number): boolean => row % 2 === 0;

    const hits = exactTopK(data.vectors, DIM, query, 10, even);

    expect(hits.map((hit) => hit.row)).toEqual(sortedTopK(10, even).map((hit) => hit.row));
  });

  it('returns every row when k exceeds the count', () => {
    expect(exactTopK(data.vectors.subarray(0, 3 * DIM), DIM, query, 10)).toHaveLength(3);
  });

  it('rejects a query of the wrong dimension', () => {
    expect(() => exactTopK(data.vectors, DIM, new Float32Array(5), 10)).toThrow(
      new RangeError('The query has 5 values, expected the index dimension 24.'),
    );
  });

  it('rejects a negative k', () => {
    expect(() => exactTopK(data.vectors, DIM, query, -1)).toThrow(new RangeError('k must be a non-negative integer, got -1.'));
  });
});

describe('ExactIndex', () => {
  const ids = Array.from({ length: 500 }, (_, row) => `input-${row}`);

  it('searches by id', () => {
    const index = ExactIndex.build(data.vectors, ids, DIM);

    const hits = index.search(query, 5);

    expect(hits.map((hit) => hit.id)).toEqual(sortedTopK(5).map(({ row }) => `input-${row}`));
  });

  it('removes and replaces vectors', () => {
    const index = ExactIndex.build(data.vectors, ids, DIM);
    const [best] = index.search(query, 1);

    expect(index.remove(best!.id)).toBe(true);
    expect(index.remove(best!.id)).toBe(false);
    expect(index.size).toBe(499);
    expect(index.search(query, 10).map((hit) => hit.id)).not.toContain(best!.id);

    index.add('input-3', query);
    expect(index.size).toBe(499);
    expect(index.search(query, 1)[0]).toEqual({ id: 'input-3', score: expect.closeTo(1, 5) });
  });

  it('applies the allow filter', () => {
    const index = ExactIndex.build(data.vectors, ids, DIM);
    const allowed = new Set(ids.filter((_, row) => row % 7 === 0));

    const hits = index.search(query, 10, { allow: (id) => allowed.has(id) });

    expect(hits).toHaveLength(10);
    expect(hits.every((hit) => allowed.has(hit.id))).toBe(true);
    expect(hits.map((hit) => hit.id)).toEqual(sortedTopK(10, (row) => row % 7 === 0).map(({ row }) => `input-${row}`));
  });

  it('grows from empty', () => {
    const index = new ExactIndex(DIM, 1);
    for (let row = 0; row < 50; row += 1) {
      index.add(`input-${row}`, rowOf(data.vectors, DIM, row));
    }

    expect(index.size).toBe(50);
    expect(index.search(rowOf(data.vectors, DIM, 42), 1)[0]!.id).toBe('input-42');
  });
});
