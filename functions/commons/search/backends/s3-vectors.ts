/**
 * The `s3-vectors` search backend: every app's vectors in its own Amazon S3 Vectors index
 * (cosine distance, float32), all in one vector bucket named by `VECTOR_BUCKET_NAME`. The
 * service stores and searches the vectors, so no function keeps an index in memory. An
 * app's index is created by its first upsert, with the dimension of that upsert's vectors.
 *
 * Request shapes and limits follow the S3 Vectors API reference (API version 2025-07-15:
 * CreateIndex, PutVectors, DeleteVectors, QueryVectors) and the page "Limitations and
 * restrictions" of the Amazon S3 User Guide:
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-vectors-limitations.html
 */
import { createHash } from 'node:crypto';
import {
  ConflictException,
  CreateIndexCommand,
  DeleteVectorsCommand,
  GetIndexCommand,
  GetVectorBucketCommand,
  NotFoundException,
  PutVectorsCommand,
  QueryVectorsCommand,
  type S3VectorsClient,
} from '@aws-sdk/client-s3vectors';
import { s3VectorsClient } from '#commons/aws/clients.ts';
import { InvalidInputError, PerceptError, StatusCode } from '#commons/errors.ts';
import { logger } from '#commons/logger.ts';
import type { VectorBackend, VectorEntry, VectorSearchHit, VectorSearchRequest } from '#commons/search/backend.ts';

/** Vectors per PutVectors call. */
export const PUT_VECTORS_MAX = 500;

/** Keys per DeleteVectors call. */
export const DELETE_VECTORS_MAX = 500;

/** Results per QueryVectors request (30 while the service was in preview, 100 since general availability). */
export const QUERY_TOP_K_MAX = 100;

/** Values per vector; an index's dimension is 1 to 4,096. */
export const DIMENSION_MAX = 4096;

// A request body may be up to 20 MiB. PutVectors batches stay below 16 MiB so that keys and
// field names fit in the rest. One float32 value written as a JSON number takes at most 24
// characters ("-1.2345678901234567e-38") plus a comma, and a key at most 1,024 characters.
const PUT_PAYLOAD_BUDGET_BYTES = 16 * 1024 * 1024;
const JSON_BYTES_PER_VALUE = 25;
const JSON_BYTES_PER_KEY = 1100;

/** S3 Vectors is not set up as the deployment expects. A deployment problem, so HTTP 500. */
export class VectorStoreError extends PerceptError {
  public constructor(code: string, message: string, cause?: unknown) {
    super(message, { code, statusCode: StatusCode.INTERNAL_ERROR, httpStatus: 500, cause });
    this.name = 'VectorStoreError';
  }
}

/**
 * Returns the S3 Vectors index name of an app. Index names are 3 to 63 lowercase letters,
 * digits, `-` and `.`, while app ids may also hold capitals and `_` and run to 255
 * characters. The name is therefore a readable prefix of the id plus 16 hex digits of the
 * id's SHA-256, which keeps `Main` and `main` apart.
 */
export function vectorIndexName(appId: string): string {
  const readable = appId
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, 32)
    .replace(/^-+|-+$/g, '');
  const digest = createHash('sha256').update(appId).digest('hex').slice(0, 16);
  return readable === '' ? `app-${digest}` : `app-${readable}-${digest}`;
}

/** Returns how many vectors of this dimension fit in one PutVectors request. */
export function putBatchSize(dimension: number): number {
  const bytesPerVector = dimension * JSON_BYTES_PER_VALUE + JSON_BYTES_PER_KEY;
  return Math.max(1, Math.min(PUT_VECTORS_MAX, Math.floor(PUT_PAYLOAD_BUDGET_BYTES / bytesPerVector)));
}

export interface S3VectorsBackendOptions {
  /** @default the shared client of `s3VectorsClient()`, whose endpoint comes from `AWS_ENDPOINT_URL_S3VECTORS` */
  client?: S3VectorsClient;
  /** @default the `VECTOR_BUCKET_NAME` environment variable */
  vectorBucketName?: string;
}

export class S3VectorsBackend implements VectorBackend {
  public readonly name = 's3-vectors';
  public readonly vectorBucketName: string;
  private readonly client: S3VectorsClient;

  // Dimension of each app's index, as read or created by this container. S3 Vectors cannot
  // change an index's dimension, so an entry stays true until the index is deleted.
  private readonly dimensions = new Map<string, number>();
  private bucketFound = false;

  public constructor(options: S3VectorsBackendOptions = {}) {
    const vectorBucketName = options.vectorBucketName ?? process.env.VECTOR_BUCKET_NAME;
    if (vectorBucketName === undefined || vectorBucketName === '') {
      throw new Error(
        'Environment variable VECTOR_BUCKET_NAME is missing. The s3-vectors search backend needs the name of its ' +
          'vector bucket: set it in the CDK construct or the local stack.',
      );
    }
    this.vectorBucketName = vectorBucketName;
    this.client = options.client ?? s3VectorsClient();
  }

  public async upsert(appId: string, entries: readonly VectorEntry[]): Promise<void> {
    if (entries.length === 0) {
      return;
    }
    const dimension = commonDimension(appId, entries);
    // The last entry of an input wins, as it would with one call per entry.
    const latest = new Map(entries.map((entry) => [entry.inputId, entry.vector] as const));
    const vectors = [...latest].map(([key, vector]) => ({ key, data: { float32: Array.from(vector) } }));

    await this.requireIndex(appId, dimension);
    const indexName = vectorIndexName(appId);
    const batchSize = putBatchSize(dimension);
    for (let start = 0; start < vectors.length; start += batchSize) {
      const batch = vectors.slice(start, start + batchSize);
      try {
        await this.client.send(new PutVectorsCommand({ vectorBucketName: this.vectorBucketName, indexName, vectors: batch }));
      } catch (error) {
        if (!(error instanceof NotFoundException)) {
          throw error;
        }
        // The index was deleted since this container read it: create it again and retry once.
        logger.warn('vector index missing on write, creating it again', { appId, indexName, error });
        this.dimensions.delete(appId);
        await this.requireIndex(appId, dimension);
        await this.client.send(new PutVectorsCommand({ vectorBucketName: this.vectorBucketName, indexName, vectors: batch }));
      }
    }
  }

  public async remove(appId: string, inputIds: readonly string[]): Promise<void> {
    const keys = [...new Set(inputIds)];
    const indexName = vectorIndexName(appId);
    for (let start = 0; start < keys.length; start += DELETE_VECTORS_MAX) {
      try {
        await this.client.send(
          new DeleteVectorsCommand({
            vectorBucketName: this.vectorBucketName,
            indexName,
            keys: keys.slice(start, start + DELETE_VECTORS_MAX),
          }),
        );
      } catch (error) {
        if (!(error instanceof NotFoundException)) {
          throw error;
        }
        // No index means the app has no vectors, so there is nothing to remove.
        await this.requireBucket(error);
        logger.debug('no vector index to remove from', { appId, indexName });
        return;
      }
    }
  }

  /**
   * Returns the nearest inputs by cosine similarity, at most `QUERY_TOP_K_MAX` of them.
   * S3 Vectors searches approximately, so a close vector can be missing from the hits.
   *
   * NOTE: S3 Vectors cannot call `allow`. With `allow` set, the backend requests the
   * `QUERY_TOP_K_MAX` (100) nearest vectors and filters those, so a search whose allowed
   * inputs are not among the 100 nearest returns fewer than `topK` hits, or none.
   */
  public async search(request: VectorSearchRequest): Promise<VectorSearchHit[]> {
    const { appId, vector, topK, allow } = request;
    if (!Number.isInteger(topK) || topK < 1) {
      throw new InvalidInputError('INVALID_TOP_K', `topK ${topK} is invalid. Ask for 1 to ${QUERY_TOP_K_MAX} hits.`);
    }
    const dimension = await this.existingIndexDimension(appId);
    if (dimension === undefined) {
      return [];
    }
    if (vector.length !== dimension) {
      throw new InvalidInputError(
        'VECTOR_DIMENSION_MISMATCH',
        `The query vector has ${vector.length} values but app ${appId} stores vectors of ${dimension}. ` +
          'Search with an embedding of the model that indexed the app.',
      );
    }

    const wanted = Math.min(topK, QUERY_TOP_K_MAX);
    const hits: VectorSearchHit[] = [];
    let nextToken: string | undefined;
    do {
      const output = await this.client.send(
        new QueryVectorsCommand({
          vectorBucketName: this.vectorBucketName,
          indexName: vectorIndexName(appId),
          topK: allow === undefined ? wanted : QUERY_TOP_K_MAX,
          queryVector: { float32: Array.from(vector) },
          returnDistance: true,
          nextToken,
        }),
      );
      const matches = (output.vectors ?? []).filter((match) => match.key !== undefined);
      const allowed = await Promise.all(matches.map((match) => (allow === undefined ? true : allow(match.key as string))));
      for (const [index, match] of matches.entries()) {
        if (!allowed[index]) {
          continue;
        }
        if (match.distance === undefined) {
          throw new Error(`QueryVectors returned no distance for key ${match.key} although returnDistance was set.`);
        }
        // The index's metric is cosine, whose distance is 1 - cosine similarity.
        hits.push({ inputId: match.key as string, score: 1 - match.distance });
      }
      nextToken = output.nextToken;
    } while (nextToken !== undefined && hits.length < wanted);

    hits.sort((a, b) => b.score - a.score);
    return hits.slice(0, wanted);
  }

  /** Creates the app's index unless it exists, and checks that its dimension is `dimension`. */
  private async requireIndex(appId: string, dimension: number): Promise<void> {
    const indexDimension = this.dimensions.get(appId) ?? (await this.readOrCreateIndex(appId, dimension));
    if (indexDimension !== dimension) {
      throw new InvalidInputError(
        'VECTOR_DIMENSION_MISMATCH',
        `App ${appId} stores vectors of ${indexDimension} values in S3 Vectors index ${vectorIndexName(appId)}, ` +
          `but these have ${dimension}. Index the app with one embedding model only.`,
      );
    }
  }

  private async readOrCreateIndex(appId: string, dimension: number): Promise<number> {
    const existing = await this.existingIndexDimension(appId);
    if (existing !== undefined) {
      return existing;
    }

    const indexName = vectorIndexName(appId);
    try {
      await this.client.send(
        new CreateIndexCommand({
          vectorBucketName: this.vectorBucketName,
          indexName,
          dataType: 'float32',
          dimension,
          distanceMetric: 'cosine',
        }),
      );
      logger.info('vector index created', { appId, indexName, dimension, vectorBucketName: this.vectorBucketName });
      this.dimensions.set(appId, dimension);
      return dimension;
    } catch (error) {
      if (error instanceof NotFoundException) {
        await this.requireBucket(error);
      }
      if (!(error instanceof ConflictException)) {
        throw error;
      }
      // Another function created the index between GetIndex and CreateIndex.
      logger.debug('vector index created concurrently', { appId, indexName });
      const created = await this.existingIndexDimension(appId);
      if (created === undefined) {
        throw new Error(`S3 Vectors index ${indexName} was reported as existing but GetIndex did not find it.`, { cause: error });
      }
      return created;
    }
  }

  /** Returns the dimension of the app's index, or undefined when the app has no index yet. */
  private async existingIndexDimension(appId: string): Promise<number | undefined> {
    const cached = this.dimensions.get(appId);
    if (cached !== undefined) {
      return cached;
    }
    try {
      const output = await this.client.send(
        new GetIndexCommand({ vectorBucketName: this.vectorBucketName, indexName: vectorIndexName(appId) }),
      );
      const dimension = output.index?.dimension;
      if (dimension === undefined) {
        throw new Error(`GetIndex returned no dimension for S3 Vectors index ${vectorIndexName(appId)}.`);
      }
      this.dimensions.set(appId, dimension);
      return dimension;
    } catch (error) {
      if (!(error instanceof NotFoundException)) {
        throw error;
      }
      await this.requireBucket(error);
      return undefined;
    }
  }

  /**
   * Raises `VECTOR_BUCKET_NOT_FOUND` when the vector bucket does not exist. S3 Vectors
   * returns NotFoundException for a missing index and for a missing bucket alike, so a
   * caller that received one checks here which of the two is missing.
   */
  private async requireBucket(notFound: NotFoundException): Promise<void> {
    if (this.bucketFound) {
      return;
    }
    try {
      await this.client.send(new GetVectorBucketCommand({ vectorBucketName: this.vectorBucketName }));
      this.bucketFound = true;
    } catch (error) {
      if (!(error instanceof NotFoundException)) {
        throw error;
      }
      throw new VectorStoreError(
        'VECTOR_BUCKET_NOT_FOUND',
        `S3 Vectors bucket ${this.vectorBucketName} does not exist. Deploy with the context ` +
          'percept:searchBackend=s3-vectors, which creates it, or set VECTOR_BUCKET_NAME to an existing vector bucket.',
        notFound,
      );
    }
  }
}

/** Returns the dimension shared by all entries, or raises if they differ or S3 Vectors cannot store it. */
function commonDimension(appId: string, entries: readonly VectorEntry[]): number {
  const dimension = entries[0]?.vector.length ?? 0;
  if (dimension < 1 || dimension > DIMENSION_MAX) {
    throw new InvalidInputError(
      'VECTOR_DIMENSION_INVALID',
      `Vectors of ${dimension} values cannot be stored in S3 Vectors, which takes 1 to ${DIMENSION_MAX} values per vector.`,
    );
  }
  const other = entries.find((entry) => entry.vector.length !== dimension);
  if (other !== undefined) {
    throw new InvalidInputError(
      'VECTOR_DIMENSION_MISMATCH',
      `Input ${other.inputId} has a vector of ${other.vector.length} values but the other vectors upserted to app ` +
        `${appId} have ${dimension}. Upsert vectors of one embedding model only.`,
    );
  }
  return dimension;
}
