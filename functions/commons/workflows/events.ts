/**
 * The completion event of a workflow run on a stored input, put on the EventBridge bus
 * named by `EVENT_BUS_NAME`. Rules on that bus can start other work when an input is done:
 *
 *   source: "percept", detail-type: "Workflow Execution Completed"
 *   detail: {app_id, input_id, workflow_id, status: "SUCCEEDED" | "FAILED",
 *            annotation_ids?, error_code?, node_id?, details?}
 *
 * Without `EVENT_BUS_NAME` no event is sent. Results-route runs (`POST /v2/workflows/{id}/results`)
 * send none either, as the HTTP response already carries their outcome.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { logger } from '#commons/logger.ts';

export const COMPLETION_EVENT_SOURCE = 'percept';
export const COMPLETION_DETAIL_TYPE = 'Workflow Execution Completed';

export interface CompletionDetail {
  app_id: string;
  input_id: string;
  workflow_id: string;
  status: 'SUCCEEDED' | 'FAILED';
  annotation_ids?: string[];
  error_code?: string;
  node_id?: string;
  details?: string;
}

let client: EventBridgeClient | undefined;

// The endpoint comes from the SDK's `AWS_ENDPOINT_URL_EVENTBRIDGE` when set (the local stack).
function eventBridge(): EventBridgeClient {
  client ??= new EventBridgeClient({});
  return client;
}

/** Puts the completion event; throws when EventBridge rejects it, so the task is retried. */
export async function putCompletionEvent(detail: CompletionDetail): Promise<void> {
  const busName = process.env.EVENT_BUS_NAME;
  if (busName === undefined || busName === '') {
    return;
  }
  const result = await eventBridge().send(
    new PutEventsCommand({
      Entries: [
        {
          EventBusName: busName,
          Source: COMPLETION_EVENT_SOURCE,
          DetailType: COMPLETION_DETAIL_TYPE,
          Detail: JSON.stringify(detail),
        },
      ],
    }),
  );
  const failed = result.Entries?.find((entry) => entry.ErrorCode !== undefined);
  if ((result.FailedEntryCount ?? 0) > 0 || failed !== undefined) {
    throw new Error(`EventBridge rejected the completion event: ${failed?.ErrorCode ?? 'unknown'} ${failed?.ErrorMessage ?? ''}`.trim());
  }
  logger.info('completion event sent', { busName, status: detail.status });
}
