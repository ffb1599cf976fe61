/**
 * Workflows created with `POST /v2/workflows`: the definition as sent, and the state
 * machine it was compiled into.
 */
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, NotFoundError, StatusCode } from '#commons/errors.ts';
import { WORKFLOW_SK_PREFIX, appPk, workflowSk } from '#commons/storage/keys.ts';
import { queryByPrefix } from '#commons/storage/query.ts';
import type { WorkflowNodeDefinition } from '#commons/workflows/definition.ts';
import { putItemIfAbsent } from '#commons/storage/items.ts';

export interface WorkflowRecord {
  app_id: string;
  id: string;
  description?: string;
  /** The nodes, with each model's version filled in as compiled. */
  nodes: WorkflowNodeDefinition[];
  state_machine_arn: string;
  created_at: string;
  modified_at: string;
}

/** Stores a new workflow; an existing id in the app is `WORKFLOW_ALREADY_EXISTS`. */
export async function createWorkflowRecord(record: WorkflowRecord): Promise<void> {
  if (!(await putItemIfAbsent({ pk: appPk(record.app_id), sk: workflowSk(record.id), ...record }))) {
    throw workflowExists(record.app_id, record.id);
  }
}

export function workflowExists(appId: string, workflowId: string): InvalidInputError {
  return new InvalidInputError(
    'WORKFLOW_ALREADY_EXISTS',
    `Workflow id ${JSON.stringify(workflowId)} already exists in app ${JSON.stringify(appId)}. Choose another id, or delete the existing workflow first.`,
    StatusCode.INPUT_INVALID_REQUEST,
  );
}

export async function findWorkflow(appId: string, workflowId: string): Promise<WorkflowRecord | undefined> {
  const { Item } = await documentClient().send(
    new GetCommand({ TableName: config.tableName, Key: { pk: appPk(appId), sk: workflowSk(workflowId) } }),
  );
  return Item === undefined ? undefined : stripKeys(Item);
}

/** Returns the workflow or throws `WORKFLOW_NOT_FOUND`. */
export async function getWorkflowRecord(appId: string, workflowId: string): Promise<WorkflowRecord> {
  const workflow = await findWorkflow(appId, workflowId);
  if (workflow === undefined) {
    throw new NotFoundError(
      'WORKFLOW_NOT_FOUND',
      `Workflow ${JSON.stringify(workflowId)} was not found in app ${JSON.stringify(appId)}. List workflows with GET /v2/workflows.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  return workflow;
}

/** Lists the app's workflows in id order. */
export async function listWorkflowRecords(appId: string): Promise<WorkflowRecord[]> {
  const items = await queryByPrefix(appPk(appId), WORKFLOW_SK_PREFIX);
  return items.map(stripKeys);
}

export async function deleteWorkflowRecord(appId: string, workflowId: string): Promise<void> {
  await documentClient().send(
    new DeleteCommand({ TableName: config.tableName, Key: { pk: appPk(appId), sk: workflowSk(workflowId) } }),
  );
}

function stripKeys(item: Record<string, unknown>): WorkflowRecord {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as WorkflowRecord;
}
