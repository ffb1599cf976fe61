/**
 * Region thresholder: applies per-concept thresholds to the concepts of each upstream region
 * and drops the regions that have no concept left.
 */
import type { Region } from '#commons/clarifai/types.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { ParamReader } from '../shared/params.ts';
import { type ConceptThresholds, filterConcepts, readConceptThresholds } from '../shared/thresholds.ts';
import { ranUpstream } from '../shared/upstream.ts';

export const regionThresholder: Operator<ConceptThresholds> = {
  typeId: 'region-thresholder',
  description:
    'Keeps the concepts of each region that pass the threshold set for each concept, and drops the regions left with none.',
  inputKinds: ['regions'],
  outputKind: 'regions',

  validateParams(raw) {
    const params = new ParamReader('region-thresholder', raw);
    const thresholds = readConceptThresholds(params);
    params.rejectUnknownKeys();
    return thresholds;
  },

  async run(event, thresholds) {
    const regions: Region[] = [];
    for (const region of ranUpstream(event).flatMap((output) => output.data.regions ?? [])) {
      const concepts = filterConcepts(region.data.concepts, thresholds);
      if (concepts.length > 0) {
        regions.push({ ...region, data: { ...region.data, concepts } });
      }
    }
    return outputOf(event, { data: { regions } });
  },
};
