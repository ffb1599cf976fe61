/**
 * Input filter: lets an input through only when it matches the filter's conditions, on the
 * concepts the upstream nodes found and on the input's own metadata, and drops it otherwise.
 */
import { isDeepStrictEqual } from 'node:util';
import { outputOf } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { type ConceptConditions, conditionHolds, readConceptConditions } from '../shared/conditions.ts';
import { ParamReader } from '../shared/params.ts';
import { collectConcepts, forwardedFields, ranUpstream } from '../shared/upstream.ts';

export const CONCEPT_MATCHES = ['ANY', 'ALL'] as const;

export interface InputFilterParams extends ConceptConditions {
  /** ANY: one listed concept passing is enough; ALL: every listed concept must pass. */
  conceptMatch: (typeof CONCEPT_MATCHES)[number];
  /** Keys that the input's metadata must hold, each with exactly this value. */
  inputMetadata: Record<string, unknown>;
  /** Drops the matching inputs and keeps the others. */
  invert: boolean;
}

/** Tells whether the input of `event` matches every condition of the filter. */
function matches(event: Parameters<Operator['run']>[0], params: InputFilterParams): boolean {
  if (params.concepts.length > 0) {
    const found = collectConcepts(ranUpstream(event));
    const results = params.concepts.map((concept) => conditionHolds(concept, found, params.type));
    const conceptsMatch = params.conceptMatch === 'ANY' ? results.some(Boolean) : results.every(Boolean);
    if (!conceptsMatch) {
      return false;
    }
  }
  const metadata = event.input.metadata ?? {};
  return Object.entries(params.inputMetadata).every(([key, expected]) => isDeepStrictEqual(metadata[key], expected));
}

export const inputFilter: Operator<InputFilterParams> = {
  typeId: 'input-filter',
  description:
    'Lets the input through when the upstream concepts pass their thresholds and its metadata holds the given values; drops it otherwise.',
  inputKinds: ['image', 'concepts', 'regions', 'crops', 'embeddings'],
  outputKind: 'passthrough',

  validateParams(raw) {
    const params = new ParamReader('input-filter', raw);
    const conditions = readConceptConditions(params);
    const conceptMatch = params.choice('concept_match', 'ANY', CONCEPT_MATCHES, 'whether one or every listed concept must pass');
    const inputMetadata = params.object('input_metadata', 'the metadata keys and values the input must have') ?? {};
    const invert = params.boolean('invert', false, 'true drops the inputs that match and keeps the others');
    if (conditions.concepts.length === 0 && Object.keys(inputMetadata).length === 0) {
      throw params.conceptsError(
        'Give the filter a condition: concepts with thresholds here, or metadata values in output_info.output_config.model_metadata.input_metadata.',
      );
    }
    params.rejectUnknownKeys();
    return { ...conditions, conceptMatch, inputMetadata, invert };
  },

  async run(event, params) {
    const passes = matches(event, params) !== params.invert;
    return passes ? outputOf(event, forwardedFields(event)) : outputOf(event, { dropped: true });
  },
};
