/**
 * The S3 objects of a trained clusterer version: its model (centroids and quantizer) and the
 * snapshot of each cluster's list as the version was built. Both are written once and never
 * changed, so each Lambda container caches what it reads.
 */
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';
import { type ClusterList, decodeClusterList, encodeClusterList } from '#commons/search/index/cluster-list.ts';
import { decodeIvfHeader, encodeIvfHeader } from '#commons/search/index/ivf.ts';
import type { Quantizer } from '#commons/search/index/quantizer.ts';
import { LruCache } from '#commons/search/lru-cache.ts';

/** The centroids and quantizer of a clusterer version, which assign and encode vectors: its `IvfHeader` with the cluster count. */
export interface ClusterModel {
  dim: number;
  k: number;
  /** `k * dim` values: row `c` is the unit-length centroid of cluster `c`. */
  centroids: Float32Array;
  quantizer: Quantizer;
}

function serializedSize(quantizer: Quantizer): number {
  return quantizer.kind === 'sq8' ? quantizer.offsets.byteLength * 2 : quantizer.codebooks.byteLength;
}

/** Megabytes of list snapshots that a container keeps; `SEARCH_LIST_CACHE_MB` overrides the default of 256. */
function listCacheBytes(): number {
  const megabytes = Number(process.env.SEARCH_LIST_CACHE_MB ?? '256');
  return (Number.isFinite(megabytes) && megabytes >= 0 ? megabytes : 256) * 1024 * 1024;
}

const models = new LruCache<ClusterModel>(64 * 1024 * 1024, (model) => model.centroids.byteLength + serializedSize(model.quantizer));
const snapshots = new LruCache<ClusterList>(listCacheBytes(), (list) => list.codes.byteLength + list.ids.length * 48);

async function getObjectBytes(key: string): Promise<Uint8Array | undefined> {
  try {
    const response = await s3Client().send(new GetObjectCommand({ Bucket: config.bucketName, Key: key }));
    return (await response.Body?.transformToByteArray()) ?? new Uint8Array();
  } catch (error) {
    if (error instanceof NoSuchKey) {
      return undefined;
    }
    throw error;
  }
}

async function putObjectBytes(key: string, bytes: Uint8Array): Promise<void> {
  await s3Client().send(
    new PutObjectCommand({ Bucket: config.bucketName, Key: key, Body: bytes, ContentType: 'application/octet-stream' }),
  );
}

/** Stores the model in the `PIVF` header format of `index/ivf.ts`, without float vectors in the lists. */
export async function putClusterModel(key: string, model: ClusterModel): Promise<void> {
  await putObjectBytes(key, encodeIvfHeader({ dim: model.dim, centroids: model.centroids, quantizer: model.quantizer, storeVectors: false }));
}

/** Returns the cluster model at `key`, from this container's cache when it has it. */
export function getClusterModel(key: string): Promise<ClusterModel> {
  return models.get(key, async () => {
    const bytes = await getObjectBytes(key);
    if (bytes === undefined) {
      throw new Error(`The cluster model s3://${config.bucketName}/${key} is missing. Train a new version of the clusterer.`);
    }
    const header = decodeIvfHeader(bytes);
    return { dim: header.dim, k: header.centroids.length / header.dim, centroids: header.centroids, quantizer: header.quantizer };
  });
}

export async function putListSnapshot(key: string, list: ClusterList): Promise<void> {
  await putObjectBytes(key, encodeClusterList(list));
}

/** Returns the list snapshot at `key`, from this container's cache when it has it; a missing object is an empty list. */
export function getListSnapshot(key: string, dim: number, codeBytes: number): Promise<ClusterList> {
  return snapshots.get(key, async () => {
    const bytes = await getObjectBytes(key);
    return bytes === undefined ? { dim, codeBytes, ids: [], codes: new Uint8Array() } : decodeClusterList(bytes);
  });
}

/** Deletes every object under `prefix` and drops those objects from the cache. */
export async function deleteObjectsUnder(prefix: string): Promise<void> {
  let token: string | undefined;
  do {
    const listed = await s3Client().send(
      new ListObjectsV2Command({ Bucket: config.bucketName, Prefix: prefix, ContinuationToken: token }),
    );
    const keys = (listed.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [object.Key]));
    if (keys.length > 0) {
      await s3Client().send(
        new DeleteObjectsCommand({ Bucket: config.bucketName, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
      );
    }
    for (const key of keys) {
      models.delete(key);
      snapshots.delete(key);
    }
    token = listed.IsTruncated === true ? listed.NextContinuationToken : undefined;
  } while (token !== undefined);
}
