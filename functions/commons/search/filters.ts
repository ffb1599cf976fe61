/**
 * Evaluates search filters on an input and its annotations.
 */
import type { Status } from '#commons/clarifai/types.ts';
import { isInArea } from '#commons/search/geo.ts';
import type { FilterCondition, SearchConcept, SearchFilter } from '#commons/search/query-types.ts';
import type { InputConcept, InputRecord } from '#commons/storage/inputs.ts';

/** The parts of an annotation that filters read. */
export interface FilterableAnnotation {
  data: object & { metadata?: Record<string, unknown> };
  status: Status;
}

/** An input with its annotations, which only `annotation` conditions need. */
export interface FilterSubject {
  input: InputRecord;
  annotations?: readonly FilterableAnnotation[];
}

/** Returns whether any filter has a condition on annotations, so that the caller reads them. */
export function filtersNeedAnnotations(filters: readonly SearchFilter[]): boolean {
  return filters.some((filter) => filter.conditions.some((condition) => condition.kind === 'annotation'));
}

/** Returns whether every filter keeps the subject. */
export function passesFilters(filters: readonly SearchFilter[], subject: FilterSubject): boolean {
  return filters.every((filter) => {
    const matches = filter.conditions.every((condition) => matchesCondition(condition, subject));
    return filter.negate ? !matches : matches;
  });
}

function matchesCondition(condition: FilterCondition, { input, annotations }: FilterSubject): boolean {
  switch (condition.kind) {
    case 'labels':
      return condition.anyOf.some((concept) => (input.concepts ?? []).some((label) => isLabelled(label, concept)));
    case 'input-metadata':
      return containsJson(input.metadata ?? {}, condition.metadata);
    case 'input-status':
      return input.status.code === condition.code;
    case 'input-id':
      return input.id === condition.inputId;
    case 'geo':
      return input.geo !== undefined && isInArea(input.geo.geo_point, condition.area);
    case 'annotation':
      return [inputLevelAnnotation(input), ...(annotations ?? [])].some(
        (annotation) =>
          (condition.statusCode === undefined || annotation.status.code === condition.statusCode) &&
          (condition.metadata === undefined || containsJson(annotation.data.metadata ?? {}, condition.metadata)),
      );
  }
}

/** Returns whether the label is the concept (by id, or by name when the concept has no id) with the concept's value. */
function isLabelled(label: InputConcept, concept: SearchConcept): boolean {
  const sameConcept = concept.id !== undefined ? label.id === concept.id : label.name === concept.name;
  return sameConcept && label.value === concept.value;
}

/** Clarifai's annotation success status, which the input-level annotation has. */
export const ANNOTATION_SUCCESS = 24150;

/**
 * Returns the input's own annotation for filters: its metadata, with the status of a
 * successful annotation. Clarifai keeps an input's labels, metadata and geo point on such an
 * input-level annotation, while Percept stores them on the input.
 */
export function inputLevelAnnotation(input: InputRecord): FilterableAnnotation {
  return { data: { metadata: input.metadata ?? {} }, status: { code: ANNOTATION_SUCCESS, description: 'Annotation success' } };
}

/**
 * Returns whether `target` contains `pattern`, as PostgreSQL's jsonb `@>` defines it. An
 * object contains another when it has each of its keys with a containing value. An array
 * contains another when each element of the other is contained by one of its elements.
 * Other values must be equal. So `{"sizes": ["S", "M"], "shop": {"id": 1, "open": true}}`
 * contains `{"sizes": ["M"]}` and `{"shop": {"id": 1}}`.
 */
export function containsJson(target: unknown, pattern: unknown): boolean {
  if (Array.isArray(pattern)) {
    return Array.isArray(target) && pattern.every((element) => target.some((candidate) => containsJson(candidate, element)));
  }
  if (typeof pattern === 'object' && pattern !== null) {
    if (typeof target !== 'object' || target === null || Array.isArray(target)) {
      return false;
    }
    const object = target as Record<string, unknown>;
    return Object.entries(pattern).every(([key, value]) => Object.hasOwn(object, key) && containsJson(object[key], value));
  }
  return target === pattern;
}
