import type { Context } from 'aws-lambda';
import { logger } from '#commons/logger.ts';
import { InputStatus, setInputStatus } from '#commons/storage/inputs.ts';
import { putCompletionEvent } from '#commons/workflows/events.ts';
import type { WorkflowInput } from '#commons/workflows/node-data.ts';
import { type WorkflowFailure, describeWorkflowFailure } from '#commons/workflows/outputs.ts';

/** The event of a compiled workflow: the failure, naming the node when one failed. */
export interface RecordFailureEvent {
  input: WorkflowInput;
  failure: WorkflowFailure;
  workflow_id: string;
}

/**
 * Step Functions task, reached through `Catch`: marks the input FAILED with the error code
 * and a message naming the failing node and the reason, then puts the completion event.
 * The image object is left in place.
 */
export async function handler(
  event: RecordFailureEvent,
  context?: Context,
): Promise<{ input_id: string; error_code: string }> {
  logger.addContext(context ?? ({} as Context));
  logger.appendKeys({ inputId: event.input.id, appId: event.input.app_id, workflowId: event.workflow_id });

  try {
    const { code, message, node_id: nodeId } = describeWorkflowFailure(event.failure);
    await setInputStatus(event.input.app_id, event.input.id, InputStatus.failed(code, message));
    logger.warn('input failed', { errorCode: code, reason: message, nodeId });

    await putCompletionEvent({
      app_id: event.input.app_id,
      input_id: event.input.id,
      workflow_id: event.workflow_id,
      status: 'FAILED',
      error_code: code,
      details: message,
      ...(nodeId === undefined ? {} : { node_id: nodeId }),
    });
    return { input_id: event.input.id, error_code: code };
  } catch (error) {
    // The Task state's Retry runs this again; after the last attempt the execution fails.
    logger.error('recording the failure failed', { error });
    throw error;
  } finally {
    logger.resetKeys();
  }
}
