/**
 * Checks a workflow graph and works out how each node runs: in which order, on what data
 * and in which crop scope. Every rejection is an InvalidInputError whose message names the
 * node. `compiler.ts` turns the resulting plan into ASL.
 *
 * Crop scopes: a model (or an operator that takes `image` but not `crops`) fed by a node
 * that produces crops runs once per crop, in a Map state over those crops. Nodes fed only
 * by per-crop nodes run per crop as well, unless they aggregate crops. A node that joins
 * per-crop outputs with other outputs runs once per input and receives each per-crop
 * upstream merged into one output whose `data.regions` has one region per crop.
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import type { WorkflowDefinition, WorkflowNodeDefinition } from '#commons/workflows/definition.ts';
import type { ResolvedModel } from '#commons/workflows/model-types.ts';
import type { DataKind } from '#commons/workflows/node-data.ts';

/** The way a node receives one of its upstream outputs. */
export type EdgeMode =
  /** The upstream output as is, from the same scope or from the root scope. */
  | 'direct'
  /** The node runs once per crop of this upstream node. */
  | 'per-crop'
  /** The upstream ran per crop and this node once per input: its outputs arrive merged. */
  | 'merged';

export interface PlannedEdge {
  from: PlannedNode;
  mode: EdgeMode;
}

export interface PlannedNode {
  definition: WorkflowNodeDefinition;
  id: string;
  /** Key of the node's output in the execution state (`$.outputs.<key>`): `n` and its position. */
  key: string;
  model: ResolvedModel;
  upstream: PlannedEdge[];
  downstream: PlannedNode[];
  /** The kind of this node's output. */
  kind: DataKind;
  /** The node that produced the crops this node runs on, or undefined for once per input. */
  scope: PlannedNode | undefined;
}

export interface WorkflowPlan {
  id: string;
  /** Nodes in an order where every node comes after its upstream nodes. */
  nodes: PlannedNode[];
}

function invalid(code: string, message: string): InvalidInputError {
  return new InvalidInputError(code, message, StatusCode.INPUT_INVALID_REQUEST);
}

function describeNode(node: PlannedNode): string {
  return `node "${node.id}" (model ${node.model.id}, a ${node.model.model_type_id})`;
}

/**
 * Checks the graph of `definition` and plans it. `models` maps each model id that a node
 * names to the resolved model; the caller has already rejected unknown ids, but a missing
 * entry is reported here too.
 */
export function planWorkflow(definition: WorkflowDefinition, models: ReadonlyMap<string, ResolvedModel>): WorkflowPlan {
  const nodes = definition.nodes.map((node, index): PlannedNode => {
    const model = models.get(node.model.id);
    if (model === undefined) {
      throw invalid('MODEL_NOT_FOUND', `Node "${node.id}": model "${node.model.id}" does not exist. List the models with GET /v2/models.`);
    }
    const requestedVersion = node.model.model_version?.id;
    if (requestedVersion !== undefined && requestedVersion !== '' && requestedVersion !== model.version_id) {
      throw invalid(
        'MODEL_VERSION_NOT_FOUND',
        `Node "${node.id}": model ${model.id} has no version "${requestedVersion}"; its version is ${model.version_id}. Omit model_version to use it.`,
      );
    }
    return { definition: node, id: node.id, key: `n${index}`, model, upstream: [], downstream: [], kind: 'image', scope: undefined };
  });
  const byId = new Map(nodes.map((node) => [node.id, node]));

  for (const node of nodes) {
    for (const input of node.definition.node_inputs) {
      const from = byId.get(input.node_id);
      if (from === undefined) {
        throw invalid(
          'WORKFLOW_NODE_INPUT_NOT_FOUND',
          `Node "${node.id}": node_inputs names "${input.node_id}", which is not a node of this workflow.`,
        );
      }
      if (node.upstream.some((edge) => edge.from === from)) {
        throw invalid('INVALID_WORKFLOW', `Node "${node.id}": node_inputs lists "${from.id}" twice.`);
      }
      node.upstream.push({ from, mode: 'direct' });
      from.downstream.push(node);
    }
  }

  const ordered = topologicalOrder(nodes);
  for (const node of ordered) {
    resolveNode(node);
  }
  return { id: definition.id, nodes: ordered };
}

// Kahn's algorithm; whatever is left once no node is ready lies on or behind a cycle.
function topologicalOrder(nodes: readonly PlannedNode[]): PlannedNode[] {
  const pending = new Map(nodes.map((node) => [node, node.upstream.length]));
  const ready = nodes.filter((node) => node.upstream.length === 0);
  const ordered: PlannedNode[] = [];
  while (ready.length > 0) {
    const node = ready.shift() as PlannedNode;
    ordered.push(node);
    for (const next of node.downstream) {
      const left = (pending.get(next) ?? 0) - 1;
      pending.set(next, left);
      if (left === 0) {
        ready.push(next);
      }
    }
  }
  if (ordered.length < nodes.length) {
    const cycle = findCycle(nodes.filter((node) => !ordered.includes(node)));
    throw invalid(
      'WORKFLOW_CYCLE',
      `Node "${cycle[0]}": the workflow has a cycle (${cycle.join(' -> ')}). A workflow must be a graph without cycles.`,
    );
  }
  return ordered;
}

// Walks upstream from a node that is left over until a node repeats.
function findCycle(leftOver: readonly PlannedNode[]): string[] {
  const path: PlannedNode[] = [];
  let node = leftOver[0] as PlannedNode;
  while (!path.includes(node)) {
    path.push(node);
    node = (node.upstream.find((edge) => leftOver.includes(edge.from)) as PlannedEdge).from;
  }
  const cycle = path.slice(path.indexOf(node)).reverse();
  return [...cycle, cycle[0] as PlannedNode].map((member) => member.id);
}

function resolveNode(node: PlannedNode): void {
  const accepts = node.model.inputKinds;

  if (node.upstream.length === 0) {
    if (!accepts.includes('image')) {
      throw invalid(
        'WORKFLOW_TYPE_MISMATCH',
        `Node "${node.id}": a ${node.model.model_type_id} takes ${accepts.join(' or ')}, but a node without node_inputs gets the input image. Add node_inputs naming a node that produces ${accepts.join(' or ')}.`,
      );
    }
    node.scope = undefined;
    node.kind = outputKindOf(node, ['image']);
    return;
  }

  // A node fed crops that takes images runs once per crop of that node.
  const perCropSources = node.upstream.filter(
    (edge) => edge.from.kind === 'crops' && !accepts.includes('crops') && accepts.includes('image'),
  );
  for (const edge of perCropSources) {
    edge.mode = 'per-crop';
  }

  if (perCropSources.length > 0) {
    const source = (perCropSources[0] as PlannedEdge).from;
    if (perCropSources.some((edge) => edge.from !== source)) {
      throw invalid(
        'WORKFLOW_TYPE_MISMATCH',
        `Node "${node.id}": it would run once per crop of "${source.id}" and of "${(perCropSources[1] as PlannedEdge).from.id}" at the same time. Feed it the crops of one node.`,
      );
    }
    if (source.scope !== undefined) {
      throw invalid(
        'WORKFLOW_NESTED_CROPS',
        `Node "${node.id}": it would run once per crop of "${source.id}", which itself runs once per crop of "${source.scope.id}". Crops of crops are not supported; crop the input image instead.`,
      );
    }
    for (const edge of node.upstream) {
      if (edge.mode !== 'per-crop' && edge.from.scope !== undefined && edge.from.scope !== source) {
        throw invalid(
          'WORKFLOW_TYPE_MISMATCH',
          `Node "${node.id}": it runs once per crop of "${source.id}", but its input "${edge.from.id}" runs once per crop of "${edge.from.scope.id}".`,
        );
      }
    }
    node.scope = source;
  } else {
    const scopes = new Set(node.upstream.map((edge) => edge.from.scope));
    const [only] = scopes;
    if (scopes.size === 1 && only !== undefined && !node.model.aggregatesCrops) {
      node.scope = only;
    } else {
      node.scope = undefined;
      for (const edge of node.upstream) {
        if (edge.from.scope !== undefined) {
          edge.mode = 'merged';
        }
      }
    }
  }

  const kinds: DataKind[] = [];
  for (const edge of node.upstream) {
    if (edge.mode === 'per-crop') {
      kinds.push('image');
      continue;
    }
    // Merged per-crop outputs arrive as one region per crop.
    const kind: DataKind = edge.mode === 'merged' ? 'regions' : edge.from.kind;
    if (!accepts.includes(kind)) {
      throw invalid(
        'WORKFLOW_TYPE_MISMATCH',
        `Node "${node.id}": a ${node.model.model_type_id} takes ${accepts.join(' or ')}, but its input ${describeNode(edge.from)} produces ${kind}${edge.mode === 'merged' ? ' (its per-crop outputs, merged)' : ''}.`,
      );
    }
    kinds.push(kind);
  }
  node.kind = outputKindOf(node, kinds);
}

function outputKindOf(node: PlannedNode, inputKinds: readonly DataKind[]): DataKind {
  if (node.model.outputKind !== 'passthrough') {
    return node.model.outputKind;
  }
  const distinct = [...new Set(inputKinds)];
  if (distinct.length !== 1) {
    throw invalid(
      'WORKFLOW_TYPE_MISMATCH',
      `Node "${node.id}": a ${node.model.model_type_id} forwards what it is fed, but its inputs produce different kinds (${distinct.join(', ')}). Feed it nodes of one kind.`,
    );
  }
  return distinct[0] as DataKind;
}

/** Lists the nodes that run in `scope` (undefined: once per input), in plan order. */
export function nodesInScope(plan: WorkflowPlan, scope: PlannedNode | undefined): PlannedNode[] {
  return plan.nodes.filter((node) => node.scope === scope);
}
