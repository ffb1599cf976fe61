/**
 * Input routes: add images (stored in S3, which starts the default workflow) with their
 * concepts and geo point, list, read, relabel and delete inputs, and read the annotations
 * the workflow wrote.
 */
import { toClarifaiInput } from '#commons/clarifai/resources.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { type ApiRequest, parsePaging } from '#commons/http/api-event.ts';
import { decodeInputImage, inputIdOf, inputsOf, metadataOf } from '#commons/http/image-input.ts';
import { okStatus } from '#commons/http/responses.ts';
import { imageLimitsFromEnv } from '#commons/image/decode.ts';
import { logger } from '#commons/logger.ts';
import { unindexInput } from '#commons/search/indexing.ts';
import { deleteAnnotations } from '#commons/storage/annotations.ts';
import { type ConceptRecord, ensureConcepts, validateConceptId } from '#commons/storage/concepts.ts';
import { validateId } from '#commons/storage/ids.ts';
import { deleteImage, putImage, uploadKey } from '#commons/storage/images.ts';
import {
  type GeoPoint,
  type InputConcept,
  type InputData,
  type InputRecord,
  InputStatus,
  createInput,
  deleteInputRecord,
  getInput,
  listInputs,
  updateInputData,
} from '#commons/storage/inputs.ts';

/** Clarifai accepts at most 128 inputs in one `POST /v2/inputs`. */
export const MAX_NEW_INPUTS = 128;

interface NewInput {
  record: InputRecord;
  bytes: Buffer;
  labels: ConceptLabel[] | undefined;
}

/** A concept label as sent in `data.concepts`; the name is filled in from the concept store. */
interface ConceptLabel {
  id: string;
  value: 0 | 1;
}

export async function createInputsRoute(request: ApiRequest): Promise<unknown> {
  const inputs = inputsOf(request.body, MAX_NEW_INPUTS);
  const prepared = await prepareInputs(request.appId, inputs);

  // A concept id that the app lacks becomes a new concept named after its id, so labelled
  // inputs need no POST /v2/concepts first.
  const concepts = await ensureConcepts(
    request.appId,
    prepared.flatMap(({ labels }) => (labels ?? []).map((label) => label.id)),
  );
  for (const { record, labels } of prepared) {
    if (labels !== undefined) {
      record.concepts = withNames(labels, concepts);
    }
  }

  const stored: InputRecord[] = [];
  for (const { record, bytes } of prepared) {
    await createInput(record);
    try {
      // The object's creation event starts the default workflow.
      await putImage(record.image, bytes);
    } catch (error) {
      await deleteInputRecord(record.app_id, record.id);
      throw error;
    }
    stored.push(record);
  }

  logger.info('inputs added', { appId: request.appId, inputIds: stored.map((record) => record.id) });
  return { status: okStatus(request.requestId), inputs: stored.map(toClarifaiInput) };
}

// Validates every input (id, image, metadata) before storing any, so that a bad input
// rejects the request without leaving half of it behind.
async function prepareInputs(appId: string, inputs: unknown[]): Promise<NewInput[]> {
  const limits = imageLimitsFromEnv();
  const seenIds = new Set<string>();
  const prepared: NewInput[] = [];

  for (const [index, input] of inputs.entries()) {
    const id = inputIdOf(input, index);
    if (seenIds.has(id)) {
      throw new InvalidInputError(
        'INPUT_DUPLICATE',
        `inputs[${index}].id ${JSON.stringify(id)} appears more than once in the request. Give each input its own id.`,
        StatusCode.INPUT_DUPLICATE,
      );
    }
    seenIds.add(id);

    const metadata = metadataOf(input, index);
    const labels = conceptLabelsOf(input, `inputs[${index}]`, true);
    const geo = geoOf(input, `inputs[${index}]`);
    const { bytes, image } = await decodeInputImage(input, index, limits);

    const now = new Date().toISOString();
    prepared.push({
      bytes,
      labels,
      record: {
        app_id: appId,
        id,
        created_at: now,
        modified_at: now,
        image: {
          bucket: config.bucketName,
          key: uploadKey(config.uploadsPrefix, appId, id),
          width: image.width,
          height: image.height,
          format: image.format,
        },
        metadata,
        geo: geo === undefined ? undefined : { geo_point: geo },
        status: InputStatus.pending(),
        source: 'api',
      },
    });
  }
  return prepared;
}

export async function listInputsRoute(request: ApiRequest): Promise<unknown> {
  const inputs = await listInputs(request.appId, parsePaging(request.query));
  return { status: okStatus(request.requestId), inputs: inputs.map(toClarifaiInput) };
}

export async function getInputRoute(request: ApiRequest): Promise<unknown> {
  const input = await getInput(request.appId, request.pathParameters.input_id ?? '');
  return { status: okStatus(request.requestId), input: toClarifaiInput(input) };
}

export async function deleteInputRoute(request: ApiRequest): Promise<unknown> {
  const input = await getInput(request.appId, request.pathParameters.input_id ?? '');
  // The index entries are found through the annotations, so they go first.
  await unindexInput(input.app_id, input.id);
  await deleteAnnotations(input.app_id, input.id);
  // An image ingested from another bucket (through EventBridge) belongs to that bucket's owner.
  if (input.image.bucket === config.bucketName) {
    await deleteImage(input.image);
  }
  await deleteInputRecord(input.app_id, input.id);
  logger.info('input deleted', { appId: input.app_id, inputId: input.id });
  return { status: okStatus(request.requestId) };
}

const PATCH_ACTIONS = ['merge', 'overwrite', 'remove'] as const;
type PatchAction = (typeof PATCH_ACTIONS)[number];

interface InputPatch {
  id: string;
  labels?: ConceptLabel[];
  metadata?: Record<string, unknown>;
  geo?: GeoPoint;
  /** Set when the request has `data.geo`; for `remove` it needs no valid point. */
  hasGeo: boolean;
}

/**
 * `PATCH /v2/inputs`: changes the concepts, metadata and geo point of inputs.
 * - `merge` adds concepts (or sets the value of ones the input has), merges metadata key by
 *   key (nested objects recursively) and sets the geo point.
 * - `overwrite` replaces each field the request gives.
 * - `remove` drops the given concept ids, the given metadata keys (nested objects
 *   recursively) and, when `data.geo` is present, the geo point.
 */
export async function patchInputsRoute(request: ApiRequest): Promise<unknown> {
  const action = (request.body as { action?: unknown } | null)?.action;
  if (!PATCH_ACTIONS.includes(action as PatchAction)) {
    throw new InvalidInputError(
      'INVALID_ACTION',
      `action ${JSON.stringify(action)} is not supported for inputs. Use "merge", "overwrite" or "remove".`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  const patches = inputPatchesOf(request.body, action as PatchAction);
  // Check that every input exists before changing any.
  for (const patch of patches) {
    await getInput(request.appId, patch.id);
  }
  const concepts =
    action === 'remove'
      ? new Map<string, ConceptRecord>()
      : await ensureConcepts(request.appId, patches.flatMap((patch) => (patch.labels ?? []).map((label) => label.id)));

  const updated: InputRecord[] = [];
  for (const patch of patches) {
    const change = (input: InputRecord): InputData => applyPatch(input, patch, action as PatchAction, concepts);
    updated.push(await updateInputData(request.appId, patch.id, change));
  }

  logger.info('inputs patched', { appId: request.appId, action, inputIds: patches.map((patch) => patch.id) });
  return { status: okStatus(request.requestId), inputs: updated.map(toClarifaiInput) };
}

function inputPatchesOf(body: unknown, action: PatchAction): InputPatch[] {
  const inputs = inputsOf(
    body,
    MAX_NEW_INPUTS,
    '{"action": "merge", "inputs": [{"id": "...", "data": {"concepts": [{"id": "cat", "value": 1}]}}]}',
  );

  const seenIds = new Set<string>();
  return inputs.map((input: unknown, index) => {
    const field = `inputs[${index}]`;
    const id = validateId((input as { id?: unknown } | null)?.id, `${field}.id`);
    if (seenIds.has(id)) {
      throw new InvalidInputError(
        'INPUT_DUPLICATE',
        `${field}.id ${JSON.stringify(id)} appears more than once in the request. Send one entry per input.`,
        StatusCode.INPUT_DUPLICATE,
      );
    }
    seenIds.add(id);

    const data = (input as { data?: Record<string, unknown> }).data;
    const hasGeo = data?.geo !== undefined;
    const patch: InputPatch = {
      id,
      labels: conceptLabelsOf(input, field, action !== 'remove'),
      metadata: metadataOf(input, index),
      geo: action === 'remove' ? undefined : geoOf(input, field),
      hasGeo,
    };
    if (patch.labels === undefined && patch.metadata === undefined && !hasGeo) {
      throw new InvalidInputError(
        'INPUT_DATA_MISSING',
        `${field}.data has none of concepts, metadata or geo, so there is nothing to ${action}. Send at least one of them.`,
        StatusCode.INPUT_INVALID_REQUEST,
      );
    }
    return patch;
  });
}

function applyPatch(
  input: InputRecord,
  patch: InputPatch,
  action: PatchAction,
  concepts: ReadonlyMap<string, ConceptRecord>,
): InputData {
  const data: InputData = { concepts: input.concepts, metadata: input.metadata, geo: input.geo };
  switch (action) {
    case 'merge': {
      if (patch.labels !== undefined) {
        const merged = new Map((input.concepts ?? []).map((concept) => [concept.id, concept]));
        for (const concept of withNames(patch.labels, concepts)) {
          merged.set(concept.id, concept);
        }
        data.concepts = [...merged.values()];
      }
      if (patch.metadata !== undefined) {
        data.metadata = mergeObjects(input.metadata ?? {}, patch.metadata);
      }
      if (patch.geo !== undefined) {
        data.geo = { geo_point: patch.geo };
      }
      break;
    }
    case 'overwrite': {
      if (patch.labels !== undefined) {
        data.concepts = withNames(patch.labels, concepts);
      }
      if (patch.metadata !== undefined) {
        data.metadata = patch.metadata;
      }
      if (patch.geo !== undefined) {
        data.geo = { geo_point: patch.geo };
      }
      break;
    }
    case 'remove': {
      if (patch.labels !== undefined) {
        const removed = new Set(patch.labels.map((label) => label.id));
        data.concepts = (input.concepts ?? []).filter((concept) => !removed.has(concept.id));
      }
      if (patch.metadata !== undefined) {
        data.metadata = removeKeys(input.metadata ?? {}, patch.metadata);
      }
      if (patch.hasGeo) {
        data.geo = undefined;
      }
      break;
    }
  }
  return data;
}

function withNames(labels: readonly ConceptLabel[], concepts: ReadonlyMap<string, ConceptRecord>): InputConcept[] {
  return labels.map((label) => ({ id: label.id, name: concepts.get(label.id)?.name ?? label.id, value: label.value }));
}

/**
 * Reads `data.concepts` of an input: an array of `{id, value}` with `value` 1 (positive) or
 * 0 (negative). `requireValue` is false for `remove`, which needs only the ids.
 */
function conceptLabelsOf(input: unknown, field: string, requireValue: boolean): ConceptLabel[] | undefined {
  const labels = (input as { data?: { concepts?: unknown } } | null)?.data?.concepts;
  if (labels === undefined) {
    return undefined;
  }
  if (!Array.isArray(labels)) {
    throw new InvalidInputError(
      'INVALID_CONCEPTS',
      `${field}.data.concepts must be an array, got ${JSON.stringify(labels)}. Send [{"id": "cat", "value": 1}].`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  const seenIds = new Set<string>();
  return labels.map((label: unknown, index) => {
    const labelField = `${field}.data.concepts[${index}]`;
    const { id: rawId, value } = (label ?? {}) as { id?: unknown; value?: unknown };
    const id = validateConceptId(rawId, `${labelField}.id`);
    if (seenIds.has(id)) {
      throw new InvalidInputError(
        'CONCEPT_DUPLICATE',
        `${labelField}.id ${JSON.stringify(id)} appears more than once in this input. Label each concept once.`,
        StatusCode.INPUT_INVALID_REQUEST,
      );
    }
    seenIds.add(id);
    if (value !== 0 && value !== 1 && (requireValue || value !== undefined)) {
      throw new InvalidInputError(
        'INVALID_CONCEPT_VALUE',
        `${labelField}.value ${JSON.stringify(value)} is not a label value. Use 1 for a positive example or 0 for a negative one.`,
        StatusCode.INPUT_INVALID_REQUEST,
      );
    }
    return { id, value: value === 0 ? 0 : 1 };
  });
}

/** Reads `data.geo.geo_point` of an input: longitude from -180 to 180, latitude from -90 to 90 degrees. */
function geoOf(input: unknown, field: string): GeoPoint | undefined {
  const geo = (input as { data?: { geo?: unknown } } | null)?.data?.geo;
  if (geo === undefined) {
    return undefined;
  }
  const point = (geo as { geo_point?: { longitude?: unknown; latitude?: unknown } } | null)?.geo_point;
  const example = 'Send {"geo_point": {"longitude": 13.4, "latitude": 52.5}}';
  if (typeof point !== 'object' || point === null) {
    throw new InvalidInputError(
      'INVALID_GEO_POINT',
      `${field}.data.geo.geo_point is missing (got ${JSON.stringify(geo)}). ${example}.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  const ranges = { longitude: 180, latitude: 90 } as const;
  for (const [name, limit] of Object.entries(ranges)) {
    const value = point[name as keyof typeof ranges];
    if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > limit) {
      throw new InvalidInputError(
        'INVALID_GEO_POINT',
        `${field}.data.geo.geo_point.${name} ${JSON.stringify(value)} is invalid. Use a number of degrees from -${limit} to ${limit}.`,
        StatusCode.INPUT_INVALID_REQUEST,
      );
    }
  }
  return { longitude: point.longitude as number, latitude: point.latitude as number };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function mergeObjects(target: Record<string, unknown>, source: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(source)) {
    const current = merged[key];
    merged[key] = isPlainObject(current) && isPlainObject(value) ? mergeObjects(current, value) : value;
  }
  return merged;
}

function removeKeys(target: Record<string, unknown>, keys: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(keys)) {
    const current = kept[key];
    if (isPlainObject(current) && isPlainObject(value) && Object.keys(value).length > 0) {
      kept[key] = removeKeys(current, value);
    } else {
      delete kept[key];
    }
  }
  return kept;
}
