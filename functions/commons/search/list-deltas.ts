/**
 * Changes to a clusterer version's lists since their S3 snapshots were written: one item
 * per input under the partition of its cluster, holding the input's code, or `removed` when
 * the input left the cluster. An item replaces the snapshot's entry of the same input, and
 * a later write for the input replaces the item, so every write is an unconditional put and
 * concurrent writers never conflict.
 */
import { batchWriteItems, forEachPage } from '#commons/search/dynamo-batch.ts';
import { listDeltaPk } from '#commons/search/ivf-keys.ts';

/** A new code of an input in a cluster, or its removal from the cluster when `code` is undefined. */
export interface ListChange {
  versionId: string;
  cluster: number;
  inputId: string;
  code?: Uint8Array;
}

export async function putListChanges(appId: string, changes: readonly ListChange[]): Promise<void> {
  const now = new Date().toISOString();
  await batchWriteItems(
    changes.map((change) => ({
      PutRequest: {
        Item: {
          pk: listDeltaPk(appId, change.versionId, change.cluster),
          sk: change.inputId,
          ...(change.code === undefined ? { removed: true } : { code: change.code }),
          modified_at: now,
        },
      },
    })),
  );
}

/** Returns the changes of one cluster by input id: the code, or undefined for a removal. Read consistently. */
export async function readListDelta(appId: string, versionId: string, cluster: number): Promise<Map<string, Uint8Array | undefined>> {
  const changes = new Map<string, Uint8Array | undefined>();
  await forEachPage(
    listDeltaPk(appId, versionId, cluster),
    (items) => {
      for (const item of items) {
        changes.set(item.sk as string, item.removed === true ? undefined : (item.code as Uint8Array));
      }
    },
    { consistent: true },
  );
  return changes;
}

/** Deletes the changes of every cluster of a version. */
export async function deleteListDeltas(appId: string, versionId: string, k: number): Promise<void> {
  for (let cluster = 0; cluster < k; cluster += 1) {
    const pk = listDeltaPk(appId, versionId, cluster);
    const keys: Array<{ pk: string; sk: string }> = [];
    await forEachPage(pk, (items) => {
      keys.push(...items.map((item) => ({ pk, sk: item.sk as string })));
    });
    await batchWriteItems(keys.map((key) => ({ DeleteRequest: { Key: key } })));
  }
}
