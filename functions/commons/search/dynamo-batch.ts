/**
 * Batched DynamoDB reads and writes of the search index, with the retries of unprocessed
 * keys that BatchGetItem and BatchWriteItem require.
 */
import { BatchGetCommand, BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';
import { queryPages } from '#commons/storage/query.ts';

// DynamoDB limits: BatchGetItem takes 100 keys, BatchWriteItem 25 requests.
const GET_BATCH_SIZE = 100;
const WRITE_BATCH_SIZE = 25;
const MAX_ATTEMPTS = 10;

export type ItemKey = { pk: string; sk: string };
export type WriteRequest = { PutRequest: { Item: Record<string, unknown> } } | { DeleteRequest: { Key: ItemKey } };

/** How many batches run at the same time. */
const CONCURRENCY = 8;

function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(25 * 2 ** attempt, 2000)));
}

/** Runs `work` on each batch, at most `CONCURRENCY` at a time. */
async function forEachBatch<T>(items: readonly T[], size: number, work: (batch: T[]) => Promise<void>): Promise<void> {
  const batches: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    batches.push(items.slice(start, start + size));
  }
  let next = 0;
  const workers = Array.from({ length: Math.min(CONCURRENCY, batches.length) }, async () => {
    while (next < batches.length) {
      const batch = batches[next++] as T[];
      await work(batch);
    }
  });
  await Promise.all(workers);
}

/** Reads the items of `keys` (duplicates allowed); keys without an item are left out. Consistent reads. */
export async function batchGetItems(keys: readonly ItemKey[]): Promise<Array<Record<string, unknown>>> {
  const unique = [...new Map(keys.map((key) => [`${key.pk}\n${key.sk}`, key])).values()];
  const items: Array<Record<string, unknown>> = [];
  await forEachBatch(unique, GET_BATCH_SIZE, async (batch) => {
    let pending: ItemKey[] = batch;
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      if (attempt >= MAX_ATTEMPTS) {
        throw new Error(`DynamoDB left ${pending.length} keys unprocessed after ${MAX_ATTEMPTS} BatchGetItem attempts.`);
      }
      if (attempt > 0) {
        await backoff(attempt);
      }
      const result = await documentClient().send(
        new BatchGetCommand({ RequestItems: { [config.tableName]: { Keys: pending, ConsistentRead: true } } }),
      );
      items.push(...(result.Responses?.[config.tableName] ?? []));
      pending = (result.UnprocessedKeys?.[config.tableName]?.Keys ?? []) as ItemKey[];
    }
  });
  return items;
}

/**
 * Applies the puts and deletes in batches of 25. Of several requests for one key, only the
 * last is sent, because BatchWriteItem rejects a batch that names a key twice.
 */
export async function batchWriteItems(requests: readonly WriteRequest[]): Promise<void> {
  const lastPerKey = new Map<string, WriteRequest>();
  for (const request of requests) {
    const key = 'PutRequest' in request ? (request.PutRequest.Item as ItemKey) : request.DeleteRequest.Key;
    lastPerKey.delete(`${key.pk}\n${key.sk}`);
    lastPerKey.set(`${key.pk}\n${key.sk}`, request);
  }
  await forEachBatch([...lastPerKey.values()], WRITE_BATCH_SIZE, async (batch) => {
    let pending: WriteRequest[] = batch;
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      if (attempt >= MAX_ATTEMPTS) {
        throw new Error(`DynamoDB left ${pending.length} writes unprocessed after ${MAX_ATTEMPTS} BatchWriteItem attempts.`);
      }
      if (attempt > 0) {
        await backoff(attempt);
      }
      const result = await documentClient().send(new BatchWriteCommand({ RequestItems: { [config.tableName]: pending } }));
      pending = (result.UnprocessedItems?.[config.tableName] ?? []) as WriteRequest[];
    }
  });
}

/**
 * Calls `onPage` with each page of the items of partition `pk`, in sort key order, until the
 * partition ends or `onPage` returns false. Consistent reads when `consistent` is set.
 */
export async function forEachPage(
  pk: string,
  onPage: (items: Array<Record<string, unknown>>) => boolean | void | Promise<boolean | void>,
  options: { consistent?: boolean; prefix?: string } = {},
): Promise<void> {
  for await (const items of queryPages(pk, options)) {
    if ((await onPage(items)) === false) {
      return;
    }
  }
}
