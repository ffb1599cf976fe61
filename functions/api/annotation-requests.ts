/**
 * Parsing and validation of the `annotations` of `POST` and `PATCH /v2/annotations`, in
 * Clarifai's shape: `{"input_id", "id", "data": {"concepts": [...]}}` labels the whole image,
 * `{"input_id", "id", "data": {"regions": [{"region_info": {"bounding_box": {...}}, "data":
 * {"concepts": [...]}}]}}` labels one box. Every annotation of a request is checked before
 * any is stored, so a bad one rejects the request without leaving half of it behind.
 */
import type { BoundingBox } from '#commons/clarifai/types.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { validateConceptId } from '#commons/storage/concepts.ts';
import { validateId } from '#commons/storage/ids.ts';

/** Clarifai accepts from 1 to 128 annotations in one request. */
export const MAX_ANNOTATIONS_PER_REQUEST = 128;

export const PATCH_ACTIONS = ['merge', 'overwrite', 'remove'] as const;
export type PatchAction = (typeof PATCH_ACTIONS)[number];
/** The use of the parsed annotations: creating them, or one of the PATCH actions. */
export type AnnotationMode = 'create' | PatchAction;

/** A concept label as sent: `value` 1 for a positive example, 0 for a negative one. */
export interface ConceptLabel {
  id: string;
  value: 0 | 1;
}

export interface RegionRequest {
  /** The region's id: a model's region to label (create), or the annotation's own region (PATCH). */
  id?: string;
  boundingBox?: BoundingBox;
  labels?: ConceptLabel[];
}

export interface AnnotationRequest {
  /** The request field of this annotation, such as `annotations[2]`, for error messages. */
  field: string;
  inputId: string;
  id?: string;
  /** `data.concepts`: labels of the whole image. */
  labels?: ConceptLabel[];
  /** `data.regions[0]`: one labelled box. */
  region?: RegionRequest;
}

const CREATE_EXAMPLE =
  '{"annotations": [{"input_id": "...", "data": {"regions": [{"region_info": {"bounding_box": {"top_row": 0.1, "left_col": 0.2, "bottom_row": 0.8, "right_col": 0.9}}, "data": {"concepts": [{"id": "cat", "value": 1}]}}]}}]}';
const SIDES = ['top_row', 'left_col', 'bottom_row', 'right_col'] as const;

function invalid(code: string, message: string): InvalidInputError {
  return new InvalidInputError(code, message, StatusCode.INPUT_INVALID_REQUEST);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads the `action` of a PATCH body: `merge`, `overwrite` or `remove`. */
export function patchActionOf(body: unknown): PatchAction {
  const action = (body as { action?: unknown } | null)?.action;
  if (!PATCH_ACTIONS.includes(action as PatchAction)) {
    throw new InvalidInputError(
      'INVALID_ACTION',
      `action ${JSON.stringify(action)} is not supported for annotations. Use "merge", "overwrite" or "remove".`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  return action as PatchAction;
}

/**
 * Reads and checks `body.annotations` for `mode`. Creating needs `data` with concepts or one
 * region with concepts and a box (or the id of a model's region). A PATCH needs each
 * annotation's `id`. Throws a 400 naming the field and the value for anything else.
 */
export function parseAnnotations(body: unknown, mode: AnnotationMode): AnnotationRequest[] {
  const annotations = (body as { annotations?: unknown } | null)?.annotations;
  if (!Array.isArray(annotations) || annotations.length === 0) {
    throw invalid('ANNOTATIONS_MISSING', `The request has no annotations (got ${JSON.stringify(annotations)}). Send ${CREATE_EXAMPLE}.`);
  }
  if (annotations.length > MAX_ANNOTATIONS_PER_REQUEST) {
    throw new InvalidInputError(
      'TOO_MANY_ANNOTATIONS',
      `The request has ${annotations.length} annotations; at most ${MAX_ANNOTATIONS_PER_REQUEST} are accepted per request. Split it into several requests.`,
      StatusCode.INPUT_OVER_LIMIT,
    );
  }

  const seen = new Set<string>();
  return annotations.map((annotation: unknown, index) => {
    const parsed = parseAnnotation(annotation, `annotations[${index}]`, mode);
    if (parsed.id !== undefined) {
      const key = JSON.stringify([parsed.inputId, parsed.id]);
      if (seen.has(key)) {
        throw invalid(
          'ANNOTATION_DUPLICATE',
          `${parsed.field}.id ${JSON.stringify(parsed.id)} of input ${JSON.stringify(parsed.inputId)} appears more than once in the request. Send each annotation once.`,
        );
      }
      seen.add(key);
    }
    return parsed;
  });
}

function parseAnnotation(annotation: unknown, field: string, mode: AnnotationMode): AnnotationRequest {
  if (!isObject(annotation)) {
    throw invalid('INVALID_ANNOTATION', `${field} must be an object, got ${JSON.stringify(annotation)}. Send ${CREATE_EXAMPLE}.`);
  }
  const inputId = validateId(annotation.input_id, `${field}.input_id`);
  let id: string | undefined;
  if (annotation.id !== undefined || mode !== 'create') {
    id = validateId(annotation.id, `${field}.id`);
  }

  const data = annotation.data;
  const hasConcepts = isObject(data) && data.concepts !== undefined;
  const hasRegions = isObject(data) && data.regions !== undefined;
  if (!hasConcepts && !hasRegions) {
    throw invalid(
      'ANNOTATION_DATA_MISSING',
      `${field}.data has neither concepts nor regions (got ${JSON.stringify(data)}). Send data.concepts to label the whole image, or data.regions with one box.`,
    );
  }
  if (hasConcepts && hasRegions) {
    throw invalid(
      'INVALID_ANNOTATION_DATA',
      `${field}.data has both concepts and regions. An annotation labels either the whole image (data.concepts) or one box (data.regions[0].data.concepts); send them as two annotations.`,
    );
  }

  const requireValue = mode !== 'remove';
  if (hasConcepts) {
    const labels = conceptLabelsOf(data.concepts, `${field}.data.concepts`, requireValue);
    if (labels.length === 0) {
      throw invalid('ANNOTATION_DATA_MISSING', `${field}.data.concepts is empty, so there is nothing to ${mode === 'create' ? 'add' : mode}. Send at least one concept.`);
    }
    return { field, inputId, id, labels };
  }
  return { field, inputId, id, region: parseRegions(data.regions, `${field}.data.regions`, mode) };
}

function parseRegions(regions: unknown, field: string, mode: AnnotationMode): RegionRequest {
  if (!Array.isArray(regions) || regions.length === 0) {
    throw invalid('ANNOTATION_DATA_MISSING', `${field} must be an array of one region, got ${JSON.stringify(regions)}.`);
  }
  if (regions.length > 1) {
    throw invalid(
      'TOO_MANY_REGIONS',
      `${field} has ${regions.length} regions, but an annotation contains one region, as in Clarifai. Send one annotation per box.`,
    );
  }
  const region: unknown = regions[0];
  const regionField = `${field}[0]`;
  if (!isObject(region)) {
    throw invalid('INVALID_REGION', `${regionField} must be an object, got ${JSON.stringify(region)}.`);
  }

  const id = region.id === undefined ? undefined : validateId(region.id, `${regionField}.id`);
  const box = (region.region_info as { bounding_box?: unknown } | undefined)?.bounding_box;
  const boundingBox = box === undefined ? undefined : boundingBoxOf(box, `${regionField}.region_info.bounding_box`);
  const concepts = (region.data as { concepts?: unknown } | undefined)?.concepts;
  const labels = concepts === undefined ? undefined : conceptLabelsOf(concepts, `${regionField}.data.concepts`, mode !== 'remove');

  const needsLabels = mode === 'create' || mode === 'overwrite' || mode === 'remove';
  if (needsLabels && (labels === undefined || labels.length === 0)) {
    throw invalid(
      'REGION_CONCEPTS_MISSING',
      `${regionField}.data.concepts is missing or empty. Send the box's concepts, e.g. [{"id": "cat", "value": 1}].`,
    );
  }
  const needsBox = mode === 'overwrite' || (mode === 'create' && id === undefined);
  if (needsBox && boundingBox === undefined) {
    throw invalid(
      'INVALID_BOUNDING_BOX',
      `${regionField}.region_info.bounding_box is missing. Send {"top_row": 0.1, "left_col": 0.2, "bottom_row": 0.8, "right_col": 0.9}${mode === 'create' ? ", or the id of a model's region to label" : ''}.`,
    );
  }
  if (mode === 'merge' && boundingBox === undefined && labels === undefined) {
    throw invalid('ANNOTATION_DATA_MISSING', `${regionField} has neither region_info.bounding_box nor data.concepts, so there is nothing to merge.`);
  }
  return { id, boundingBox, labels };
}

/**
 * Reads a Clarifai bounding box: `top_row`, `left_col`, `bottom_row` and `right_col` as
 * fractions of the image height and width, from 0 to 1, with the top above the bottom and
 * the left side left of the right side.
 */
export function boundingBoxOf(value: unknown, field: string): BoundingBox {
  if (!isObject(value)) {
    throw invalid(
      'INVALID_BOUNDING_BOX',
      `${field} must be an object, got ${JSON.stringify(value)}. Send {"top_row": 0.1, "left_col": 0.2, "bottom_row": 0.8, "right_col": 0.9}.`,
    );
  }
  for (const side of SIDES) {
    const number = value[side];
    if (typeof number !== 'number' || !Number.isFinite(number) || number < 0 || number > 1) {
      throw invalid(
        'INVALID_BOUNDING_BOX',
        `${field}.${side} ${JSON.stringify(number)} is not a fraction from 0 to 1. top_row and bottom_row are fractions of the image height, left_col and right_col of its width.`,
      );
    }
  }
  const box = value as unknown as BoundingBox;
  if (box.top_row >= box.bottom_row) {
    throw invalid(
      'INVALID_BOUNDING_BOX',
      `${field}.top_row ${box.top_row} is not above bottom_row ${box.bottom_row}. top_row must be smaller than bottom_row, so that the box has a height.`,
    );
  }
  if (box.left_col >= box.right_col) {
    throw invalid(
      'INVALID_BOUNDING_BOX',
      `${field}.left_col ${box.left_col} is not left of right_col ${box.right_col}. left_col must be smaller than right_col, so that the box has a width.`,
    );
  }
  return { top_row: box.top_row, left_col: box.left_col, bottom_row: box.bottom_row, right_col: box.right_col };
}

/**
 * Reads an array of `{id, value}` concept labels with `value` 1 or 0. `requireValue` is
 * false for `remove`, which needs only the ids.
 */
export function conceptLabelsOf(labels: unknown, field: string, requireValue: boolean): ConceptLabel[] {
  if (!Array.isArray(labels)) {
    throw invalid('INVALID_CONCEPTS', `${field} must be an array, got ${JSON.stringify(labels)}. Send [{"id": "cat", "value": 1}].`);
  }
  const seenIds = new Set<string>();
  return labels.map((label: unknown, index) => {
    const labelField = `${field}[${index}]`;
    const { id: rawId, value } = (label ?? {}) as { id?: unknown; value?: unknown };
    const id = validateConceptId(rawId, `${labelField}.id`);
    if (seenIds.has(id)) {
      throw invalid('CONCEPT_DUPLICATE', `${labelField}.id ${JSON.stringify(id)} appears more than once in this annotation. Label each concept once.`);
    }
    seenIds.add(id);
    if (value !== 0 && value !== 1 && (requireValue || value !== undefined)) {
      throw invalid(
        'INVALID_CONCEPT_VALUE',
        `${labelField}.value ${JSON.stringify(value)} is not a label value. Use 1 for a positive example or 0 for a negative one.`,
      );
    }
    return { id, value: value === 0 ? 0 : 1 };
  });
}
