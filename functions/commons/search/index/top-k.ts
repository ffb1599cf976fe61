/**
 * The `capacity` highest-scoring entries seen so far, kept in a binary min-heap on preallocated
 * typed arrays so that a search allocates nothing per candidate. An entry is a score and an
 * integer handle chosen by the caller (a row number, a list slot).
 */
export class TopK {
  private scores: Float64Array;
  private handles: Float64Array;
  private count = 0;
  private limit: number;

  public constructor(capacity: number) {
    this.limit = capacity;
    this.scores = new Float64Array(Math.max(1, capacity));
    this.handles = new Float64Array(Math.max(1, capacity));
  }

  /** Empties the heap and sets how many entries it keeps, growing the buffers when needed. */
  public reset(capacity: number): void {
    if (capacity > this.scores.length) {
      this.scores = new Float64Array(capacity);
      this.handles = new Float64Array(capacity);
    }
    this.limit = capacity;
    this.count = 0;
  }

  public get size(): number {
    return this.count;
  }

  /** The lowest score a new entry must beat to enter a full heap; `-Infinity` while the heap has room. */
  public get threshold(): number {
    return this.count < this.limit ? -Infinity : this.scores[0]!;
  }

  /** Inserts the entry when the heap has room or `score` beats the lowest kept score. */
  public push(score: number, handle: number): void {
    if (this.count < this.limit) {
      this.siftUp(this.count, score, handle);
      this.count += 1;
    } else if (this.limit > 0 && score > this.scores[0]!) {
      this.siftDown(score, handle);
    }
  }

  /**
   * Empties the heap into `scores` and `handles`, best first, and returns the number of entries.
   * The output arrays need room for `size` entries.
   */
  public drainSorted(scores: Float64Array, handles: Float64Array): number {
    const total = this.count;
    for (let position = total - 1; position >= 0; position -= 1) {
      scores[position] = this.scores[0]!;
      handles[position] = this.handles[0]!;
      this.count -= 1;
      if (this.count > 0) {
        this.siftDown(this.scores[this.count]!, this.handles[this.count]!);
      }
    }
    return total;
  }

  private siftUp(start: number, score: number, handle: number): void {
    let position = start;
    while (position > 0) {
      const parent = (position - 1) >> 1;
      if (this.scores[parent]! <= score) {
        break;
      }
      this.scores[position] = this.scores[parent]!;
      this.handles[position] = this.handles[parent]!;
      position = parent;
    }
    this.scores[position] = score;
    this.handles[position] = handle;
  }

  /** Places the entry at the root and moves it down to restore the heap order. */
  private siftDown(score: number, handle: number): void {
    const count = this.count;
    let position = 0;
    for (;;) {
      let child = 2 * position + 1;
      if (child >= count) {
        break;
      }
      if (child + 1 < count && this.scores[child + 1]! < this.scores[child]!) {
        child += 1;
      }
      if (this.scores[child]! >= score) {
        break;
      }
      this.scores[position] = this.scores[child]!;
      this.handles[position] = this.handles[child]!;
      position = child;
    }
    this.scores[position] = score;
    this.handles[position] = handle;
  }
}
