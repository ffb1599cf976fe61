/**
 * A local Step Functions endpoint: the AWS JSON 1.0 protocol that @aws-sdk/client-sfn
 * speaks (StartExecution, DescribeExecution), backed by aws-local-stepfunctions running
 * the same ASL that CDK deploys. Task states call the Lambda handlers in this process.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StateMachine } from 'aws-local-stepfunctions';
import { logger } from '#commons/logger.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION, type LocalFunction, invokeLocal } from './lambda.ts';

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

interface Execution {
  executionArn: string;
  stateMachineArn: string;
  name: string;
  input: string;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  startDate: Date;
  stopDate?: Date;
  output?: string;
  error?: string;
  cause?: string;
  done: Promise<void>;
}

interface LocalStateMachine {
  arn: string;
  definition: Record<string, unknown>;
}

export interface LocalStepFunctions {
  endpoint: string;
  /** Resolves when every execution started so far has finished. */
  idle(): Promise<void>;
  /** Every execution started since the endpoint started, oldest first. */
  executions(): Array<{ name: string; status: string; error?: string }>;
  stop(): Promise<void>;
}

export function localStateMachineArn(name: string): string {
  return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${name}`;
}

class ApiError extends Error {
  public constructor(
    public readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startLocalStepFunctions(
  stateMachines: readonly LocalStateMachine[],
  functions: readonly LocalFunction[],
): Promise<LocalStepFunctions> {
  const functionsByArn = new Map(functions.map((fn) => [fn.arn, fn]));
  const machines = new Map(stateMachines.map((machine) => [machine.arn, machine]));
  const executions = new Map<string, Execution>();

  function startExecution(request: { stateMachineArn?: string; name?: string; input?: string }): Execution {
    const machine = machines.get(request.stateMachineArn ?? '');
    if (machine === undefined) {
      throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${request.stateMachineArn}'`);
    }
    const name = request.name ?? crypto.randomUUID();
    const executionArn = `${machine.arn.replace(':stateMachine:', ':execution:')}:${name}`;
    const existing = executions.get(executionArn);
    if (existing !== undefined) {
      if (existing.input === (request.input ?? '{}')) {
        return existing;
      }
      throw new ApiError('ExecutionAlreadyExists', `Execution Already Exists: '${executionArn}'`);
    }

    const execution: Execution = {
      executionArn,
      stateMachineArn: machine.arn,
      name,
      input: request.input ?? '{}',
      status: 'RUNNING',
      startDate: new Date(),
      done: Promise.resolve(),
    };
    execution.done = runExecution(machine, execution, functionsByArn);
    executions.set(executionArn, execution);
    return execution;
  }

  const server = createServer((request, response) => {
    void handleRequest(request, response, {
      StartExecution: (body) => {
        const execution = startExecution(body as { stateMachineArn?: string; name?: string; input?: string });
        return { executionArn: execution.executionArn, startDate: execution.startDate.getTime() / 1000 };
      },
      DescribeExecution: (body) => {
        const execution = executions.get(String((body as { executionArn?: unknown }).executionArn));
        if (execution === undefined) {
          throw new ApiError('ExecutionDoesNotExist', 'Execution Does Not Exist');
        }
        return describe(execution);
      },
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    idle: async () => {
      // An execution can start another one while we wait, so loop until none is running.
      while ([...executions.values()].some((execution) => execution.status === 'RUNNING')) {
        await Promise.all([...executions.values()].map((execution) => execution.done));
      }
    },
    executions: () =>
      [...executions.values()].map(({ name, status, error }) => (error === undefined ? { name, status } : { name, status, error })),
    stop: () => closeServer(server),
  };
}

async function runExecution(
  machine: LocalStateMachine,
  execution: Execution,
  functionsByArn: Map<string, LocalFunction>,
): Promise<void> {
  try {
    const taskHandlers: Record<string, (input: JsonValue) => Promise<JsonValue>> = {};
    for (const [stateName, resource] of taskResources(machine.definition)) {
      const fn = functionsByArn.get(resource);
      if (fn === undefined) {
        throw new Error(`Task state ${stateName} calls ${resource}, which is not a local function.`);
      }
      taskHandlers[stateName] = async (input) => (await invokeLocal(fn, input)) as JsonValue;
    }

    const stateMachine = new StateMachine(machine.definition as never);
    const { result } = stateMachine.run(JSON.parse(execution.input) as JsonValue, {
      overrides: { taskResourceLocalHandlers: taskHandlers, retryIntervalOverrides: {} },
      context: {
        Execution: { Id: execution.executionArn, Name: execution.name, StartTime: execution.startDate.toISOString() },
      } as never,
    });
    execution.output = JSON.stringify(await result);
    execution.status = 'SUCCEEDED';
  } catch (error) {
    const cause = (error as { cause?: { name?: string; message?: string } }).cause;
    execution.status = 'FAILED';
    execution.error = cause?.name ?? (error as Error).name;
    execution.cause = cause?.message ?? (error as Error).message;
    logger.warn('local execution failed', { executionArn: execution.executionArn, error: execution.error });
  } finally {
    execution.stopDate = new Date();
  }
}

/** Lists `[state name, Resource]` of every Task state, branches and map iterators included. */
function taskResources(definition: Record<string, unknown>): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  const states = (definition.States ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, state] of Object.entries(states)) {
    if (state.Type === 'Task' && typeof state.Resource === 'string') {
      found.push([name, state.Resource]);
    }
    for (const branch of (state.Branches ?? []) as Array<Record<string, unknown>>) {
      found.push(...taskResources(branch));
    }
    const iterator = (state.ItemProcessor ?? state.Iterator) as Record<string, unknown> | undefined;
    if (iterator !== undefined) {
      found.push(...taskResources(iterator));
    }
  }
  return found;
}

function describe(execution: Execution): Record<string, unknown> {
  return {
    executionArn: execution.executionArn,
    stateMachineArn: execution.stateMachineArn,
    name: execution.name,
    status: execution.status,
    startDate: execution.startDate.getTime() / 1000,
    stopDate: execution.stopDate === undefined ? undefined : execution.stopDate.getTime() / 1000,
    input: execution.input,
    output: execution.output,
    error: execution.error,
    cause: execution.cause,
  };
}

async function handleRequest(
  request: IncomingMessage,
  response: ServerResponse,
  operations: Record<string, (body: unknown) => unknown>,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }
  const target = String(request.headers['x-amz-target'] ?? '');
  const operation = operations[target.replace(/^AWSStepFunctions\./, '')];

  response.setHeader('content-type', 'application/x-amz-json-1.0');
  try {
    if (operation === undefined) {
      throw new ApiError('UnknownOperationException', `The local Step Functions endpoint does not implement ${target}.`);
    }
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    response.end(JSON.stringify(operation(body)));
  } catch (error) {
    response.statusCode = 400;
    const type = error instanceof ApiError ? error.type : 'InvalidParameterValueException';
    response.end(JSON.stringify({ __type: type, message: (error as Error).message }));
  }
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}
