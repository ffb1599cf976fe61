/**
 * Object counter: counts the upstream regions that contain one of the model's concepts
 * (every region when it lists none) and reports the count in `metadata.object_count`, as
 * Clarifai's object counter does. With `count_per_concept` it also reports
 * `metadata.concept_counts`, the number of regions holding each concept.
 */
import type { Region } from '#commons/clarifai/types.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { type ConceptParam, ParamReader } from '../shared/params.ts';
import { forwardedFields, ranUpstream } from '../shared/upstream.ts';

export interface ObjectCounterParams {
  /** Concepts to count, each with the lowest value that counts; empty counts every region. */
  concepts: ConceptParam[];
  countPerConcept: boolean;
}

/** Returns the ids of the counted concepts that `region` holds. */
function countedConcepts(region: Region, params: ObjectCounterParams): string[] {
  if (params.concepts.length === 0) {
    return [...new Set(region.data.concepts.map((concept) => concept.id))];
  }
  return params.concepts
    .filter((wanted) => region.data.concepts.some((concept) => concept.id === wanted.id && concept.value >= wanted.value))
    .map((wanted) => wanted.id);
}

export const objectCounter: Operator<ObjectCounterParams> = {
  typeId: 'object-counter',
  description: "Counts the regions holding the model's concepts into metadata.object_count, optionally per concept.",
  inputKinds: ['regions'],
  outputKind: 'passthrough',

  validateParams(raw) {
    const params = new ParamReader('object-counter', raw);
    // Without a value, every region holding the concept counts.
    const concepts = params.conceptList({ use: 'optional', meaning: 'the lowest concept value that counts' });
    const countPerConcept = params.boolean('count_per_concept', false, 'true also reports the count of each concept');
    params.rejectUnknownKeys();
    return { concepts, countPerConcept };
  },

  async run(event, params) {
    let objectCount = 0;
    const conceptCounts: Record<string, number> = Object.fromEntries(params.concepts.map((concept) => [concept.id, 0]));
    for (const region of ranUpstream(event).flatMap((output) => output.data.regions ?? [])) {
      const counted = countedConcepts(region, params);
      if (counted.length > 0) {
        objectCount += 1;
      }
      for (const id of counted) {
        conceptCounts[id] = (conceptCounts[id] ?? 0) + 1;
      }
    }

    const metadata = params.countPerConcept ? { object_count: objectCount, concept_counts: conceptCounts } : { object_count: objectCount };
    return outputOf(event, { ...forwardedFields(event), metadata });
  },
};
