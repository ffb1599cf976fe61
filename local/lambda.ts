/**
 * Runs Lambda handlers in this process the way the Lambda service does: with a context
 * object, a JSON round trip of the event and result, and errors reported in Lambda's
 * `{errorType, errorMessage, trace}` form.
 */
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export type LambdaHandler = (event: never, context: Context) => unknown;

/** The error of a failed invocation, in the form Step Functions receives from Lambda. */
export class LambdaFunctionError extends Error {
  public constructor(errorType: string, errorMessage: string, trace: string[]) {
    // Step Functions reports the Lambda error payload as the JSON `Cause`.
    super(JSON.stringify({ errorType, errorMessage, trace }));
    this.name = errorType;
  }
}

export interface LocalFunction {
  name: string;
  arn: string;
  timeoutSeconds: number;
  load: () => Promise<LambdaHandler>;
}

export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';

export function localFunctionArn(name: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${name}`;
}

const invocationCounts = new Map<string, number>();

/** How many times each local function (by name) was invoked in this process. */
export function localInvocationCounts(): Record<string, number> {
  return Object.fromEntries(invocationCounts);
}

export async function invokeLocal(fn: LocalFunction, event: unknown): Promise<unknown> {
  invocationCounts.set(fn.name, (invocationCounts.get(fn.name) ?? 0) + 1);
  const handler = await fn.load();
  const deadline = Date.now() + fn.timeoutSeconds * 1000;
  const context: Context = {
    callbackWaitsForEmptyEventLoop: false,
    functionName: fn.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: fn.arn,
    memoryLimitInMB: '3008',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${fn.name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };

  try {
    const result = await handler(structuredClone(event) as never, context);
    return result === undefined ? null : (JSON.parse(JSON.stringify(result)) as unknown);
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    throw new LambdaFunctionError(failure.name, failure.message, (failure.stack ?? '').split('\n'));
  }
}
