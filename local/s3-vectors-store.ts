/**
 * Storage behind the local S3 Vectors endpoint: vector buckets, their indexes and the
 * vectors, held in memory and searched exactly (every vector is compared with the query).
 *
 * With a data folder, each index is saved under `<bucket>/<index>/` as `index.json` (the
 * settings, keys and metadata) and `vectors.f32` (the vectors row after row, float32 in
 * the machine's byte order), and each bucket as `<bucket>/bucket.json`. Bucket and index
 * names contain only lowercase letters, digits, `-` and `.`, so they are safe folder names.
 */
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { logger } from '#commons/logger.ts';
import { TopK } from '#commons/search/index/top-k.ts';
import { dot } from '#commons/search/index/vectors.ts';

export type DistanceMetric = 'cosine' | 'euclidean';

export interface VectorBucketSettings {
  vectorBucketName: string;
  vectorBucketArn: string;
  /** Seconds since the Unix epoch. */
  creationTime: number;
}

export interface VectorIndexSettings {
  vectorBucketName: string;
  indexName: string;
  indexArn: string;
  /** Seconds since the Unix epoch. */
  creationTime: number;
  dataType: 'float32';
  dimension: number;
  distanceMetric: DistanceMetric;
  nonFilterableMetadataKeys?: string[];
}

export interface StoredVector {
  key: string;
  data: Float32Array;
  metadata: unknown;
}

export interface VectorMatch {
  key: string;
  distance: number;
}

const INITIAL_CAPACITY = 64;

/** One index: rows of `dimension` float32 values, found by key. */
export class LocalVectorIndex {
  public readonly settings: VectorIndexSettings;
  private keys: string[] = [];
  private metadata: unknown[] = [];
  private readonly rowOfKey = new Map<string, number>();
  private data: Float32Array;
  // The L2 norm of each row, kept so that a cosine query divides instead of summing again.
  private norms: Float32Array;

  public constructor(settings: VectorIndexSettings) {
    this.settings = settings;
    this.data = new Float32Array(INITIAL_CAPACITY * settings.dimension);
    this.norms = new Float32Array(INITIAL_CAPACITY);
  }

  public get size(): number {
    return this.keys.length;
  }

  /** Adds a vector, or replaces the vector and metadata stored under its key. */
  public put(key: string, values: Float32Array, metadata: unknown): void {
    const { dimension } = this.settings;
    let row = this.rowOfKey.get(key);
    if (row === undefined) {
      row = this.keys.length;
      this.ensureCapacity(row + 1);
      this.keys.push(key);
      this.metadata.push(metadata);
      this.rowOfKey.set(key, row);
    } else {
      this.metadata[row] = metadata;
    }
    this.data.set(values, row * dimension);
    this.norms[row] = Math.sqrt(dot(this.data, row * dimension, this.data, row * dimension, dimension));
  }

  /** Deletes the vector under `key`, and returns false when there was none. */
  public delete(key: string): boolean {
    const row = this.rowOfKey.get(key);
    if (row === undefined) {
      return false;
    }
    // Move the last row into the freed one, so that rows stay contiguous.
    const { dimension } = this.settings;
    const last = this.keys.length - 1;
    if (row !== last) {
      const lastKey = this.keys[last] as string;
      this.data.copyWithin(row * dimension, last * dimension, (last + 1) * dimension);
      this.norms[row] = this.norms[last] as number;
      this.keys[row] = lastKey;
      this.metadata[row] = this.metadata[last];
      this.rowOfKey.set(lastKey, row);
    }
    this.keys.pop();
    this.metadata.pop();
    this.rowOfKey.delete(key);
    return true;
  }

  public get(key: string): StoredVector | undefined {
    const row = this.rowOfKey.get(key);
    if (row === undefined) {
      return undefined;
    }
    const { dimension } = this.settings;
    return { key, data: this.data.slice(row * dimension, (row + 1) * dimension), metadata: this.metadata[row] };
  }

  /** Returns every key in ascending order, for paging that stays stable while vectors change. */
  public sortedKeys(): string[] {
    return [...this.keys].sort();
  }

  /**
   * Returns the `topK` vectors nearest to `query`, nearest first. Cosine distance is
   * 1 - cosine similarity, and a zero vector counts as similarity 0. Euclidean distance is
   * the L2 distance.
   */
  public query(query: Float32Array, topK: number): VectorMatch[] {
    const { dimension, distanceMetric } = this.settings;
    const queryNorm = Math.sqrt(dot(query, 0, query, 0, dimension));

    // TopK keeps the highest scores, so the score is the negated distance.
    const best = new TopK(topK);
    for (let row = 0; row < this.keys.length; row += 1) {
      const offset = row * dimension;
      let distance: number;
      if (distanceMetric === 'cosine') {
        const norms = queryNorm * (this.norms[row] as number);
        distance = 1 - (norms === 0 ? 0 : dot(query, 0, this.data, offset, dimension) / norms);
      } else {
        let sumOfSquares = 0;
        for (let i = 0; i < dimension; i += 1) {
          const difference = (query[i] as number) - (this.data[offset + i] as number);
          sumOfSquares += difference * difference;
        }
        distance = Math.sqrt(sumOfSquares);
      }
      best.push(-distance, row);
    }

    const scores = new Float64Array(best.size);
    const rows = new Float64Array(best.size);
    const count = best.drainSorted(scores, rows);
    return Array.from({ length: count }, (_, position) => ({
      key: this.keys[rows[position] as number] as string,
      distance: -(scores[position] as number),
    }));
  }

  /** Writes `index.json` and `vectors.f32` into `folder`, each through a temporary file. */
  public async save(folder: string): Promise<void> {
    await mkdir(folder, { recursive: true });
    const size = this.keys.length;
    const vectors = Buffer.from(this.data.buffer, this.data.byteOffset, size * this.settings.dimension * 4);
    await writeFileAtomically(path.join(folder, 'vectors.f32'), vectors);
    await writeFileAtomically(
      path.join(folder, 'index.json'),
      JSON.stringify({ settings: this.settings, keys: this.keys, metadata: this.metadata }),
    );
  }

  public static async load(folder: string): Promise<LocalVectorIndex> {
    const saved = JSON.parse(await readFile(path.join(folder, 'index.json'), 'utf8')) as {
      settings: VectorIndexSettings;
      keys: string[];
      metadata: unknown[];
    };
    const bytes = await readFile(path.join(folder, 'vectors.f32'));
    const { dimension } = saved.settings;
    if (bytes.byteLength !== saved.keys.length * dimension * 4) {
      throw new Error(
        `${folder}/vectors.f32 has ${bytes.byteLength} bytes but index.json lists ${saved.keys.length} vectors of ` +
          `${dimension} values. Delete the folder to start the index empty.`,
      );
    }
    const vectors = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    const index = new LocalVectorIndex(saved.settings);
    saved.keys.forEach((key, row) => {
      index.put(key, vectors.subarray(row * dimension, (row + 1) * dimension), saved.metadata[row] ?? null);
    });
    return index;
  }

  private ensureCapacity(rows: number): void {
    if (rows <= this.norms.length) {
      return;
    }
    const capacity = Math.max(rows, this.norms.length * 2);
    const data = new Float32Array(capacity * this.settings.dimension);
    data.set(this.data);
    const norms = new Float32Array(capacity);
    norms.set(this.norms);
    this.data = data;
    this.norms = norms;
  }
}

export interface LocalVectorBucket {
  settings: VectorBucketSettings;
  indexes: Map<string, LocalVectorIndex>;
}

// Changes are saved this long after the first unsaved one, so that a burst of PutVectors
// calls rewrites each index once.
const SAVE_DELAY_MS = 100;

/**
 * The buckets of one local endpoint. Without a data folder everything stays in memory.
 *
 * NOTE: a change is written to disk up to 100 ms after its request has returned, so a
 * process killed in that window loses it. `close()` writes every pending change.
 */
export class LocalVectorStore {
  public readonly buckets = new Map<string, LocalVectorBucket>();
  private readonly dataDir: string | undefined;
  private readonly unsaved = new Set<LocalVectorIndex>();
  private readonly deletedFolders = new Set<string>();
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();

  private constructor(dataDir: string | undefined) {
    this.dataDir = dataDir;
  }

  /** Opens the store, loading the buckets and indexes saved in `dataDir`. */
  public static async open(dataDir: string | undefined): Promise<LocalVectorStore> {
    const store = new LocalVectorStore(dataDir);
    if (dataDir === undefined) {
      return store;
    }
    await mkdir(dataDir, { recursive: true });
    for (const bucketEntry of await readdir(dataDir, { withFileTypes: true })) {
      if (!bucketEntry.isDirectory()) {
        continue;
      }
      const bucketFolder = path.join(dataDir, bucketEntry.name);
      const settings = JSON.parse(await readFile(path.join(bucketFolder, 'bucket.json'), 'utf8')) as VectorBucketSettings;
      const bucket: LocalVectorBucket = { settings, indexes: new Map() };
      for (const indexEntry of await readdir(bucketFolder, { withFileTypes: true })) {
        if (indexEntry.isDirectory()) {
          const index = await LocalVectorIndex.load(path.join(bucketFolder, indexEntry.name));
          bucket.indexes.set(index.settings.indexName, index);
        }
      }
      store.buckets.set(settings.vectorBucketName, bucket);
    }
    return store;
  }

  public async saveBucket(bucket: LocalVectorBucket): Promise<void> {
    if (this.dataDir === undefined) {
      return;
    }
    const folder = path.join(this.dataDir, bucket.settings.vectorBucketName);
    await mkdir(folder, { recursive: true });
    await writeFileAtomically(path.join(folder, 'bucket.json'), JSON.stringify(bucket.settings));
  }

  /** Deletes the saved files of a bucket (`indexName` unset) or of one index. */
  public async deleteSaved(bucketName: string, indexName?: string): Promise<void> {
    if (this.dataDir === undefined) {
      return;
    }
    const folder = path.join(this.dataDir, bucketName, ...(indexName === undefined ? [] : [indexName]));
    this.deletedFolders.add(folder);
    await this.saving;
    await rm(folder, { recursive: true, force: true });
    this.deletedFolders.delete(folder);
  }

  /** Schedules a save of the index's vectors. */
  public changed(index: LocalVectorIndex): void {
    if (this.dataDir === undefined) {
      return;
    }
    this.unsaved.add(index);
    this.saveTimer ??= setTimeout(() => {
      this.saveTimer = undefined;
      void this.saveChanges();
    }, SAVE_DELAY_MS);
  }

  /** Writes every pending change and stops the save timer. */
  public async close(): Promise<void> {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    await this.saveChanges();
  }

  private saveChanges(): Promise<void> {
    const dataDir = this.dataDir;
    if (dataDir === undefined) {
      return Promise.resolve();
    }
    const indexes = [...this.unsaved];
    this.unsaved.clear();
    this.saving = this.saving.then(async () => {
      for (const index of indexes) {
        const { vectorBucketName, indexName } = index.settings;
        const folder = path.join(dataDir, vectorBucketName, indexName);
        const deleted = this.deletedFolders.has(folder) || this.deletedFolders.has(path.join(dataDir, vectorBucketName));
        if (deleted || this.buckets.get(vectorBucketName)?.indexes.get(indexName) !== index) {
          continue;
        }
        try {
          await index.save(folder);
        } catch (error) {
          logger.error('local S3 Vectors index could not be saved', { vectorBucketName, indexName, folder, error });
        }
      }
    });
    return this.saving;
  }
}

async function writeFileAtomically(file: string, content: string | Buffer): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, content);
  await rename(temporary, file);
}
