/**
 * The state of an app's `ivf` index: the active clusterer version that searches probe,
 * and the versions being built, whose lists new vectors join as well. Without an active
 * version, search is exact over all the app's vectors. One item per app, changed only by
 * training and version deletion, with a revision counter so that concurrent changes retry
 * instead of overwriting each other.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';
import { indexStateKey } from '#commons/search/ivf-keys.ts';

/** A clusterer version as the index uses it. */
export interface IndexVersion {
  model_id: string;
  version_id: string;
  dim: number;
  k: number;
  /** S3 key of the version's centroids and quantizer. */
  model_key: string;
  /** When the version started to build; a version still building 15 minutes later is abandoned. */
  started_at: string;
}

export interface SearchIndexState {
  active?: IndexVersion;
  building: IndexVersion[];
  revision: number;
  modified_at?: string;
}

/**
 * A build runs inside one Lambda invocation, which lasts at most 15 minutes, so a version
 * still marked as building after that was left by an invocation that timed out or crashed.
 */
export const ABANDONED_BUILD_MS = 15 * 60 * 1000;

const MAX_UPDATE_ATTEMPTS = 20;

/** Returns the app's index state, read consistently; an app that never trained a clusterer has an empty one. */
export async function readIndexState(appId: string): Promise<SearchIndexState> {
  const { Item } = await documentClient().send(
    new GetCommand({ TableName: config.tableName, Key: indexStateKey(appId), ConsistentRead: true }),
  );
  if (Item === undefined) {
    return { building: [], revision: 0 };
  }
  return {
    ...(Item.active === undefined ? {} : { active: Item.active as IndexVersion }),
    building: (Item.building ?? []) as IndexVersion[],
    revision: Item.revision as number,
    modified_at: Item.modified_at as string,
  };
}

/** Returns the versions whose lists a new or removed vector changes: the active one and those still building. */
export function writableVersions(state: SearchIndexState, now = Date.now()): IndexVersion[] {
  const building = state.building.filter((version) => now - Date.parse(version.started_at) < ABANDONED_BUILD_MS);
  const versions = state.active === undefined ? building : [state.active, ...building];
  return [...new Map(versions.map((version) => [version.version_id, version])).values()];
}

/**
 * Replaces the app's index state with what `change` computes from the stored state. It writes
 * only over the revision it read, so a conflicting write makes it read and compute again.
 * Returns the stored state.
 */
export async function updateIndexState(
  appId: string,
  change: (state: SearchIndexState) => Omit<SearchIndexState, 'revision' | 'modified_at'>,
): Promise<SearchIndexState> {
  for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt += 1) {
    const current = await readIndexState(appId);
    const next: SearchIndexState = { ...change(current), revision: current.revision + 1, modified_at: new Date().toISOString() };
    try {
      await documentClient().send(
        new PutCommand({
          TableName: config.tableName,
          Item: { ...indexStateKey(appId), ...next },
          ConditionExpression: current.revision === 0 ? 'attribute_not_exists(pk)' : 'revision = :revision',
          ...(current.revision === 0 ? {} : { ExpressionAttributeValues: { ':revision': current.revision } }),
        }),
      );
      return next;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(20 * attempt, 200)));
    }
  }
  throw new Error(`The search index state of app ${JSON.stringify(appId)} changed ${MAX_UPDATE_ATTEMPTS} times while it was updated. Retry the request.`);
}
