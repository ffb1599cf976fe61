/**
 * Error conversion between Lambda tasks and Step Functions. A task rethrows a
 * PerceptError under its stable code as the error name, so that the state machine's
 * `Error` field, its `Catch` rules and the stored input status all see that code.
 */
import { PerceptError } from '#commons/errors.ts';

/** An error whose `name` is a stable Percept error code, as Lambda reports it to Step Functions. */
export class TaskError extends Error {
  public constructor(code: string, message: string) {
    super(message);
    this.name = code;
  }
}

/** Rethrows a PerceptError as a TaskError; other errors pass through unchanged. */
export function toTaskError(error: unknown): unknown {
  return error instanceof PerceptError ? new TaskError(error.code, error.message) : error;
}

/** The `{Error, Cause}` object that a Step Functions `Catch` stores at its ResultPath. */
export interface CaughtError {
  Error: string;
  Cause?: string;
}

const STABLE_CODE = /^[A-Z][A-Z0-9_]*$/;

/**
 * Reads the code and message out of a caught error. Lambda reports `Cause` as the JSON
 * `{"errorType", "errorMessage", "trace"}`; other failures (a timeout, a States.* error)
 * leave a plain string, or none.
 */
export function describeCaughtError(caught: CaughtError): { code: string; message: string } {
  let message = caught.Cause ?? '';
  try {
    const parsed: unknown = JSON.parse(message);
    if (typeof parsed === 'object' && parsed !== null && 'errorMessage' in parsed) {
      message = String(parsed.errorMessage);
    }
  } catch {
    // A plain-text cause is already the message.
  }
  const code = STABLE_CODE.test(caught.Error) ? caught.Error : 'INTERNAL_ERROR';
  if (message === '') {
    message = `The workflow failed with ${caught.Error}.`;
  } else if (code === 'INTERNAL_ERROR') {
    message = `${caught.Error}: ${message}`;
  }
  return { code, message };
}
