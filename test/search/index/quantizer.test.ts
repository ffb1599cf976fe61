import { describe, expect, it } from 'vitest';
import {
  type Quantizer,
  approximateDot,
  codeBytes,
  decode,
  deserializeQuantizer,
  encode,
  prepareQuery,
  serializeQuantizer,
  trainQuantizer,
} from '#commons/search/index/quantizer.ts';
import { clusteredData, dotProduct, rowOf } from './synthetic.ts';

const DIM = 120;
const data = clusteredData({ dim: DIM, clusters: 20, count: 3000, noise: 0.06, seed: 11 });
const queries = clusteredData({ dim: DIM, clusters: 20, count: 50, noise: 0.06, seed: 12 });

/** Largest |approximate - exact| dot product over every query and the first 500 vectors. */
function maxError(quantizer: Quantizer): number {
  const codes = encode(quantizer, data.vectors);
  const bytes = codeBytes(quantizer);
  let worst = 0;
  for (let query = 0; query < 50; query += 1) {
    const table = prepareQuery(quantizer, rowOf(queries.vectors, DIM, query));
    for (let row = 0; row < 500; row += 1) {
      const exact = dotProduct(rowOf(queries.vectors, DIM, query), rowOf(data.vectors, DIM, row));
      worst = Math.max(worst, Math.abs(approximateDot(table, codes, row * bytes) - exact));
    }
  }
  return worst;
}

describe('sq8 quantizer', () => {
  const quantizer = trainQuantizer(data.vectors, DIM, { kind: 'sq8' });

  it('uses one byte per dimension', () => {
    expect(codeBytes(quantizer)).toBe(DIM);
    expect(encode(quantizer, data.vectors)).toHaveLength(3000 * DIM);
  });

  it('approximates dot products closely', () => {
    expect(maxError(quantizer)).toBeLessThan(0.01);
  });

  it('decodes near the original', () => {
    const codes = encode(quantizer, rowOf(data.vectors, DIM, 7));
    const decoded = decode(quantizer, codes, 0);

    expect(dotProduct(decoded, rowOf(data.vectors, DIM, 7))).toBeGreaterThan(0.999);
  });

  it('clamps values outside the trained range', () => {
    const outside = new Float32Array(DIM).fill(5);

    const codes = encode(quantizer, outside);

    expect(Array.from(codes).every((code) => code === 255)).toBe(true);
  });

  it('round-trips through bytes', () => {
    const bytes = serializeQuantizer(quantizer);
    const copy = deserializeQuantizer(bytes);

    expect(copy).toEqual(quantizer);
    expect(bytes).toHaveLength(8 + 8 * DIM);
  });
});

describe('pq quantizer', () => {
  const quantizer = trainQuantizer(data.vectors, DIM, { kind: 'pq', sampleSize: 2048, seed: 3 });

  it('uses one byte per run of four dimensions', () => {
    expect(codeBytes(quantizer)).toBe(30);
    expect(encode(quantizer, data.vectors)).toHaveLength(3000 * 30);
  });

  it('approximates dot products', () => {
    // Each 4-d run keeps only the nearest of 256 centroids, so errors are larger than sq8's.
    expect(maxError(quantizer)).toBeLessThan(0.15);
  });

  it('ranks the nearest vector among the first candidates', () => {
    // What re-ranking relies on: the exact nearest vector comes early in the approximate order.
    const codes = encode(quantizer, data.vectors);
    const ranks: number[] = [];
    for (let query = 0; query < 50; query += 1) {
      const vector = rowOf(queries.vectors, DIM, query);
      const table = prepareQuery(quantizer, vector);
      const exact = Array.from({ length: 3000 }, (_, row) => dotProduct(vector, rowOf(data.vectors, DIM, row)));
      const nearest = exact.indexOf(Math.max(...exact));
      const approximate = Array.from({ length: 3000 }, (_, row) => approximateDot(table, codes, row * 30));
      ranks.push(approximate.filter((score) => score > approximate[nearest]!).length);
    }
    // Measured: ranked first for 23 of the 50 queries, at most 49th.
    expect(ranks.filter((rank) => rank === 0).length).toBeGreaterThanOrEqual(20);
    expect(Math.max(...ranks)).toBeLessThan(100);
  });

  it('splits dimensions that do not divide evenly', () => {
    const odd = trainQuantizer(data.vectors.subarray(0, 600 * DIM), DIM, { kind: 'pq', subspaces: 7 });

    expect(codeBytes(odd)).toBe(7);
    const decoded = decode(odd, encode(odd, rowOf(data.vectors, DIM, 3)), 0);
    expect(dotProduct(decoded, rowOf(data.vectors, DIM, 3))).toBeGreaterThan(0.8);
  });

  it('round-trips through bytes', () => {
    const copy = deserializeQuantizer(serializeQuantizer(quantizer));

    expect(copy).toEqual(quantizer);
  });

  it('rejects more runs than dimensions', () => {
    expect(() => trainQuantizer(data.vectors, DIM, { kind: 'pq', subspaces: 121 })).toThrow(
      new RangeError('subspaces must be an integer from 1 to the dimension 120, got 121.'),
    );
  });
});

describe('deserializeQuantizer', () => {
  it('rejects an unknown magic', () => {
    expect(() => deserializeQuantizer(new TextEncoder().encode('ABCD0000'))).toThrow(
      new Error('Invalid quantizer bytes: expected the magic "PSQ8" or "PPQ1", got "ABCD".'),
    );
  });

  it('rejects truncated bytes', () => {
    const bytes = serializeQuantizer(trainQuantizer(data.vectors, DIM));

    expect(() => deserializeQuantizer(bytes.subarray(0, 100))).toThrow(
      new Error('Invalid quantizer bytes: 100 bytes for an sq8 quantizer of dimension 120, expected 968.'),
    );
  });
});

describe('trainQuantizer', () => {
  it('rejects an empty training set', () => {
    expect(() => trainQuantizer(new Float32Array(0), DIM)).toThrow(new RangeError('The quantizer needs at least one training vector, got none.'));
  });
});
