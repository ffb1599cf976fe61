/** Numeric helpers shared by the decoders. */

/** Returns the softmax of `logits`, computed after subtracting the maximum to avoid overflow. */
export function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    max = Math.max(max, logits[i] ?? -Infinity);
  }
  const exps = Array.from(logits, (value) => Math.exp(value - max));
  const sum = exps.reduce((total, value) => total + value, 0);
  return exps.map((value) => value / sum);
}

export function sigmoid(value: number): number {
  return 1 / (1 + Math.exp(-value));
}

/** Returns `vector` scaled to unit L2 norm; an all-zero vector is returned unchanged. */
export function l2Normalize(vector: ArrayLike<number>): number[] {
  let sumOfSquares = 0;
  for (let i = 0; i < vector.length; i++) {
    const value = vector[i] ?? 0;
    sumOfSquares += value * value;
  }
  const norm = Math.sqrt(sumOfSquares);
  return Array.from(vector, (value) => (norm === 0 ? value : value / norm));
}
