/**
 * The state machines of workflows created through the API: create, delete and run them.
 * The settings come from the environment that CDK (or the local stack) sets on the API
 * function:
 *
 * - `WORKFLOW_ROLE_ARN`: the role every workflow state machine runs as.
 * - `WORKFLOW_NAME_PREFIX`: the start of every state machine name; the API function may
 *   only create and delete state machines whose name starts with it.
 * - `WORKFLOW_FUNCTION_ARNS`: JSON of the CompilerFunctionArns the Task states call.
 * - `WORKFLOW_LOG_GROUP_ARN` (optional): log group of the state machines' execution logs.
 * - `DEFAULT_WORKFLOW_RESULTS_ARN`: the EXPRESS state machine of the built-in default
 *   workflow, which `POST /v2/workflows/default/results` runs.
 *
 * The state machines are EXPRESS, so `POST /v2/workflows/{id}/results` can run them with
 * StartSyncExecution. Ingest starts them asynchronously with StartExecution, which Express
 * state machines run at least once, and the tasks are written so that a duplicate
 * execution is harmless. An Express execution may run for at most 5 minutes.
 */
import { createHash } from 'node:crypto';
import {
  CreateStateMachineCommand,
  DeleteStateMachineCommand,
  LogLevel,
  SFNClient,
  StartExecutionCommand,
  StartSyncExecutionCommand,
  StateMachineDoesNotExist,
} from '@aws-sdk/client-sfn';
import type { CompilerFunctionArns, WorkflowExecutionInput } from '#commons/workflows/compiler.ts';

function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new Error(`Environment variable ${name} is missing. Set it in the CDK construct or the local stack.`);
  }
  return value;
}

export const workflowConfig = {
  get roleArn(): string {
    return requireEnv('WORKFLOW_ROLE_ARN');
  },
  get namePrefix(): string {
    return requireEnv('WORKFLOW_NAME_PREFIX');
  },
  get functionArns(): CompilerFunctionArns {
    return JSON.parse(requireEnv('WORKFLOW_FUNCTION_ARNS')) as CompilerFunctionArns;
  },
  get logGroupArn(): string | undefined {
    return process.env.WORKFLOW_LOG_GROUP_ARN || undefined;
  },
  get defaultWorkflowResultsArn(): string {
    return requireEnv('DEFAULT_WORKFLOW_RESULTS_ARN');
  },
};

let client: SFNClient | undefined;

// StartSyncExecution goes to the `sync-states` host: the SDK puts `sync-` before the
// endpoint's host name. A custom endpoint (the local stack at 127.0.0.1) cannot take that prefix.
function stepFunctions(): SFNClient {
  const customEndpoint = process.env.AWS_ENDPOINT_URL_SFN ?? process.env.AWS_ENDPOINT_URL;
  client ??= new SFNClient({ disableHostPrefix: customEndpoint !== undefined });
  return client;
}

/**
 * Returns the state machine name of a workflow: the prefix, a hash of the app, workflow id
 * and creation time (so a workflow created again after a delete gets a fresh name while
 * AWS still deletes the old one), and the workflow id. At most 80 characters.
 */
export function stateMachineName(appId: string, workflowId: string, createdAt: string): string {
  const hash = createHash('sha256').update(`${appId}\n${workflowId}\n${createdAt}`).digest('hex').slice(0, 12);
  return `${workflowConfig.namePrefix}${hash}-${workflowId}`.slice(0, 80);
}

export async function createWorkflowStateMachine(
  name: string,
  definition: Record<string, unknown>,
  tags: { app_id: string; workflow_id: string },
): Promise<string> {
  const logGroupArn = workflowConfig.logGroupArn;
  const { stateMachineArn } = await stepFunctions().send(
    new CreateStateMachineCommand({
      name,
      definition: JSON.stringify(definition),
      roleArn: workflowConfig.roleArn,
      type: 'EXPRESS',
      tracingConfiguration: { enabled: true },
      ...(logGroupArn === undefined
        ? {}
        : {
            loggingConfiguration: {
              level: LogLevel.ERROR,
              includeExecutionData: true,
              destinations: [{ cloudWatchLogsLogGroup: { logGroupArn } }],
            },
          }),
      tags: [
        { key: 'percept:app_id', value: tags.app_id },
        { key: 'percept:workflow_id', value: tags.workflow_id },
      ],
    }),
  );
  if (stateMachineArn === undefined) {
    throw new Error(`CreateStateMachine returned no ARN for ${name}.`);
  }
  return stateMachineArn;
}

/** Deletes a workflow's state machine; one that is already gone is fine. */
export async function deleteWorkflowStateMachine(stateMachineArn: string): Promise<void> {
  try {
    await stepFunctions().send(new DeleteStateMachineCommand({ stateMachineArn }));
  } catch (error) {
    if (!(error instanceof StateMachineDoesNotExist)) {
      throw error;
    }
  }
}

export interface SyncExecutionResult {
  status: 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT';
  output?: string;
  error?: string;
  cause?: string;
}

/** Runs a workflow on one input and waits for its result. */
export async function runWorkflowSync(stateMachineArn: string, input: WorkflowExecutionInput): Promise<SyncExecutionResult> {
  const result = await stepFunctions().send(
    new StartSyncExecutionCommand({ stateMachineArn, input: JSON.stringify(input) }),
  );
  return {
    status: (result.status ?? 'FAILED') as SyncExecutionResult['status'],
    ...(result.output === undefined ? {} : { output: result.output }),
    ...(result.error === undefined ? {} : { error: result.error }),
    ...(result.cause === undefined ? {} : { cause: result.cause }),
  };
}

/** Starts a workflow on one input without waiting; returns the execution ARN. */
export async function startWorkflowExecution(
  stateMachineArn: string,
  name: string,
  input: WorkflowExecutionInput,
): Promise<string> {
  const { executionArn } = await stepFunctions().send(
    new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
  );
  return executionArn ?? '';
}
