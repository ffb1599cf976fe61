import type { Context } from 'aws-lambda';
import { type CaughtError, describeCaughtError } from '#commons/lambda/task-errors.ts';
import { logger } from '#commons/logger.ts';
import { InputStatus, setInputStatus } from '#commons/storage/inputs.ts';
import type { WorkflowExecutionInput } from '#commons/workflows/default-workflow.ts';

export interface RecordFailureEvent extends WorkflowExecutionInput {
  error: CaughtError;
}

/**
 * Step Functions task, reached through `Catch`: marks the input FAILED with the error
 * code and message of the state that failed. The image object is left in place.
 */
export async function handler(
  event: RecordFailureEvent,
  context?: Context,
): Promise<{ input_id: string; error_code: string }> {
  logger.addContext(context ?? ({} as Context));
  logger.appendKeys({ inputId: event.input.id, appId: event.input.app_id });

  try {
    const { code, message } = describeCaughtError(event.error);
    await setInputStatus(event.input.app_id, event.input.id, InputStatus.failed(code, message));
    logger.warn('input failed', { errorCode: code, reason: message });
    return { input_id: event.input.id, error_code: code };
  } finally {
    logger.resetKeys();
  }
}
