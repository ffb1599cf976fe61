/**
 * Workflow routes: create workflows (each compiled into its own state machine), list,
 * read and delete them, and run one on images sent in the request. The built-in default
 * workflow (id `default`) is listed, read and run like the app's own, but cannot be
 * created or deleted.
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import type { ApiRequest } from '#commons/http/api-event.ts';
import { okStatus } from '#commons/http/responses.ts';
import { logger } from '#commons/logger.ts';
import { getAppSettings } from '#commons/storage/apps.ts';
import {
  type WorkflowRecord,
  createWorkflowRecord,
  deleteWorkflowRecord,
  findWorkflow,
  getWorkflowRecord,
  listWorkflowRecords,
  workflowExists,
} from '#commons/storage/workflows.ts';
import { compileWorkflow } from '#commons/workflows/compiler.ts';
import { DEFAULT_WORKFLOW, DEFAULT_WORKFLOW_ID } from '#commons/workflows/default-workflow.ts';
import { type WorkflowDefinition, parseWorkflowDefinition } from '#commons/workflows/definition.ts';
import type { ResolvedModel } from '#commons/workflows/model-types.ts';
import {
  createWorkflowStateMachine,
  deleteWorkflowStateMachine,
  stateMachineName,
  workflowConfig,
} from '#commons/workflows/state-machines.ts';
import { resolveWorkflowModels } from '../model-store.ts';
import { runWorkflowOnImages } from '../workflow-results.ts';

/** Workflows accepted in one `POST /v2/workflows`. */
export const MAX_NEW_WORKFLOWS = 8;

// The built-in workflow changes only with a Percept release, so it has a fixed creation
// date, the same as the built-in models' manifests.
const BUILTIN_CREATED_AT = '2026-12-04T00:00:00Z';

export function toClarifaiWorkflow(record: WorkflowRecord): Record<string, unknown> {
  return {
    id: record.id,
    app_id: record.app_id,
    description: record.description ?? '',
    created_at: record.created_at,
    modified_at: record.modified_at,
    nodes: record.nodes,
  };
}

export async function createWorkflowsRoute(request: ApiRequest): Promise<unknown> {
  const definitions = workflowsOf(request.body);

  // Every workflow is checked and compiled before any state machine is created, so one
  // invalid workflow rejects the request without leaving the others behind.
  const compiled = [];
  for (const definition of definitions) {
    if ((await findWorkflow(request.appId, definition.id)) !== undefined) {
      throw workflowExists(request.appId, definition.id);
    }
    const models = await resolveWorkflowModels(request.appId, definition);
    const { definition: asl } = compileWorkflow(definition, models, { functions: workflowConfig.functionArns });
    compiled.push({ definition, asl, nodes: nodesWithVersions(definition, models) });
  }

  const created: WorkflowRecord[] = [];
  for (const { definition, asl, nodes } of compiled) {
    created.push(await createOne(request.appId, definition, asl, nodes));
  }
  return { status: okStatus(request.requestId), workflows: created.map(toClarifaiWorkflow) };
}

// The nodes as stored and returned: each model with the version it was compiled with.
function nodesWithVersions(definition: WorkflowDefinition, models: ReadonlyMap<string, ResolvedModel>): WorkflowRecord['nodes'] {
  return definition.nodes.map((node) => ({
    ...node,
    model: { id: node.model.id, model_version: { id: (models.get(node.model.id) as ResolvedModel).version_id } },
  }));
}

/**
 * Returns the built-in default workflow as a record of the app. Its state machine is the
 * EXPRESS one that the results route runs; ingest starts the STANDARD one.
 */
async function builtinWorkflowRecord(appId: string): Promise<WorkflowRecord> {
  const models = await resolveWorkflowModels(appId, DEFAULT_WORKFLOW);
  return {
    app_id: appId,
    id: DEFAULT_WORKFLOW.id,
    ...(DEFAULT_WORKFLOW.description === undefined ? {} : { description: DEFAULT_WORKFLOW.description }),
    nodes: nodesWithVersions(DEFAULT_WORKFLOW, models),
    state_machine_arn: workflowConfig.defaultWorkflowResultsArn,
    created_at: BUILTIN_CREATED_AT,
    modified_at: BUILTIN_CREATED_AT,
  };
}

// Returns the app's workflow or the built-in one, or throws `WORKFLOW_NOT_FOUND`.
async function workflowOfApp(appId: string, workflowId: string): Promise<WorkflowRecord> {
  return workflowId === DEFAULT_WORKFLOW_ID ? builtinWorkflowRecord(appId) : getWorkflowRecord(appId, workflowId);
}

async function createOne(
  appId: string,
  definition: WorkflowDefinition,
  asl: Record<string, unknown>,
  nodes: WorkflowRecord['nodes'],
): Promise<WorkflowRecord> {
  const now = new Date().toISOString();
  const name = stateMachineName(appId, definition.id, now);
  const stateMachineArn = await createWorkflowStateMachine(name, asl, { app_id: appId, workflow_id: definition.id });
  const record: WorkflowRecord = {
    app_id: appId,
    id: definition.id,
    ...(definition.description === undefined ? {} : { description: definition.description }),
    nodes,
    state_machine_arn: stateMachineArn,
    created_at: now,
    modified_at: now,
  };
  try {
    await createWorkflowRecord(record);
  } catch (error) {
    // A concurrent request created the same id first: its state machine stays, ours goes.
    await deleteWorkflowStateMachine(stateMachineArn);
    throw error;
  }
  logger.info('workflow created', { appId, workflowId: definition.id, stateMachineArn });
  return record;
}

function workflowsOf(body: unknown): WorkflowDefinition[] {
  const workflows = (body as { workflows?: unknown } | null)?.workflows;
  if (!Array.isArray(workflows) || workflows.length === 0) {
    throw new InvalidInputError(
      'WORKFLOWS_MISSING',
      'The request has no workflows. Send {"workflows": [{"id": "...", "nodes": [...]}]}.',
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  if (workflows.length > MAX_NEW_WORKFLOWS) {
    throw new InvalidInputError(
      'TOO_MANY_WORKFLOWS',
      `The request has ${workflows.length} workflows; at most ${MAX_NEW_WORKFLOWS} are accepted per request.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  const definitions = workflows.map((workflow: unknown, index) => parseWorkflowDefinition(workflow, `workflows[${index}]`));
  if (definitions.some((definition) => definition.id === DEFAULT_WORKFLOW_ID)) {
    throw new InvalidInputError(
      'WORKFLOW_ALREADY_EXISTS',
      `Workflow id ${JSON.stringify(DEFAULT_WORKFLOW_ID)} is the built-in default workflow. Choose another id.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  const ids = definitions.map((definition) => definition.id);
  const repeated = ids.find((id, index) => ids.indexOf(id) !== index);
  if (repeated !== undefined) {
    throw new InvalidInputError(
      'WORKFLOW_ALREADY_EXISTS',
      `Workflow id ${JSON.stringify(repeated)} appears more than once in the request.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  return definitions;
}

/** Lists the built-in default workflow first, then the app's workflows in id order. */
export async function listWorkflowsRoute(request: ApiRequest): Promise<unknown> {
  const records = [await builtinWorkflowRecord(request.appId), ...(await listWorkflowRecords(request.appId))];
  return { status: okStatus(request.requestId), workflows: records.map(toClarifaiWorkflow) };
}

export async function getWorkflowRoute(request: ApiRequest): Promise<unknown> {
  const record = await workflowOfApp(request.appId, request.pathParameters.workflow_id ?? '');
  return { status: okStatus(request.requestId), workflow: toClarifaiWorkflow(record) };
}

export async function deleteWorkflowRoute(request: ApiRequest): Promise<unknown> {
  const workflowId = request.pathParameters.workflow_id ?? '';
  if (workflowId === DEFAULT_WORKFLOW_ID) {
    throw new InvalidInputError(
      'WORKFLOW_NOT_DELETABLE',
      `Workflow ${JSON.stringify(DEFAULT_WORKFLOW_ID)} is the built-in default workflow, which cannot be deleted. Only workflows created with POST /v2/workflows can.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  const record = await getWorkflowRecord(request.appId, workflowId);
  const settings = await getAppSettings(request.appId);
  if (settings.default_workflow_id === record.id) {
    throw new InvalidInputError(
      'WORKFLOW_IN_USE',
      `Workflow ${JSON.stringify(record.id)} is the default workflow of app ${JSON.stringify(request.appId)}. Set another default_workflow_id with PATCH /v2/apps first.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }

  await deleteWorkflowStateMachine(record.state_machine_arn);
  await deleteWorkflowRecord(record.app_id, record.id);
  logger.info('workflow deleted', { appId: record.app_id, workflowId: record.id });
  return { status: okStatus(request.requestId) };
}

export async function workflowResultsRoute(request: ApiRequest): Promise<unknown> {
  const record = await workflowOfApp(request.appId, request.pathParameters.workflow_id ?? '');
  const { status, results } = await runWorkflowOnImages(record, request);
  return { status, workflow: toClarifaiWorkflow(record), results };
}
