/**
 * Concept thresholder: keeps the upstream concepts whose value passes the threshold set for
 * that concept, under one comparison for all of them. Concepts with no threshold are dropped.
 */
import type { Operator } from '#commons/workflows/operator.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import { ParamReader } from '../shared/params.ts';
import { type ConceptThresholds, filterConcepts, readConceptThresholds } from '../shared/thresholds.ts';
import { ranUpstream } from '../shared/upstream.ts';

export const conceptThresholder: Operator<ConceptThresholds> = {
  typeId: 'concept-thresholder',
  description: 'Keeps the concepts whose value passes the threshold set for each concept (>, >=, =, <= or <).',
  inputKinds: ['concepts'],
  outputKind: 'concepts',

  validateParams(raw) {
    const params = new ParamReader('concept-thresholder', raw);
    const thresholds = readConceptThresholds(params);
    params.rejectUnknownKeys();
    return thresholds;
  },

  async run(event, thresholds) {
    const concepts = ranUpstream(event).flatMap((output) => output.data.concepts ?? []);
    return outputOf(event, { data: { concepts: filterConcepts(concepts, thresholds) } });
  },
};
