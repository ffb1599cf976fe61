/**
 * A local Amazon S3 Vectors endpoint: the REST/JSON protocol that
 * @aws-sdk/client-s3vectors sends (`POST /<Operation>` with a JSON body), for the bucket,
 * index and vector operations that Percept and its tests use. Errors come back in the
 * service's shape: the `x-amzn-errortype` header and a `message` in the body, with the
 * service's status codes (ValidationException 400, NotFoundException 404,
 * ConflictException 409), so the SDK raises the same exception classes as on AWS.
 *
 * Search is exact, where S3 Vectors searches approximately, so a test that passes here
 * can still miss a close vector on AWS. Request signatures are not checked.
 *
 * Limits are those of the S3 Vectors API reference and the page "Limitations and
 * restrictions" of the Amazon S3 User Guide. Names have 3 to 63 characters and vectors 1
 * to 4,096 values. A PutVectors or DeleteVectors call takes up to 500 vectors, a
 * GetVectors call up to 100 keys, and QueryVectors a topK of up to 100. A ListVectors page
 * has up to 1,000 vectors and a ListIndexes page up to 500 indexes.
 */
import { createHash } from 'node:crypto';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { logger } from '#commons/logger.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './lambda.ts';
import {
  type DistanceMetric,
  type LocalVectorBucket,
  LocalVectorIndex,
  LocalVectorStore,
  type StoredVector,
  type VectorIndexSettings,
} from './s3-vectors-store.ts';
import { closeServer } from './step-functions.ts';

const HOST = '127.0.0.1';
const REQUEST_PAYLOAD_MAX_BYTES = 20 * 1024 * 1024;
const DIMENSION_MAX = 4096;
const PUT_VECTORS_MAX = 500;
const DELETE_VECTORS_MAX = 500;
const GET_VECTORS_MAX = 100;
const QUERY_TOP_K_MAX = 100;
const LIST_VECTORS_PAGE_MAX = 1000;
const LIST_VECTORS_PAGE_DEFAULT = 500;
const LIST_INDEXES_PAGE_MAX = 500;
const LIST_BUCKETS_PAGE_MAX = 500;
const SEGMENT_COUNT_MAX = 16;
const KEY_LENGTH_MAX = 1024;

const BUCKET_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;
const INDEX_NAME_PATTERN = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export interface LocalS3VectorsOptions {
  /** Port to listen on. With 0 the system picks a free one. @default 0 */
  port?: number;
  /** Folder to save buckets, indexes and vectors in. Without it they stay in memory only. */
  dataDir?: string;
}

export interface LocalS3Vectors {
  /** Base URL, for `AWS_ENDPOINT_URL_S3VECTORS`. */
  endpoint: string;
  /** Creates a vector bucket unless one of that name exists. */
  ensureBucket(vectorBucketName: string): Promise<void>;
  /** Stops the server and writes every unsaved change to the data folder. */
  stop(): Promise<void>;
}

/** An error in the service's shape. `type` is the exception name that the SDK maps to its class. */
class ServiceError extends Error {
  public constructor(
    public readonly type: string,
    public readonly httpStatus: number,
    message: string,
  ) {
    super(message);
  }
}

function validation(message: string): ServiceError {
  return new ServiceError('ValidationException', 400, message);
}

type Body = Record<string, unknown>;
type Operation = (body: Body) => Promise<Body> | Body;

export async function startLocalS3Vectors(options: LocalS3VectorsOptions = {}): Promise<LocalS3Vectors> {
  const store = await LocalVectorStore.open(options.dataDir);
  const operations = createOperations(store);

  const server = createServer((request, response) => {
    void handle(request, response, operations);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, HOST, () => resolve());
  });
  const endpoint = `http://${HOST}:${(server.address() as AddressInfo).port}`;
  logger.info('local S3 Vectors endpoint started', { endpoint, dataDir: options.dataDir, buckets: store.buckets.size });

  return {
    endpoint,
    ensureBucket: async (vectorBucketName) => {
      if (!store.buckets.has(vectorBucketName)) {
        await operations.CreateVectorBucket!({ vectorBucketName });
      }
    },
    stop: async () => {
      await closeServer(server);
      await store.close();
      logger.info('local S3 Vectors endpoint stopped', { endpoint });
    },
  };
}

async function handle(request: IncomingMessage, response: ServerResponse, operations: Record<string, Operation>): Promise<void> {
  const operationName = (request.url ?? '/').split('?')[0]?.replace(/^\//, '') ?? '';
  try {
    const operation = operations[operationName];
    if (request.method !== 'POST' || operation === undefined) {
      throw new ServiceError(
        'UnknownOperationException',
        404,
        `The local S3 Vectors endpoint does not implement ${request.method} /${operationName}.`,
      );
    }
    const body = await readJsonBody(request);
    const result = await operation(body);
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(result));
  } catch (error) {
    const serviceError =
      error instanceof ServiceError ? error : new ServiceError('InternalServerException', 500, 'The local S3 Vectors endpoint failed.');
    if (!(error instanceof ServiceError)) {
      logger.error('local S3 Vectors request failed', { operation: operationName, error });
    }
    response.writeHead(serviceError.httpStatus, {
      'content-type': 'application/json',
      'x-amzn-errortype': serviceError.type,
    });
    response.end(JSON.stringify({ message: serviceError.message }));
  }
}

async function readJsonBody(request: IncomingMessage): Promise<Body> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of request) {
    length += (chunk as Buffer).byteLength;
    if (length > REQUEST_PAYLOAD_MAX_BYTES) {
      throw validation(`The request payload exceeds the maximum of ${REQUEST_PAYLOAD_MAX_BYTES} bytes (20 MiB).`);
    }
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text === '') {
    return {};
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw validation('The request body is not valid JSON.');
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw validation('The request body must be a JSON object.');
  }
  return body as Body;
}

function createOperations(store: LocalVectorStore): Record<string, Operation> {
  const bucketArn = (name: string): string => `arn:aws:s3vectors:${LOCAL_REGION}:${LOCAL_ACCOUNT}:bucket/${name}`;

  function findBucket(body: Body): LocalVectorBucket {
    const name = optionalString(body, 'vectorBucketName');
    const arn = optionalString(body, 'vectorBucketArn');
    if ((name === undefined) === (arn === undefined)) {
      throw validation('Specify the vector bucket by exactly one of vectorBucketName and vectorBucketArn.');
    }
    const bucketName = name ?? bucketNameOfArn(arn as string);
    const bucket = store.buckets.get(bucketName);
    if (bucket === undefined) {
      throw new ServiceError('NotFoundException', 404, `The specified vector bucket could not be found: ${bucketName}.`);
    }
    return bucket;
  }

  function findIndex(body: Body): { bucket: LocalVectorBucket; index: LocalVectorIndex } {
    const indexArn = optionalString(body, 'indexArn');
    let bucket: LocalVectorBucket;
    let indexName: string;
    if (indexArn !== undefined) {
      if (body.vectorBucketName !== undefined || body.indexName !== undefined) {
        throw validation('Specify the index either by indexArn or by vectorBucketName and indexName, not both.');
      }
      const match = /^arn:aws:s3vectors:[^:]*:[^:]*:bucket\/([^/]+)\/index\/([^/]+)$/.exec(indexArn);
      if (match === null) {
        throw validation(`indexArn ${indexArn} is not a vector index ARN.`);
      }
      bucket = findBucket({ vectorBucketName: match[1] });
      indexName = match[2] as string;
    } else {
      indexName = requiredString(body, 'indexName');
      bucket = findBucket({ vectorBucketName: requiredString(body, 'vectorBucketName') });
    }
    const index = bucket.indexes.get(indexName);
    if (index === undefined) {
      throw new ServiceError('NotFoundException', 404, `The specified index could not be found: ${indexName}.`);
    }
    return { bucket, index };
  }

  return {
    CreateVectorBucket: async (body) => {
      const vectorBucketName = requiredString(body, 'vectorBucketName');
      if (!BUCKET_NAME_PATTERN.test(vectorBucketName)) {
        throw validation(
          `Vector bucket name ${vectorBucketName} is invalid. Use 3 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit.`,
        );
      }
      if (store.buckets.has(vectorBucketName)) {
        throw new ServiceError('ConflictException', 409, `A vector bucket named ${vectorBucketName} already exists.`);
      }
      const bucket: LocalVectorBucket = {
        settings: { vectorBucketName, vectorBucketArn: bucketArn(vectorBucketName), creationTime: nowSeconds() },
        indexes: new Map(),
      };
      store.buckets.set(vectorBucketName, bucket);
      await store.saveBucket(bucket);
      return { vectorBucketArn: bucket.settings.vectorBucketArn };
    },

    GetVectorBucket: (body) => ({ vectorBucket: findBucket(body).settings }),

    ListVectorBuckets: (body) => {
      const prefix = optionalString(body, 'prefix') ?? '';
      const names = [...store.buckets.keys()].filter((name) => name.startsWith(prefix)).sort();
      const page = pageOf(names, body, LIST_BUCKETS_PAGE_MAX, LIST_BUCKETS_PAGE_MAX);
      return {
        vectorBuckets: page.items.map((name) => store.buckets.get(name)?.settings),
        ...(page.nextToken === undefined ? {} : { nextToken: page.nextToken }),
      };
    },

    DeleteVectorBucket: async (body) => {
      const bucket = findBucket(body);
      if (bucket.indexes.size > 0) {
        throw new ServiceError(
          'ConflictException',
          409,
          `Vector bucket ${bucket.settings.vectorBucketName} still contains ${bucket.indexes.size} indexes. Delete them first.`,
        );
      }
      store.buckets.delete(bucket.settings.vectorBucketName);
      await store.deleteSaved(bucket.settings.vectorBucketName);
      return {};
    },

    CreateIndex: (body) => {
      const bucket = findBucket(body);
      const indexName = requiredString(body, 'indexName');
      if (!INDEX_NAME_PATTERN.test(indexName)) {
        throw validation(
          `Index name ${indexName} is invalid. Use 3 to 63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit.`,
        );
      }
      const dimension = body.dimension;
      if (typeof dimension !== 'number' || !Number.isInteger(dimension) || dimension < 1 || dimension > DIMENSION_MAX) {
        throw validation(`dimension ${JSON.stringify(dimension)} is invalid. Use an integer from 1 to ${DIMENSION_MAX}.`);
      }
      if (body.dataType !== 'float32') {
        throw validation(`dataType ${JSON.stringify(body.dataType)} is invalid. The only data type is float32.`);
      }
      if (body.distanceMetric !== 'cosine' && body.distanceMetric !== 'euclidean') {
        throw validation(`distanceMetric ${JSON.stringify(body.distanceMetric)} is invalid. Use cosine or euclidean.`);
      }
      if (bucket.indexes.has(indexName)) {
        throw new ServiceError('ConflictException', 409, `An index named ${indexName} already exists in ${bucket.settings.vectorBucketName}.`);
      }
      const nonFilterableMetadataKeys = (body.metadataConfiguration as { nonFilterableMetadataKeys?: string[] } | undefined)
        ?.nonFilterableMetadataKeys;
      const settings: VectorIndexSettings = {
        vectorBucketName: bucket.settings.vectorBucketName,
        indexName,
        indexArn: `${bucket.settings.vectorBucketArn}/index/${indexName}`,
        creationTime: nowSeconds(),
        dataType: 'float32',
        dimension,
        distanceMetric: body.distanceMetric as DistanceMetric,
        ...(nonFilterableMetadataKeys === undefined ? {} : { nonFilterableMetadataKeys }),
      };
      const index = new LocalVectorIndex(settings);
      bucket.indexes.set(indexName, index);
      store.changed(index);
      return { indexArn: settings.indexArn };
    },

    GetIndex: (body) => {
      const { settings } = findIndex(body).index;
      const { nonFilterableMetadataKeys, ...attributes } = settings;
      return {
        index: {
          ...attributes,
          ...(nonFilterableMetadataKeys === undefined ? {} : { metadataConfiguration: { nonFilterableMetadataKeys } }),
        },
      };
    },

    ListIndexes: (body) => {
      const bucket = findBucket(body);
      const prefix = optionalString(body, 'prefix') ?? '';
      const names = [...bucket.indexes.keys()].filter((name) => name.startsWith(prefix)).sort();
      const page = pageOf(names, body, LIST_INDEXES_PAGE_MAX, LIST_INDEXES_PAGE_MAX);
      return {
        indexes: page.items.map((name) => {
          const { vectorBucketName, indexName, indexArn, creationTime } = (bucket.indexes.get(name) as LocalVectorIndex).settings;
          return { vectorBucketName, indexName, indexArn, creationTime };
        }),
        ...(page.nextToken === undefined ? {} : { nextToken: page.nextToken }),
      };
    },

    DeleteIndex: async (body) => {
      const { bucket, index } = findIndex(body);
      bucket.indexes.delete(index.settings.indexName);
      await store.deleteSaved(bucket.settings.vectorBucketName, index.settings.indexName);
      return {};
    },

    PutVectors: (body) => {
      const { index } = findIndex(body);
      const vectors = body.vectors;
      if (!Array.isArray(vectors) || vectors.length < 1 || vectors.length > PUT_VECTORS_MAX) {
        throw validation(`vectors must be a list of 1 to ${PUT_VECTORS_MAX} vectors.`);
      }
      // Check every vector before storing any, so that a rejected request changes nothing.
      const checked = vectors.map((vector: unknown, position) => {
        const entry = (vector ?? {}) as { key?: unknown; data?: { float32?: unknown }; metadata?: unknown };
        const key = checkKey(entry.key, `vectors[${position}].key`);
        const values = entry.data?.float32;
        if (!Array.isArray(values) || values.length !== index.settings.dimension) {
          throw validation(
            `vectors[${position}].data.float32 must hold ${index.settings.dimension} numbers, the dimension of index ${index.settings.indexName}; ` +
              `got ${Array.isArray(values) ? values.length : typeof values}.`,
          );
        }
        if (!values.every((value) => typeof value === 'number' && Number.isFinite(value))) {
          throw validation(`vectors[${position}].data.float32 must hold finite numbers only.`);
        }
        return { key, data: Float32Array.from(values as number[]), metadata: entry.metadata ?? null };
      });
      for (const vector of checked) {
        index.put(vector.key, vector.data, vector.metadata);
      }
      store.changed(index);
      return {};
    },

    GetVectors: (body) => {
      const { index } = findIndex(body);
      const keys = keyList(body, GET_VECTORS_MAX);
      const returnData = body.returnData === true;
      const returnMetadata = body.returnMetadata === true;
      return {
        vectors: keys.flatMap((key) => {
          const stored = index.get(key);
          return stored === undefined ? [] : [vectorOutput(stored, returnData, returnMetadata)];
        }),
      };
    },

    DeleteVectors: (body) => {
      const { index } = findIndex(body);
      for (const key of keyList(body, DELETE_VECTORS_MAX)) {
        index.delete(key);
      }
      store.changed(index);
      return {};
    },

    ListVectors: (body) => {
      const { index } = findIndex(body);
      const segmentCount = optionalInteger(body, 'segmentCount', 1, SEGMENT_COUNT_MAX);
      const segmentIndex = optionalInteger(body, 'segmentIndex', 0, SEGMENT_COUNT_MAX - 1);
      if ((segmentCount === undefined) !== (segmentIndex === undefined)) {
        throw validation('Set segmentCount and segmentIndex together.');
      }
      if (segmentCount !== undefined && segmentIndex !== undefined && segmentIndex >= segmentCount) {
        throw validation(`segmentIndex ${segmentIndex} must be less than segmentCount ${segmentCount}.`);
      }
      let keys = index.sortedKeys();
      if (segmentCount !== undefined) {
        keys = keys.filter((key) => segmentOf(key, segmentCount) === segmentIndex);
      }
      const page = pageOf(keys, body, LIST_VECTORS_PAGE_MAX, LIST_VECTORS_PAGE_DEFAULT);
      const returnData = body.returnData === true;
      const returnMetadata = body.returnMetadata === true;
      return {
        vectors: page.items.map((key) => vectorOutput(index.get(key) as StoredVector, returnData, returnMetadata)),
        ...(page.nextToken === undefined ? {} : { nextToken: page.nextToken }),
      };
    },

    QueryVectors: (body) => {
      const { index } = findIndex(body);
      const topK = body.topK;
      if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 1 || topK > QUERY_TOP_K_MAX) {
        throw validation(`topK ${JSON.stringify(topK)} is invalid. Use an integer from 1 to ${QUERY_TOP_K_MAX}.`);
      }
      const values = (body.queryVector as { float32?: unknown } | undefined)?.float32;
      if (!Array.isArray(values) || values.length !== index.settings.dimension) {
        throw validation(
          `queryVector.float32 must hold ${index.settings.dimension} numbers, the dimension of index ${index.settings.indexName}; ` +
            `got ${Array.isArray(values) ? values.length : typeof values}.`,
        );
      }
      if (!values.every((value) => typeof value === 'number' && Number.isFinite(value))) {
        throw validation('queryVector.float32 must hold finite numbers only.');
      }
      // NOTE: metadata filters are not implemented here, because Percept filters by input
      // id after the query. The request fails rather than returning unfiltered vectors.
      if (body.filter !== undefined) {
        throw validation('The local S3 Vectors endpoint does not implement metadata filters. Query without filter.');
      }
      const returnDistance = body.returnDistance === true;
      const returnMetadata = body.returnMetadata === true;
      return {
        distanceMetric: index.settings.distanceMetric,
        vectors: index.query(Float32Array.from(values as number[]), topK).map((match) => ({
          key: match.key,
          ...(returnDistance ? { distance: match.distance } : {}),
          ...(returnMetadata ? { metadata: index.get(match.key)?.metadata ?? null } : {}),
        })),
      };
    },
  };
}

function vectorOutput(stored: StoredVector, returnData: boolean, returnMetadata: boolean): Body {
  return {
    key: stored.key,
    ...(returnData ? { data: { float32: Array.from(stored.data) } } : {}),
    ...(returnMetadata && stored.metadata !== null ? { metadata: stored.metadata } : {}),
  };
}

/** Returns one page of sorted `items` after the token's item; the token is the last item returned, base64url. */
function pageOf<T extends string>(items: readonly T[], body: Body, pageMax: number, pageDefault: number): { items: T[]; nextToken?: string } {
  const maxResults = optionalInteger(body, 'maxResults', 1, pageMax) ?? pageDefault;
  const nextToken = optionalString(body, 'nextToken');
  let start = 0;
  if (nextToken !== undefined) {
    const after = Buffer.from(nextToken, 'base64url').toString('utf8');
    start = items.findIndex((item) => item > after);
    if (start < 0) {
      start = items.length;
    }
  }
  const page = items.slice(start, start + maxResults);
  const more = start + maxResults < items.length;
  return more ? { items: page, nextToken: Buffer.from(page[page.length - 1] as string).toString('base64url') } : { items: page };
}

function segmentOf(key: string, segmentCount: number): number {
  return createHash('sha256').update(key).digest().readUInt32BE(0) % segmentCount;
}

function keyList(body: Body, max: number): string[] {
  const keys = body.keys;
  if (!Array.isArray(keys) || keys.length < 1 || keys.length > max) {
    throw validation(`keys must be a list of 1 to ${max} keys.`);
  }
  return keys.map((key: unknown, position) => checkKey(key, `keys[${position}]`));
}

function checkKey(key: unknown, field: string): string {
  if (typeof key !== 'string' || key.length < 1 || key.length > KEY_LENGTH_MAX) {
    throw validation(`${field} must be a string of 1 to ${KEY_LENGTH_MAX} characters.`);
  }
  return key;
}

function requiredString(body: Body, field: string): string {
  const value = optionalString(body, field);
  if (value === undefined) {
    throw validation(`${field} is required.`);
  }
  return value;
}

function optionalString(body: Body, field: string): string | undefined {
  const value = body[field];
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw validation(`${field} must be a string.`);
  }
  return value;
}

function optionalInteger(body: Body, field: string, min: number, max: number): number | undefined {
  const value = body[field];
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw validation(`${field} ${JSON.stringify(value)} is invalid. Use an integer from ${min} to ${max}.`);
  }
  return value;
}

function bucketNameOfArn(arn: string): string {
  const match = /^arn:aws:s3vectors:[^:]*:[^:]*:bucket\/([^/]+)$/.exec(arn);
  if (match === null) {
    throw validation(`vectorBucketArn ${arn} is not a vector bucket ARN.`);
  }
  return match[1] as string;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
