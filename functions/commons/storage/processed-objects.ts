/**
 * Marks of S3 object versions that the ingest has started, so that S3's at-least-once
 * event delivery processes each version once.
 */
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';
import { objectPk, objectVersionSk } from '#commons/storage/keys.ts';
import { putItemIfAbsent } from '#commons/storage/items.ts';

/**
 * Records `version` of `bucket/key` as taken. Returns false when it was taken before,
 * meaning this event is a duplicate.
 */
export async function claimObjectVersion(bucket: string, key: string, version: string): Promise<boolean> {
  return putItemIfAbsent({ pk: objectPk(bucket, key), sk: objectVersionSk(version), claimed_at: new Date().toISOString() });
}

/** Removes a claim, so that a retry of an event whose processing failed can take it again. */
export async function releaseObjectVersion(bucket: string, key: string, version: string): Promise<void> {
  await documentClient().send(
    new DeleteCommand({ TableName: config.tableName, Key: { pk: objectPk(bucket, key), sk: objectVersionSk(version) } }),
  );
}
