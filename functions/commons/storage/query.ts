import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';

/**
 * Returns the items of partition `pk` whose sort key starts with `prefix`, in sort key
 * order, following DynamoDB's pages until `maxItems` items (all of them when unset).
 */
export async function queryByPrefix(pk: string, prefix: string, maxItems = Infinity): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const result = await documentClient().send(
      new QueryCommand({
        TableName: config.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
        ExclusiveStartKey: startKey,
        Limit: Number.isFinite(maxItems) ? Math.min(maxItems - items.length, 1000) : undefined,
      }),
    );
    items.push(...(result.Items ?? []));
    startKey = result.LastEvaluatedKey;
  } while (startKey !== undefined && items.length < maxItems);
  return items;
}

/** Options of `queryPages`. */
export interface QueryPagesOptions {
  /** Keeps the items whose sort key starts with this prefix; all of the partition when unset. */
  prefix?: string;
  consistent?: boolean;
  /** Items per page at most; DynamoDB's 1 MB page limit when unset. */
  pageSize?: number;
}

/** Yields the items of partition `pk` one DynamoDB page at a time, in sort key order, keys included. */
export async function* queryPages(pk: string, options: QueryPagesOptions = {}): AsyncGenerator<Array<Record<string, unknown>>> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const result = await documentClient().send(
      new QueryCommand({
        TableName: config.tableName,
        KeyConditionExpression: options.prefix === undefined ? 'pk = :pk' : 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: options.prefix === undefined ? { ':pk': pk } : { ':pk': pk, ':prefix': options.prefix },
        ConsistentRead: options.consistent ?? false,
        ExclusiveStartKey: startKey,
        Limit: options.pageSize,
      }),
    );
    yield result.Items ?? [];
    startKey = result.LastEvaluatedKey;
  } while (startKey !== undefined);
}
