/**
 * API keys, stored as SHA-256 hashes: the table never contains a usable key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';
import { API_KEY_SK, apiKeyPk } from '#commons/storage/keys.ts';

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Returns a new random key: 32 lowercase hex characters, as Clarifai keys look. */
export function generateApiKey(): string {
  return randomBytes(16).toString('hex');
}

/** Stores the hash of `key` for `appId`; storing the same key again overwrites it. */
export async function saveApiKey(key: string, appId: string): Promise<void> {
  await documentClient().send(
    new PutCommand({
      TableName: config.tableName,
      Item: { pk: apiKeyPk(hashApiKey(key)), sk: API_KEY_SK, app_id: appId, created_at: new Date().toISOString() },
    }),
  );
}

/** Returns the app id of `key`, or undefined when the key is unknown. */
export async function findAppIdForKey(key: string): Promise<string | undefined> {
  const { Item } = await documentClient().send(
    new GetCommand({ TableName: config.tableName, Key: { pk: apiKeyPk(hashApiKey(key)), sk: API_KEY_SK } }),
  );
  const appId: unknown = Item?.app_id;
  return typeof appId === 'string' ? appId : undefined;
}
