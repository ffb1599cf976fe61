/**
 * Concept conditions shared by the router and the input filter: a list of concepts with a
 * threshold each, checked against every concept the upstream nodes found.
 */
import type { Concept } from '#commons/clarifai/types.ts';
import type { ConceptParam, ParamReader } from './params.ts';
import { DEFAULT_THRESHOLD_TYPE, THRESHOLD_TYPES, type ThresholdType, passes } from './thresholds.ts';

export interface ConceptConditions {
  type: ThresholdType;
  concepts: ConceptParam[];
}

/** Reads `output_info.data.concepts` (with thresholds) and `concept_threshold_type`. */
export function readConceptConditions(params: ParamReader): ConceptConditions {
  const type = params.enumValue('concept_threshold_type', DEFAULT_THRESHOLD_TYPE, THRESHOLD_TYPES, {
    0: DEFAULT_THRESHOLD_TYPE,
  });
  return { type, concepts: params.conceptList({ use: 'required', meaning: 'the threshold of this concept' }) };
}

/**
 * Tells whether the condition on `concept` holds for the concepts found upstream. A concept
 * that no upstream node returned fails every comparison.
 */
export function conditionHolds(concept: ConceptParam, found: ReadonlyMap<string, Concept>, type: ThresholdType): boolean {
  const seen = found.get(concept.id);
  return seen !== undefined && passes(seen.value, concept.value, type);
}
