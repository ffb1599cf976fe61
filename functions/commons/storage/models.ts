/**
 * An app's own models: operators and ONNX models created with `POST /v2/models`.
 * Built-in models are not stored here; they come from the model catalog.
 */
import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, NotFoundError, StatusCode } from '#commons/errors.ts';
import { MODEL_SK_PREFIX, appPk, modelSk } from '#commons/storage/keys.ts';
import { queryByPrefix } from '#commons/storage/query.ts';
import type { AppOnnxModel } from '#commons/models/app-models.ts';
import type { RawModelParams } from '#commons/workflows/node-data.ts';
import { putItemIfAbsent } from '#commons/storage/items.ts';

export interface ModelRecord {
  app_id: string;
  id: string;
  name: string;
  description: string;
  model_type_id: string;
  /** The parameters as sent in `output_info`, checked by the type's `validateParams`. */
  params: RawModelParams;
  /** Derived from the type and parameters (see `operatorVersionId`), or from the ONNX file. */
  version_id: string;
  /** The uploaded ONNX file and its manifest, for the visual-* model types. */
  onnx?: AppOnnxModel;
  created_at: string;
  modified_at: string;
}

/** Stores a new model; an existing id in the app is `MODEL_ALREADY_EXISTS`. */
export async function createModel(record: ModelRecord): Promise<void> {
  if (!(await putItemIfAbsent({ pk: appPk(record.app_id), sk: modelSk(record.id), ...record }))) {
    throw new InvalidInputError(
      'MODEL_ALREADY_EXISTS',
      `Model id ${JSON.stringify(record.id)} already exists in app ${JSON.stringify(record.app_id)}. Choose another id, or delete the existing model first.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
}

export async function findModel(appId: string, modelId: string): Promise<ModelRecord | undefined> {
  const { Item } = await documentClient().send(
    new GetCommand({ TableName: config.tableName, Key: { pk: appPk(appId), sk: modelSk(modelId) } }),
  );
  return Item === undefined ? undefined : stripKeys(Item);
}

/** Returns the app's model or throws `MODEL_NOT_FOUND`. */
export async function getAppModel(appId: string, modelId: string): Promise<ModelRecord> {
  const model = await findModel(appId, modelId);
  if (model === undefined) {
    throw new NotFoundError(
      'MODEL_NOT_FOUND',
      `Model ${JSON.stringify(modelId)} does not exist in app ${JSON.stringify(appId)}. List the models with GET /v2/models.`,
      StatusCode.MODEL_DOES_NOT_EXIST,
    );
  }
  return model;
}

/** Lists the app's own models in id order. */
export async function listAppModels(appId: string): Promise<ModelRecord[]> {
  const items = await queryByPrefix(appPk(appId), MODEL_SK_PREFIX);
  return items.map(stripKeys);
}

export async function deleteModelRecord(appId: string, modelId: string): Promise<void> {
  await documentClient().send(
    new DeleteCommand({ TableName: config.tableName, Key: { pk: appPk(appId), sk: modelSk(modelId) } }),
  );
}

function stripKeys(item: Record<string, unknown>): ModelRecord {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as ModelRecord;
}
