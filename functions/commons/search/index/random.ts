/**
 * A seeded pseudo-random generator, so that k-means and the benchmark data are the same on
 * every run and every machine. Mulberry32 (Tommy Ettinger's 32-bit generator) is small and fast;
 * it is not cryptographic.
 */
export class Random {
  private state: number;
  private spareGaussian: number | undefined;

  public constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Returns a uniform number in [0, 1). */
  public next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Returns a uniform integer in [0, bound). */
  public nextInt(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  /** Returns a standard normal number (Box-Muller transform, two values per pair of uniforms). */
  public nextGaussian(): number {
    if (this.spareGaussian !== undefined) {
      const value = this.spareGaussian;
      this.spareGaussian = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - this.next()));
    const angle = 2 * Math.PI * this.next();
    this.spareGaussian = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** Returns `count` distinct integers from [0, bound) in random order (partial Fisher-Yates shuffle). */
  public sampleIndices(bound: number, count: number): Uint32Array {
    const indices = new Uint32Array(bound);
    for (let i = 0; i < bound; i += 1) {
      indices[i] = i;
    }
    for (let i = 0; i < count; i += 1) {
      const j = i + this.nextInt(bound - i);
      const swap = indices[i]!;
      indices[i] = indices[j]!;
      indices[j] = swap;
    }
    return indices.slice(0, count);
  }
}
