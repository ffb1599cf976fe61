/**
 * Router: picks which downstream branches run on an input from the concepts found upstream.
 * Concept i of `output_info.data.concepts` guards the i-th downstream node, in the order the
 * workflow lists them, and that node runs when the concept passes its threshold. An extra
 * last downstream node is the default branch, which runs when no concept passes.
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { outputOf } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';
import { type ConceptConditions, conditionHolds, readConceptConditions } from '../shared/conditions.ts';
import { ParamReader } from '../shared/params.ts';
import { collectConcepts, forwardedFields, ranUpstream } from '../shared/upstream.ts';

export const ROUTE_MODES = ['FIRST_MATCH', 'ALL_MATCHES'] as const;

export interface RouterParams extends ConceptConditions {
  /** FIRST_MATCH runs only the first branch whose concept passes, and ALL_MATCHES runs each passing one. */
  mode: (typeof ROUTE_MODES)[number];
}

export const router: Operator<RouterParams> = {
  typeId: 'router',
  description:
    'Runs the downstream branch of each concept that passes its threshold (the first one only, or all), or the default branch when none does.',
  inputKinds: ['concepts', 'regions'],
  outputKind: 'passthrough',

  validateParams(raw) {
    const params = new ParamReader('router', raw);
    const conditions = readConceptConditions(params);
    if (conditions.concepts.length === 0) {
      throw params.conceptsError(
        'List one concept per branch, each with its threshold as value, e.g. [{"id": "rotation-180", "value": 0.5}].',
      );
    }
    const mode = params.choice('route_mode', 'FIRST_MATCH', ROUTE_MODES, 'whether one or every passing branch runs');
    params.rejectUnknownKeys();
    return { ...conditions, mode };
  },

  async run(event, params) {
    const branches = event.node.downstream;
    const conceptCount = params.concepts.length;
    if (branches.length !== conceptCount && branches.length !== conceptCount + 1) {
      throw new InvalidInputError(
        'ROUTER_BRANCH_MISMATCH',
        `Router node ${event.node.id} has ${conceptCount} concepts (${params.concepts.map((concept) => concept.id).join(', ')}) ` +
          `but ${branches.length} downstream nodes (${branches.join(', ') || 'none'}). Give it one downstream node per concept, ` +
          'in the same order, plus optionally one last node for inputs that match no concept.',
        StatusCode.MODEL_INVALID_ARGUMENT,
      );
    }

    const found = collectConcepts(ranUpstream(event));
    const matched = params.concepts.filter((concept) => conditionHolds(concept, found, params.type));
    const chosen = params.mode === 'FIRST_MATCH' ? matched.slice(0, 1) : matched;
    const defaultBranch = branches[conceptCount];
    const routes = chosen.map((concept) => branches[concept.index]).filter((node) => node !== undefined);
    if (chosen.length === 0 && defaultBranch !== undefined) {
      routes.push(defaultBranch);
    }

    return outputOf(event, {
      ...forwardedFields(event),
      routes,
      metadata: { matched_concepts: matched.map((concept) => concept.id) },
    });
  },
};
