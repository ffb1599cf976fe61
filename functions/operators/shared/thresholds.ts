/**
 * Per-concept thresholds, as Clarifai's concept and region thresholders define them: a
 * threshold for each concept in `output_info.data.concepts` and one comparison for all of
 * them in `model_metadata.concept_threshold_type`.
 */
import type { Concept } from '#commons/clarifai/types.ts';
import type { ParamReader } from './params.ts';

/** Clarifai's `ValueComparator` enum, with its protobuf numbers (clarifai-grpc resources.proto). */
export const THRESHOLD_TYPES = {
  GREATER_THAN: 1,
  GREATER_THAN_OR_EQUAL: 2,
  LESS_THAN: 3,
  LESS_THAN_OR_EQUAL: 4,
  EQUAL: 5,
} as const;

export type ThresholdType = keyof typeof THRESHOLD_TYPES;

/** Clarifai's `CONCEPT_THRESHOLD_NOT_SET`, which a client sends for an unset enum. */
const NOT_SET = 0;

// NOTE: Clarifai's documentation does not say which comparison an unset type means;
// Percept uses GREATER_THAN, the comparison of Clarifai's own thresholder examples.
export const DEFAULT_THRESHOLD_TYPE: ThresholdType = 'GREATER_THAN';

export interface ConceptThresholds {
  type: ThresholdType;
  /** Threshold by concept id. A concept with no threshold never passes. */
  byConceptId: Readonly<Record<string, number>>;
}

/** Tells whether `value` passes `threshold` under the comparison `type`. */
export function passes(value: number, threshold: number, type: ThresholdType): boolean {
  switch (type) {
    case 'GREATER_THAN':
      return value > threshold;
    case 'GREATER_THAN_OR_EQUAL':
      return value >= threshold;
    case 'LESS_THAN':
      return value < threshold;
    case 'LESS_THAN_OR_EQUAL':
      return value <= threshold;
    case 'EQUAL':
      return value === threshold;
  }
}

/** Reads `concept_threshold_type` and the per-concept thresholds; at least one is required. */
export function readConceptThresholds(params: ParamReader): ConceptThresholds {
  const type = params.enumValue('concept_threshold_type', DEFAULT_THRESHOLD_TYPE, THRESHOLD_TYPES, {
    [NOT_SET]: DEFAULT_THRESHOLD_TYPE,
  });
  const concepts = params.conceptList({ use: 'required', meaning: 'the threshold of this concept' });
  if (concepts.length === 0) {
    throw params.conceptsError(
      'Add the concepts to keep to output_info.data.concepts, each with its threshold as value, e.g. [{"id": "text", "value": 0.9}].',
    );
  }
  return { type, byConceptId: Object.fromEntries(concepts.map((concept) => [concept.id, concept.value])) };
}

/** Keeps the concepts that have a threshold and pass it, in their original order. */
export function filterConcepts(concepts: readonly Concept[], thresholds: ConceptThresholds): Concept[] {
  return concepts.filter((concept) => {
    const threshold = Object.hasOwn(thresholds.byConceptId, concept.id) ? thresholds.byConceptId[concept.id] : undefined;
    return threshold !== undefined && passes(concept.value, threshold, thresholds.type);
  });
}
