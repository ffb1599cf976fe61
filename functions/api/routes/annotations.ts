/**
 * Annotation routes: add, list, change and delete the labels a user gives an input, as
 * Clarifai's annotations. Labels of the whole image go into the input-level annotation, which
 * is the input's `concepts`: the same labels as `data.concepts` of `POST /v2/inputs`. Each
 * labelled box is a region annotation of its own. Model annotations, written by workflows,
 * are listed alongside but cannot be changed here.
 */
import { randomUUID } from 'node:crypto';
import {
  type AnnotationRequest,
  type ConceptLabel,
  type PatchAction,
  parseAnnotations,
  patchActionOf,
} from '../annotation-requests.ts';
import type { BoundingBox } from '#commons/clarifai/types.ts';
import { toClarifaiAnnotation } from '#commons/clarifai/resources.ts';
import { InvalidInputError, NotFoundError, StatusCode } from '#commons/errors.ts';
import { type ApiRequest, parsePaging } from '#commons/http/api-event.ts';
import { okStatus } from '#commons/http/responses.ts';
import { logger } from '#commons/logger.ts';
import { type AnnotationRecord, listAnnotations } from '#commons/storage/annotations.ts';
import { type ConceptRecord, ensureConcepts } from '#commons/storage/concepts.ts';
import { validateId } from '#commons/storage/ids.ts';
import type { InputConcept } from '#commons/storage/inputs.ts';
import {
  type LabelledInputRecord,
  MAX_REGION_ANNOTATIONS,
  type RegionAnnotationRecord,
  type UserLabels,
  getLabelledInput,
  inputLevelAnnotationId,
  labelledInputPages,
  toClarifaiInputLevelAnnotation,
  toClarifaiRegionAnnotation,
  toClarifaiUserAnnotations,
  updateUserLabels,
} from '#commons/storage/user-annotations.ts';

/**
 * `POST /v2/annotations`: labels inputs. An annotation with `data.concepts` merges its labels
 * into the input-level annotation (a concept's new value replaces its old one) and returns
 * that annotation. An annotation with one region stores a new region annotation. A region
 * with an `id` and no box labels the model region of that id on the input.
 */
export async function createAnnotationsRoute(request: ApiRequest): Promise<unknown> {
  const requests = parseAnnotations(request.body, 'create');
  const inputs = await readInputs(request.appId, requests);
  const now = new Date().toISOString();
  const created = new Map<AnnotationRequest, RegionAnnotationRecord>();
  for (const annotation of requests) {
    if (annotation.region !== undefined) {
      created.set(annotation, {
        id: annotation.id ?? newId(),
        region_id: annotation.region.id ?? newId(),
        bounding_box: annotation.region.boundingBox ?? (await modelRegionBox(request.appId, annotation)),
        concepts: [],
        created_at: now,
        modified_at: now,
      });
    } else if (annotation.id !== undefined && annotation.id !== inputLevelAnnotationId(annotation.inputId)) {
      throw new InvalidInputError(
        'INVALID_ANNOTATION_ID',
        `${annotation.field}.id ${JSON.stringify(annotation.id)} cannot be given to an annotation of data.concepts: the labels of the whole image go into the input-level annotation ${inputLevelAnnotationId(annotation.inputId)} of input ${JSON.stringify(annotation.inputId)}. Leave the id out.`,
        StatusCode.INPUT_INVALID_REQUEST,
      );
    }
  }
  const concepts = await ensureConcepts(request.appId, labelIdsOf(requests));
  for (const [annotation, record] of created) {
    record.concepts = withNames(annotation.region?.labels ?? [], concepts);
  }

  const change = (input: LabelledInputRecord): UserLabels => {
    const group = requests.filter((annotation) => annotation.inputId === input.id);
    let labels = input.concepts ?? [];
    const regions = [...(input.region_annotations ?? [])];
    for (const annotation of group) {
      const record = created.get(annotation);
      if (record === undefined) {
        labels = mergeLabels(labels, withNames(annotation.labels ?? [], concepts));
        continue;
      }
      checkNewRegionId(input, regions, annotation, record.id);
      regions.push(record);
    }
    if (regions.length > MAX_REGION_ANNOTATIONS) {
      throw new InvalidInputError(
        'TOO_MANY_REGION_ANNOTATIONS',
        `Input ${JSON.stringify(input.id)} would have ${regions.length} region annotations, more than the limit of ${MAX_REGION_ANNOTATIONS} per input. Delete some with DELETE /v2/inputs/${input.id}/annotations/{annotation_id}.`,
        StatusCode.INPUT_OVER_LIMIT,
      );
    }
    return { concepts: labels.length === 0 ? undefined : labels, regionAnnotations: regions };
  };
  // Apply every change to the inputs as read first, so that an invalid annotation rejects the
  // request before any input is written.
  for (const input of inputs.values()) {
    change(input);
  }
  const stored = new Map<string, LabelledInputRecord>();
  for (const inputId of inputs.keys()) {
    stored.set(inputId, await updateUserLabels(request.appId, inputId, change));
  }

  const annotations = requests.map((annotation) => {
    const input = stored.get(annotation.inputId) as LabelledInputRecord;
    const record = created.get(annotation);
    return record === undefined ? toClarifaiInputLevelAnnotation(input) : toClarifaiRegionAnnotation(input, record);
  });
  logger.info('annotations added', {
    appId: request.appId,
    inputIds: [...inputs.keys()],
    annotationIds: annotations.map((annotation) => annotation.id),
  });
  return { status: okStatus(request.requestId), annotations };
}

/**
 * `GET /v2/annotations`: lists user annotations, input by input in id order (for each input
 * the input-level annotation, then its region annotations in creation order). Query
 * parameters: `input_ids` and `ids` (repeated or comma-separated) filter by input and by
 * annotation id, `list_all_annotations=true` adds the model annotations of each input, and
 * `page` and `per_page` page the result.
 */
export async function listAnnotationsRoute(request: ApiRequest): Promise<unknown> {
  const { page, perPage } = parsePaging(request.query);
  const inputIds = idListOf(request.query.input_ids, 'input_ids');
  const ids = idListOf(request.query.ids, 'ids');
  const includeModel = booleanOf(request.query.list_all_annotations, 'list_all_annotations');
  const pageEnd = page * perPage;

  const found: Array<Record<string, unknown>> = [];
  const collect = async (input: LabelledInputRecord): Promise<void> => {
    const annotations = await annotationsOfInput(input, includeModel);
    found.push(...annotations.filter((annotation) => ids === undefined || ids.includes(annotation.id as string)));
  };
  if (inputIds !== undefined) {
    const inputs: LabelledInputRecord[] = [];
    // Read every input first, so that an unknown id is a 404 whatever the page.
    for (const inputId of new Set(inputIds)) {
      inputs.push(await getLabelledInput(request.appId, inputId));
    }
    for (const input of inputs) {
      await collect(input);
    }
  } else {
    // NOTE: DynamoDB has no offset, so page N reads the inputs of the N-1 pages before it.
    for await (const inputs of labelledInputPages(request.appId)) {
      for (const input of inputs) {
        await collect(input);
      }
      if (found.length >= pageEnd) {
        break;
      }
    }
  }
  return { status: okStatus(request.requestId), annotations: found.slice((page - 1) * perPage, pageEnd) };
}

/** `GET /v2/inputs/{input_id}/annotations`: the input's user annotations, then the annotations its workflows wrote. */
export async function listInputAnnotationsRoute(request: ApiRequest): Promise<unknown> {
  const input = await getLabelledInput(request.appId, request.pathParameters.input_id ?? '');
  return { status: okStatus(request.requestId), annotations: await annotationsOfInput(input, true) };
}

/**
 * `PATCH /v2/annotations`: changes user annotations, named by `input_id` and `id`.
 * - The input-level annotation takes `data.concepts`: `merge` sets the given labels, `overwrite`
 *   replaces all labels, `remove` drops the given concept ids (as `PATCH /v2/inputs` does).
 * - A region annotation takes `data.regions[0]`: `merge` replaces the box when one is given and
 *   sets the given labels, `overwrite` replaces the box and all labels, `remove` drops the given
 *   concept ids. The region keeps its id.
 */
export async function patchAnnotationsRoute(request: ApiRequest): Promise<unknown> {
  const action = patchActionOf(request.body);
  const requests = parseAnnotations(request.body, action);
  const inputs = await readInputs(request.appId, requests);
  for (const annotation of requests) {
    await checkPatchTarget(request.appId, inputs.get(annotation.inputId) as LabelledInputRecord, annotation);
  }
  const concepts = action === 'remove' ? new Map<string, ConceptRecord>() : await ensureConcepts(request.appId, labelIdsOf(requests));

  const now = new Date().toISOString();
  const change = (input: LabelledInputRecord): UserLabels => {
    let labels = input.concepts ?? [];
    const regions = [...(input.region_annotations ?? [])];
    for (const annotation of requests.filter((candidate) => candidate.inputId === input.id)) {
      if (annotation.region === undefined) {
        labels = patchLabels(labels, annotation.labels ?? [], action, concepts);
        continue;
      }
      const index = regions.findIndex((region) => region.id === annotation.id);
      const region = regions[index];
      if (region === undefined) {
        throw annotationNotFound(annotation);
      }
      regions[index] = {
        ...region,
        bounding_box: annotation.region.boundingBox ?? region.bounding_box,
        concepts: patchLabels(region.concepts, annotation.region.labels ?? [], action, concepts),
        modified_at: now,
      };
    }
    return { concepts: labels.length === 0 ? undefined : labels, regionAnnotations: regions };
  };
  const stored = new Map<string, LabelledInputRecord>();
  for (const inputId of inputs.keys()) {
    stored.set(inputId, await updateUserLabels(request.appId, inputId, change));
  }

  const annotations = requests.map((annotation) => {
    const input = stored.get(annotation.inputId) as LabelledInputRecord;
    const region = (input.region_annotations ?? []).find((candidate) => candidate.id === annotation.id);
    return region === undefined ? toClarifaiInputLevelAnnotation(input) : toClarifaiRegionAnnotation(input, region);
  });
  logger.info('annotations patched', { appId: request.appId, action, annotationIds: annotations.map((annotation) => annotation.id) });
  return { status: okStatus(request.requestId), annotations };
}

/**
 * `DELETE /v2/inputs/{input_id}/annotations/{annotation_id}`: deletes a region annotation.
 * The input-level annotation lives as long as its input (PATCH removes its concepts), and
 * model annotations are replaced when a workflow runs again, so both are rejected with a 400.
 */
export async function deleteAnnotationRoute(request: ApiRequest): Promise<unknown> {
  const inputId = request.pathParameters.input_id ?? '';
  const annotationId = request.pathParameters.annotation_id ?? '';
  const input = await getLabelledInput(request.appId, inputId);
  const target: AnnotationRequest = { field: 'annotation_id', inputId, id: annotationId };
  if ((await findUserAnnotation(request.appId, input, target)) === 'input-level') {
    throw new InvalidInputError(
      'INPUT_LEVEL_ANNOTATION_NOT_DELETABLE',
      `Annotation ${JSON.stringify(annotationId)} is the input-level annotation of input ${JSON.stringify(inputId)}, which holds the labels of the whole image and is deleted with the input. Remove its concepts with PATCH /v2/annotations and action "remove".`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }

  await updateUserLabels(request.appId, inputId, (current) => {
    const regions = current.region_annotations ?? [];
    if (!regions.some((region) => region.id === annotationId)) {
      throw annotationNotFound(target);
    }
    return { concepts: current.concepts, regionAnnotations: regions.filter((region) => region.id !== annotationId) };
  });
  logger.info('annotation deleted', { appId: request.appId, inputId, annotationId });
  return { status: okStatus(request.requestId) };
}

/** Reads each input of the request once. Throws `INPUT_NOT_FOUND` for the first unknown one. */
async function readInputs(appId: string, requests: readonly AnnotationRequest[]): Promise<Map<string, LabelledInputRecord>> {
  const inputs = new Map<string, LabelledInputRecord>();
  for (const { inputId } of requests) {
    if (!inputs.has(inputId)) {
      inputs.set(inputId, await getLabelledInput(appId, inputId));
    }
  }
  return inputs;
}

async function annotationsOfInput(input: LabelledInputRecord, includeModel: boolean): Promise<Array<Record<string, unknown>>> {
  const user = toClarifaiUserAnnotations(input);
  if (!includeModel) {
    return user;
  }
  const model = await listAnnotations(input.app_id, input.id);
  return [...user, ...model.map(toClarifaiAnnotation)];
}

/**
 * Returns the user annotation of `input` that `annotation.id` names: `input-level`, or the
 * region annotation. Throws `MODEL_ANNOTATION_READ_ONLY` for a model's annotation and
 * `ANNOTATION_NOT_FOUND` for an unknown id.
 */
async function findUserAnnotation(
  appId: string,
  input: LabelledInputRecord,
  annotation: AnnotationRequest,
): Promise<'input-level' | RegionAnnotationRecord> {
  if (annotation.id === inputLevelAnnotationId(input.id)) {
    return 'input-level';
  }
  const region = (input.region_annotations ?? []).find((candidate) => candidate.id === annotation.id);
  if (region !== undefined) {
    return region;
  }
  const model = (await listAnnotations(appId, input.id)).find((candidate) => candidate.id === annotation.id);
  if (model !== undefined) {
    throw new InvalidInputError(
      'MODEL_ANNOTATION_READ_ONLY',
      `Annotation ${JSON.stringify(annotation.id)} of input ${JSON.stringify(input.id)} was written by model ${JSON.stringify(model.worker.model.id)}, and only user annotations can be changed or deleted. Label the input with POST /v2/annotations instead.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  throw annotationNotFound(annotation);
}

/**
 * Checks that a PATCH entry names a user annotation that can take its data: the input-level
 * annotation takes `data.concepts`, a region annotation takes `data.regions` with its own
 * region id or none.
 */
async function checkPatchTarget(appId: string, input: LabelledInputRecord, annotation: AnnotationRequest): Promise<void> {
  const target = await findUserAnnotation(appId, input, annotation);
  const name = `${annotation.field}: annotation ${JSON.stringify(annotation.id)} of input ${JSON.stringify(input.id)}`;
  if (target === 'input-level') {
    if (annotation.region !== undefined) {
      throw new InvalidInputError(
        'INVALID_ANNOTATION_DATA',
        `${name} is the input-level annotation, which labels the whole image. Send data.concepts instead of data.regions, or add a box with POST /v2/annotations.`,
        StatusCode.INPUT_INVALID_REQUEST,
      );
    }
    return;
  }
  if (annotation.region === undefined) {
    throw new InvalidInputError(
      'INVALID_ANNOTATION_DATA',
      `${name} is a region annotation. Send its labels in data.regions[0].data.concepts, or label the whole image in the input-level annotation ${inputLevelAnnotationId(input.id)}.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  const regionId = annotation.region.id;
  if (regionId !== undefined && regionId !== target.region_id) {
    throw new InvalidInputError(
      'INVALID_REGION',
      `${annotation.field}.data.regions[0].id ${JSON.stringify(regionId)} is not the region of annotation ${JSON.stringify(annotation.id)}, which is ${JSON.stringify(target.region_id)}. Leave the region id out or send ${JSON.stringify(target.region_id)}.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
}

function annotationNotFound(annotation: AnnotationRequest): NotFoundError {
  return new NotFoundError(
    'ANNOTATION_NOT_FOUND',
    `Annotation ${JSON.stringify(annotation.id)} was not found on input ${JSON.stringify(annotation.inputId)}. List the input's annotations with GET /v2/annotations?input_ids=${annotation.inputId}.`,
    StatusCode.FAILURE,
  );
}

/** Returns the box of the model region that `annotation` names by id, or throws `REGION_NOT_FOUND`. */
async function modelRegionBox(appId: string, annotation: AnnotationRequest): Promise<BoundingBox> {
  const regionId = annotation.region?.id;
  const annotations: AnnotationRecord[] = await listAnnotations(appId, annotation.inputId);
  const region = annotations.flatMap((candidate) => candidate.data.regions ?? []).find((candidate) => candidate.id === regionId);
  if (region === undefined) {
    throw new NotFoundError(
      'REGION_NOT_FOUND',
      `${annotation.field}.data.regions[0].id ${JSON.stringify(regionId)} is not a region that a model found on input ${JSON.stringify(annotation.inputId)}. List its regions with GET /v2/inputs/${annotation.inputId}/annotations, or send region_info.bounding_box.`,
      StatusCode.FAILURE,
    );
  }
  return region.region_info.bounding_box;
}

/** Throws `ANNOTATION_DUPLICATE` when a new region annotation's id is taken on the input. */
function checkNewRegionId(input: LabelledInputRecord, regions: readonly RegionAnnotationRecord[], annotation: AnnotationRequest, id: string): void {
  if (id === inputLevelAnnotationId(input.id) || regions.some((region) => region.id === id)) {
    throw new InvalidInputError(
      'ANNOTATION_DUPLICATE',
      `${annotation.field}.id ${JSON.stringify(id)} is already an annotation of input ${JSON.stringify(input.id)}. Change it with PATCH /v2/annotations, or choose another id.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
}

function newId(): string {
  return randomUUID().replaceAll('-', '');
}

function labelIdsOf(requests: readonly AnnotationRequest[]): string[] {
  return requests.flatMap((annotation) => [...(annotation.labels ?? []), ...(annotation.region?.labels ?? [])].map((label) => label.id));
}

function withNames(labels: readonly ConceptLabel[], concepts: ReadonlyMap<string, ConceptRecord>): InputConcept[] {
  return labels.map((label) => ({ id: label.id, name: concepts.get(label.id)?.name ?? label.id, value: label.value }));
}

/** Returns `labels` with each of `changes` added or, for a concept it has, its value replaced. */
function mergeLabels(labels: readonly InputConcept[], changes: readonly InputConcept[]): InputConcept[] {
  const merged = new Map(labels.map((label) => [label.id, label]));
  for (const label of changes) {
    merged.set(label.id, label);
  }
  return [...merged.values()];
}

function patchLabels(
  labels: readonly InputConcept[],
  changes: readonly ConceptLabel[],
  action: PatchAction,
  concepts: ReadonlyMap<string, ConceptRecord>,
): InputConcept[] {
  switch (action) {
    case 'merge':
      return mergeLabels(labels, withNames(changes, concepts));
    case 'overwrite':
      return withNames(changes, concepts);
    case 'remove': {
      const removed = new Set(changes.map((label) => label.id));
      return labels.filter((label) => !removed.has(label.id));
    }
  }
}

/** Reads a list query parameter of ids: repeated (`a=1&a=2`, which API Gateway joins with commas) or comma-separated. */
function idListOf(value: string | undefined, name: string): string[] | undefined {
  if (value === undefined || value === '') {
    return undefined;
  }
  return value.split(',').map((id) => validateId(id, `Query parameter ${name} entry`));
}

function booleanOf(value: string | undefined, name: string): boolean {
  if (value === undefined || value === '' || value === 'false') {
    return false;
  }
  if (value === 'true') {
    return true;
  }
  throw new InvalidInputError(
    'INVALID_QUERY_PARAMETER',
    `Query parameter ${name}=${JSON.stringify(value)} is invalid. Use true or false.`,
    StatusCode.BAD_REQUEST_FORMAT,
  );
}
