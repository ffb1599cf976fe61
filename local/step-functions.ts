/**
 * A local Step Functions endpoint: the AWS JSON 1.0 protocol that @aws-sdk/client-sfn
 * speaks (CreateStateMachine, DescribeStateMachine, DeleteStateMachine, StartExecution,
 * StartSyncExecution, DescribeExecution), backed by aws-local-stepfunctions running the
 * same ASL that CDK deploys or the API creates. Task states call the Lambda handlers in
 * this process.
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
  /** @default 'STANDARD' */
  type?: 'STANDARD' | 'EXPRESS';
  roleArn?: string;
  creationDate?: Date;
}

// State machine names: 1 to 80 letters, digits, `-` and `_`, as Step Functions accepts them.
const STATE_MACHINE_NAME = /^[A-Za-z0-9_-]{1,80}$/;

export interface LocalStepFunctions {
  endpoint: string;
  /** Resolves when every execution started so far has finished. */
  idle(): Promise<void>;
  /** Every execution started since the endpoint started, oldest first. */
  executions(): Array<{ name: string; stateMachineArn: string; status: string; error?: string }>;
  /** The ARNs of the state machines that exist now. */
  stateMachineArns(): string[];
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
  const machines = new Map<string, LocalStateMachine>(stateMachines.map((machine) => [machine.arn, { creationDate: new Date(), ...machine }]));
  const executions = new Map<string, Execution>();

  function machineOf(stateMachineArn: unknown): LocalStateMachine {
    const machine = machines.get(String(stateMachineArn ?? ''));
    if (machine === undefined) {
      throw new ApiError('StateMachineDoesNotExist', `State Machine Does Not Exist: '${String(stateMachineArn)}'`);
    }
    return machine;
  }

  function createStateMachine(request: { name?: unknown; definition?: unknown; roleArn?: unknown; type?: unknown }): LocalStateMachine {
    const name = String(request.name ?? '');
    if (!STATE_MACHINE_NAME.test(name)) {
      throw new ApiError('InvalidName', `Invalid Name: '${name}'`);
    }
    let definition: Record<string, unknown>;
    try {
      definition = JSON.parse(String(request.definition)) as Record<string, unknown>;
    } catch (error) {
      throw new ApiError('InvalidDefinition', `Invalid State Machine Definition: ${(error as Error).message}`);
    }
    for (const [stateName, resource] of taskResources(definition)) {
      if (!functionsByArn.has(resource)) {
        throw new ApiError('InvalidDefinition', `Invalid State Machine Definition: state ${stateName} calls ${resource}, which is not a local function.`);
      }
    }
    const type = request.type === 'EXPRESS' ? 'EXPRESS' : 'STANDARD';
    const arn = localStateMachineArn(name);
    const existing = machines.get(arn);
    if (existing !== undefined) {
      // Step Functions returns the existing state machine when the request is identical.
      if (JSON.stringify(existing.definition) === JSON.stringify(definition) && existing.type === type) {
        return existing;
      }
      throw new ApiError('StateMachineAlreadyExists', `State Machine Already Exists: '${arn}'`);
    }
    const machine: LocalStateMachine = { arn, definition, type, roleArn: String(request.roleArn ?? ''), creationDate: new Date() };
    machines.set(arn, machine);
    logger.info('local state machine created', { stateMachineArn: arn, type });
    return machine;
  }

  function startExecution(request: { stateMachineArn?: string; name?: string; input?: string }): Execution {
    const machine = machineOf(request.stateMachineArn);
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
      CreateStateMachine: (body) => {
        const machine = createStateMachine(body as Record<string, unknown>);
        return { stateMachineArn: machine.arn, creationDate: (machine.creationDate ?? new Date()).getTime() / 1000 };
      },
      DescribeStateMachine: (body) => {
        const machine = machineOf((body as { stateMachineArn?: unknown }).stateMachineArn);
        return {
          stateMachineArn: machine.arn,
          name: machine.arn.split(':').at(-1),
          status: 'ACTIVE',
          definition: JSON.stringify(machine.definition),
          roleArn: machine.roleArn ?? '',
          type: machine.type ?? 'STANDARD',
          creationDate: (machine.creationDate ?? new Date()).getTime() / 1000,
        };
      },
      DeleteStateMachine: (body) => {
        // As on AWS, running executions finish; new ones are rejected.
        machines.delete(String((body as { stateMachineArn?: unknown }).stateMachineArn));
        return {};
      },
      StartExecution: (body) => {
        const execution = startExecution(body as { stateMachineArn?: string; name?: string; input?: string });
        return { executionArn: execution.executionArn, startDate: execution.startDate.getTime() / 1000 };
      },
      StartSyncExecution: async (body) => {
        const request = body as { stateMachineArn?: string; name?: string; input?: string };
        if (machineOf(request.stateMachineArn).type !== 'EXPRESS') {
          throw new ApiError('StateMachineTypeNotSupported', 'This operation is not supported by this type of state machine');
        }
        const execution = startExecution(request);
        await execution.done;
        return describe(execution);
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
      [...executions.values()].map(({ name, stateMachineArn, status, error }) =>
        error === undefined ? { name, stateMachineArn, status } : { name, stateMachineArn, status, error },
      ),
    stateMachineArns: () => [...machines.keys()],
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
    response.end(JSON.stringify(await operation(body)));
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
