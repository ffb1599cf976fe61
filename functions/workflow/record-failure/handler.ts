import type { Context } from 'aws-lambda';
import { type CaughtError, describeCaughtError } from '#commons/lambda/task-errors.ts';
import { logger } from '#commons/logger.ts';
import { InputStatus, setInputStatus } from '#commons/storage/inputs.ts';
import type { WorkflowExecutionInput } from '#commons/workflows/default-workflow.ts';
import { putCompletionEvent } from '#commons/workflows/events.ts';
import type { WorkflowInput } from '#commons/workflows/node-data.ts';
import { type FailureDescription, type WorkflowFailure, describeWorkflowFailure } from '#commons/workflows/outputs.ts';

/** The event of the fixed default workflow: the error its Catch stored. */
export interface DefaultWorkflowFailureEvent extends WorkflowExecutionInput {
  error: CaughtError;
}

/** The event of a compiled workflow: the failure, naming the node when one failed. */
export interface WorkflowFailureEvent {
  input: WorkflowInput;
  failure: WorkflowFailure;
  workflow_id: string;
}

export type RecordFailureEvent = DefaultWorkflowFailureEvent | WorkflowFailureEvent;

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
  const workflowId = 'failure' in event ? event.workflow_id : undefined;
  logger.appendKeys({ inputId: event.input.id, appId: event.input.app_id, workflowId });

  try {
    const { code, message, node_id: nodeId }: FailureDescription =
      'failure' in event ? describeWorkflowFailure(event.failure) : describeCaughtError(event.error);
    await setInputStatus(event.input.app_id, event.input.id, InputStatus.failed(code, message));
    logger.warn('input failed', { errorCode: code, reason: message, nodeId });

    if (workflowId !== undefined) {
      await putCompletionEvent({
        app_id: event.input.app_id,
        input_id: event.input.id,
        workflow_id: workflowId,
        status: 'FAILED',
        error_code: code,
        details: message,
        ...(nodeId === undefined ? {} : { node_id: nodeId }),
      });
    }
    return { input_id: event.input.id, error_code: code };
  } finally {
    logger.resetKeys();
  }
}
