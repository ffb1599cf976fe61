/**
 * The float vector of every indexed input of an app, one item per input under the app's
 * `VECTORS#<app_id>` partition. The `ivf` backend searches it exactly before the app has a
 * trained clusterer, re-ranks candidates with it, reads it to train and build a clusterer
 * version, and reads an input's old vector to find the cluster the input leaves.
 */
import { batchGetItems, batchWriteItems, forEachPage } from '#commons/search/dynamo-batch.ts';
import { vectorsPk } from '#commons/search/ivf-keys.ts';

/** Returns the float32 values of `vector` as little-endian bytes. */
export function floatsToBytes(vector: Float32Array): Uint8Array {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  vector.forEach((value, index) => view.setFloat32(index * 4, value, true));
  return bytes;
}

/** Reads little-endian float32 bytes written by `floatsToBytes`. */
export function bytesToFloats(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const vector = new Float32Array(Math.floor(bytes.byteLength / 4));
  for (let index = 0; index < vector.length; index += 1) {
    vector[index] = view.getFloat32(index * 4, true);
  }
  return vector;
}

export interface StoredVector {
  inputId: string;
  vector: Float32Array;
}

function toStoredVector(item: Record<string, unknown>): StoredVector {
  return { inputId: item.sk as string, vector: bytesToFloats(item.vector as Uint8Array) };
}

/** Returns the stored vectors of these inputs, by input id; inputs without one are missing from the map. */
export async function getVectors(appId: string, inputIds: readonly string[]): Promise<Map<string, Float32Array>> {
  const items = await batchGetItems(inputIds.map((inputId) => ({ pk: vectorsPk(appId), sk: inputId })));
  return new Map(items.map((item) => [item.sk as string, bytesToFloats(item.vector as Uint8Array)]));
}

/** Stores the vectors, replacing those the inputs had. */
export async function putVectors(appId: string, entries: readonly StoredVector[]): Promise<void> {
  const now = new Date().toISOString();
  await batchWriteItems(
    entries.map((entry) => ({
      PutRequest: {
        Item: { pk: vectorsPk(appId), sk: entry.inputId, vector: floatsToBytes(entry.vector), dim: entry.vector.length, modified_at: now },
      },
    })),
  );
}

export async function deleteVectors(appId: string, inputIds: readonly string[]): Promise<void> {
  await batchWriteItems(inputIds.map((inputId) => ({ DeleteRequest: { Key: { pk: vectorsPk(appId), sk: inputId } } })));
}

/**
 * Calls `onPage` with each page of the app's stored vectors, in input id order. Reads are
 * consistent unless `consistent` is false, which halves the read cost but may miss vectors
 * written in the last second.
 */
export async function forEachVectorPage(
  appId: string,
  onPage: (vectors: StoredVector[]) => void | Promise<void>,
  consistent = true,
): Promise<void> {
  await forEachPage(vectorsPk(appId), (items) => onPage(items.map(toStoredVector)), { consistent });
}
