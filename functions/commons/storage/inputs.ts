/**
 * Inputs: one item per image, with where the image lives in S3 and the processing status.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import type { Status } from '#commons/clarifai/types.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, NotFoundError, StatusCode } from '#commons/errors.ts';
import { INPUT_SK_PREFIX, appPk, inputSk } from '#commons/storage/keys.ts';
import { queryByPrefix } from '#commons/storage/query.ts';

export interface StoredImage {
  bucket: string;
  key: string;
  version_id?: string;
  width?: number;
  height?: number;
  format?: string;
}

export interface InputRecord {
  app_id: string;
  id: string;
  created_at: string;
  modified_at: string;
  image: StoredImage;
  metadata?: Record<string, unknown>;
  status: Status;
  /** `api` for `POST /v2/inputs`, `bucket` for an object uploaded straight to S3. */
  source: 'api' | 'bucket';
}

export const InputStatus = {
  pending: (): Status => ({ code: StatusCode.INPUT_DOWNLOAD_PENDING, description: 'Download pending' }),
  inProgress: (): Status => ({ code: StatusCode.INPUT_DOWNLOAD_IN_PROGRESS, description: 'Download in progress' }),
  success: (): Status => ({ code: StatusCode.INPUT_DOWNLOAD_SUCCESS, description: 'Download complete' }),
  failed: (errorCode: string, details: string): Status => ({
    code: StatusCode.INPUT_DOWNLOAD_FAILED,
    description: 'Download failed',
    details,
    error_code: errorCode,
  }),
};

/** Stores a new input; an input with the same id in the app is `INPUT_DUPLICATE`. */
export async function createInput(record: InputRecord): Promise<void> {
  try {
    await documentClient().send(
      new PutCommand({
        TableName: config.tableName,
        Item: { pk: appPk(record.app_id), sk: inputSk(record.id), ...record },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      throw new InvalidInputError(
        'INPUT_DUPLICATE',
        `Input id ${JSON.stringify(record.id)} already exists in app ${JSON.stringify(record.app_id)}. Choose another id, or delete the existing input first.`,
        StatusCode.INPUT_DUPLICATE,
      );
    }
    throw error;
  }
}

/** Stores an input unless one with that id exists; returns whether it was stored. */
export async function createInputIfAbsent(record: InputRecord): Promise<boolean> {
  try {
    await createInput(record);
    return true;
  } catch (error) {
    if (error instanceof InvalidInputError && error.code === 'INPUT_DUPLICATE') {
      return false;
    }
    throw error;
  }
}

export async function findInput(appId: string, inputId: string): Promise<InputRecord | undefined> {
  const { Item } = await documentClient().send(
    new GetCommand({ TableName: config.tableName, Key: { pk: appPk(appId), sk: inputSk(inputId) } }),
  );
  return Item === undefined ? undefined : stripKeys(Item);
}

/** Returns the input or throws `INPUT_NOT_FOUND`. */
export async function getInput(appId: string, inputId: string): Promise<InputRecord> {
  const input = await findInput(appId, inputId);
  if (input === undefined) {
    throw new NotFoundError(
      'INPUT_NOT_FOUND',
      `Input ${JSON.stringify(inputId)} was not found in app ${JSON.stringify(appId)}. List inputs with GET /v2/inputs.`,
      StatusCode.INPUT_DOES_NOT_EXIST,
    );
  }
  return input;
}

export interface Page {
  /** 1-based page number, as in Clarifai's `page` query parameter. */
  page: number;
  perPage: number;
}

/** Lists an app's inputs in id order, one page at a time. */
export async function listInputs(appId: string, { page, perPage }: Page): Promise<InputRecord[]> {
  // NOTE: DynamoDB has no offset, so page N reads the N-1 pages before it. That is fine
  // for the page sizes a client browses with; a cursor would be needed for deep paging.
  const items = await queryByPrefix(appPk(appId), INPUT_SK_PREFIX, page * perPage);
  return items.slice((page - 1) * perPage).map(stripKeys);
}

/** Sets an input's status; does nothing when the input was deleted meanwhile. */
export async function setInputStatus(
  appId: string,
  inputId: string,
  status: Status,
  image?: Partial<StoredImage>,
): Promise<boolean> {
  const names: Record<string, string> = { '#status': 'status', '#modified': 'modified_at' };
  const values: Record<string, unknown> = { ':status': status, ':now': new Date().toISOString() };
  const assignments = ['#status = :status', '#modified = :now'];
  for (const [field, value] of Object.entries(image ?? {})) {
    names['#image'] = 'image';
    names[`#image_${field}`] = field;
    values[`:image_${field}`] = value;
    assignments.push(`#image.#image_${field} = :image_${field}`);
  }

  try {
    await documentClient().send(
      new UpdateCommand({
        TableName: config.tableName,
        Key: { pk: appPk(appId), sk: inputSk(inputId) },
        UpdateExpression: `SET ${assignments.join(', ')}`,
        ConditionExpression: 'attribute_exists(pk)',
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) {
      return false;
    }
    throw error;
  }
}

export async function deleteInputRecord(appId: string, inputId: string): Promise<void> {
  await documentClient().send(
    new DeleteCommand({ TableName: config.tableName, Key: { pk: appPk(appId), sk: inputSk(inputId) } }),
  );
}

function stripKeys(item: Record<string, unknown>): InputRecord {
  const { pk: _pk, sk: _sk, ...record } = item;
  return record as unknown as InputRecord;
}
