/**
 * Inputs: one item per image, with where the image lives in S3 and the processing status.
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import type { Status } from '#commons/clarifai/types.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, NotFoundError, PerceptError, StatusCode } from '#commons/errors.ts';
import { logger } from '#commons/logger.ts';
import { INPUT_SK_PREFIX, appPk, inputSk } from '#commons/storage/keys.ts';
import { queryByPrefix } from '#commons/storage/query.ts';
import { putItemIfAbsent } from '#commons/storage/items.ts';

export interface StoredImage {
  bucket: string;
  key: string;
  version_id?: string;
  width?: number;
  height?: number;
  format?: string;
}

/** A concept an input is labelled with: `value` 1 marks a positive example, 0 a negative one. */
export interface InputConcept {
  id: string;
  /** The concept's name when the label was written; a later rename does not change it. */
  name: string;
  value: 0 | 1;
}

export interface GeoPoint {
  /** Degrees, -180 to 180. */
  longitude: number;
  /** Degrees, -90 to 90. */
  latitude: number;
}

export interface InputRecord {
  app_id: string;
  id: string;
  created_at: string;
  modified_at: string;
  image: StoredImage;
  metadata?: Record<string, unknown>;
  concepts?: InputConcept[];
  geo?: { geo_point: GeoPoint };
  /** Counts the label and metadata updates; `updateInputData` writes only over the version it read. */
  version?: number;
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
  if (!(await putItemIfAbsent({ pk: appPk(record.app_id), sk: inputSk(record.id), ...record }))) {
    throw new InvalidInputError(
      'INPUT_DUPLICATE',
      `Input id ${JSON.stringify(record.id)} already exists in app ${JSON.stringify(record.app_id)}. Choose another id, or delete the existing input first.`,
      StatusCode.INPUT_DUPLICATE,
    );
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

/** The parts of an input that `PATCH /v2/inputs` changes. */
export interface InputData {
  concepts?: InputConcept[];
  metadata?: Record<string, unknown>;
  geo?: { geo_point: GeoPoint };
}

// Each failed attempt means that another writer changed the input in between. With N
// concurrent writers, N attempts are enough, and the margin covers writers that join later.
const MAX_UPDATE_ATTEMPTS = 50;

/**
 * Replaces an input's concepts, metadata and geo point with what `change` computes from the
 * stored input. The write is conditional on the version read, and a conflicting write by
 * another request makes it read again and recompute, so no concurrent update overwrites
 * another's change. Throws `INPUT_NOT_FOUND` for an unknown input and `INPUT_UPDATE_CONFLICT`
 * after 50 conflicts in a row.
 */
export async function updateInputData(
  appId: string,
  inputId: string,
  change: (input: InputRecord) => InputData,
): Promise<InputRecord> {
  for (let attempt = 1; attempt <= MAX_UPDATE_ATTEMPTS; attempt += 1) {
    const input = await getInput(appId, inputId);
    const data = change(input);
    const version = input.version ?? 0;

    const names: Record<string, string> = { '#version': 'version', '#modified': 'modified_at' };
    const values: Record<string, unknown> = { ':next': version + 1, ':now': new Date().toISOString() };
    const assignments = ['#version = :next', '#modified = :now'];
    const removals: string[] = [];
    for (const field of ['concepts', 'metadata', 'geo'] as const) {
      names[`#${field}`] = field;
      if (data[field] === undefined) {
        removals.push(`#${field}`);
      } else {
        values[`:${field}`] = data[field];
        assignments.push(`#${field} = :${field}`);
      }
    }
    // Inputs written before versions existed have no version attribute: they count as 0.
    let condition = 'attribute_exists(pk) AND #version = :version';
    if (version === 0) {
      condition = 'attribute_exists(pk) AND (attribute_not_exists(#version) OR #version = :version)';
    }
    values[':version'] = version;

    try {
      const { Attributes } = await documentClient().send(
        new UpdateCommand({
          TableName: config.tableName,
          Key: { pk: appPk(appId), sk: inputSk(inputId) },
          UpdateExpression: `SET ${assignments.join(', ')}${removals.length > 0 ? ` REMOVE ${removals.join(', ')}` : ''}`,
          ConditionExpression: condition,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return stripKeys(Attributes ?? {});
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) {
        throw error;
      }
      logger.info('input update conflict, retrying', { appId, inputId, attempt, version });
      // Random backoff, so that writers that collided do not collide again in lockstep.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(10 * attempt, 200)));
    }
  }
  throw new PerceptError(
    `Input ${JSON.stringify(inputId)} was changed by other requests ${MAX_UPDATE_ATTEMPTS} times while this update was applied. Send the update again.`,
    { code: 'INPUT_UPDATE_CONFLICT', statusCode: StatusCode.FAILURE, httpStatus: 409 },
  );
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
