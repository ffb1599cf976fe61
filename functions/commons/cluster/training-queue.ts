/**
 * Puts the event that starts the training of a queued clusterer version on the bus named by
 * `EVENT_BUS_NAME` (see `training-events.ts` for its shape and the rule that receives it).
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  CLUSTER_TRAINING_DETAIL_TYPE,
  CLUSTER_TRAINING_SOURCE,
  type ClusterTrainingDetail,
} from '#commons/cluster/training-events.ts';

let client: EventBridgeClient | undefined;

// The endpoint comes from the SDK's `AWS_ENDPOINT_URL_EVENTBRIDGE` when set (the local stack).
function eventBridge(): EventBridgeClient {
  client ??= new EventBridgeClient({});
  return client;
}

/** Returns `EVENT_BUS_NAME`; throws an `Error` naming the variable when it is missing. */
export function trainingEventBusName(): string {
  const busName = process.env.EVENT_BUS_NAME;
  if (busName === undefined || busName === '') {
    throw new Error(
      'Environment variable EVENT_BUS_NAME is missing. Set it to the event bus whose rule starts the clusterer training function (the ClusterTraining construct sets it on the API function).',
    );
  }
  return busName;
}

/** Puts the event; throws when EventBridge rejects it. */
export async function putClusterTrainingEvent(busName: string, detail: ClusterTrainingDetail): Promise<void> {
  const result = await eventBridge().send(
    new PutEventsCommand({
      Entries: [{ EventBusName: busName, Source: CLUSTER_TRAINING_SOURCE, DetailType: CLUSTER_TRAINING_DETAIL_TYPE, Detail: JSON.stringify(detail) }],
    }),
  );
  const failed = result.Entries?.find((entry) => entry.ErrorCode !== undefined);
  if ((result.FailedEntryCount ?? 0) > 0 || failed !== undefined) {
    throw new Error(`EventBridge rejected the clusterer training event: ${failed?.ErrorCode ?? 'unknown'} ${failed?.ErrorMessage ?? ''}`.trim());
  }
}
