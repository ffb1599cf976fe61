/**
 * A least-recently-used cache with a budget in bytes, for the immutable S3 objects of the
 * index (cluster models, list snapshots) that a Lambda container reuses across requests.
 * It caches the promise, so that concurrent requests for one key share one download, and
 * drops a promise that rejects.
 */
export class LruCache<V> {
  private readonly entries = new Map<string, { value: Promise<V>; bytes: number }>();
  private usedBytes = 0;

  public constructor(
    private readonly maxBytes: number,
    private readonly sizeOf: (value: V) => number,
  ) {}

  /** Returns the cached value of `key`, or loads, caches and returns it. */
  public get(key: string, load: () => Promise<V>): Promise<V> {
    const cached = this.entries.get(key);
    if (cached !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, cached);
      return cached.value;
    }
    const value = load();
    const entry = { value, bytes: 0 };
    this.entries.set(key, entry);
    value.then(
      (loaded) => {
        if (this.entries.get(key) !== entry) {
          return;
        }
        entry.bytes = this.sizeOf(loaded);
        this.usedBytes += entry.bytes;
        this.evict();
      },
      () => {
        if (this.entries.get(key) === entry) {
          this.entries.delete(key);
        }
      },
    );
    return value;
  }

  public delete(key: string): void {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.usedBytes -= entry.bytes;
      this.entries.delete(key);
    }
  }

  // Map iteration order is insertion order, and `get` re-inserts a key it hits, so the
  // first entries are the least recently used.
  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.usedBytes <= this.maxBytes) {
        return;
      }
      this.usedBytes -= entry.bytes;
      this.entries.delete(key);
    }
  }
}
