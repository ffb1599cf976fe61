/**
 * Workflow definitions in Clarifai's shape: a list of nodes, each naming a model and the
 * nodes whose outputs it takes (`node_inputs`). Nodes without `node_inputs` take the input
 * image. The graph may branch and join; `compiler.ts` checks it and turns it into ASL.
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';

export interface WorkflowNodeDefinition {
  id: string;
  model: { id: string; model_version?: { id: string } };
  node_inputs: Array<{ node_id: string }>;
  /** Leaves the node's output out of the results and annotations; it still feeds other nodes. */
  suppress_output: boolean;
}

export interface WorkflowDefinition {
  id: string;
  description?: string;
  nodes: WorkflowNodeDefinition[];
}

/** Maximum nodes per workflow; it keeps the compiled ASL far below Step Functions' 1 MB definition limit. */
export const MAX_WORKFLOW_NODES = 32;

// Workflow and node ids become parts of state names and state machine names, which allow
// at most 80 characters of letters, digits, `-` and `_`.
const WORKFLOW_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/;
const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/;

function invalid(message: string): InvalidInputError {
  return new InvalidInputError('INVALID_WORKFLOW', message, StatusCode.INPUT_INVALID_REQUEST);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks the shape of a workflow sent to `POST /v2/workflows`; `field` prefixes messages. */
export function parseWorkflowDefinition(value: unknown, field: string): WorkflowDefinition {
  if (!isObject(value)) {
    throw invalid(`${field} must be a workflow object with "id" and "nodes", got ${JSON.stringify(value)}.`);
  }
  const { id, description, nodes } = value;
  if (typeof id !== 'string' || !WORKFLOW_ID_PATTERN.test(id)) {
    throw invalid(
      `${field}.id ${JSON.stringify(id)} is not a valid workflow id. Use 1 to 48 letters, digits, '-' or '_', starting with a letter or digit.`,
    );
  }
  if (description !== undefined && typeof description !== 'string') {
    throw invalid(`${field}.description must be a string, got ${JSON.stringify(description)}.`);
  }
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw invalid(`${field}.nodes must be a non-empty list of nodes, got ${JSON.stringify(nodes)}.`);
  }
  if (nodes.length > MAX_WORKFLOW_NODES) {
    throw invalid(`${field}.nodes has ${nodes.length} nodes; a workflow may have at most ${MAX_WORKFLOW_NODES}.`);
  }

  const parsed = nodes.map((node: unknown, index) => parseNode(node, `${field}.nodes[${index}]`));
  const seen = new Set<string>();
  for (const node of parsed) {
    if (seen.has(node.id)) {
      throw invalid(`${field}: node id "${node.id}" appears more than once. Give each node its own id.`);
    }
    seen.add(node.id);
  }
  return description === undefined ? { id, nodes: parsed } : { id, description, nodes: parsed };
}

function parseNode(value: unknown, field: string): WorkflowNodeDefinition {
  if (!isObject(value)) {
    throw invalid(`${field} must be a node object, got ${JSON.stringify(value)}.`);
  }
  const { id, model, node_inputs: nodeInputs, suppress_output: suppressOutput } = value;
  if (typeof id !== 'string' || !NODE_ID_PATTERN.test(id)) {
    throw invalid(
      `${field}.id ${JSON.stringify(id)} is not a valid node id. Use 1 to 48 letters, digits, '-' or '_', starting with a letter or digit.`,
    );
  }
  if (!isObject(model) || typeof model.id !== 'string' || model.id === '') {
    throw invalid(`Node "${id}": ${field}.model.id must name a model, got ${JSON.stringify(model)}.`);
  }
  const version = model.model_version;
  if (version !== undefined && (!isObject(version) || typeof version.id !== 'string')) {
    throw invalid(`Node "${id}": ${field}.model.model_version must be {"id": "<version id>"}, got ${JSON.stringify(version)}.`);
  }
  if (nodeInputs !== undefined && !Array.isArray(nodeInputs)) {
    throw invalid(`Node "${id}": ${field}.node_inputs must be a list of {"node_id": ...}, got ${JSON.stringify(nodeInputs)}.`);
  }
  const inputs = (nodeInputs ?? []).map((input: unknown, index) => {
    if (!isObject(input) || typeof input.node_id !== 'string' || input.node_id === '') {
      throw invalid(`Node "${id}": ${field}.node_inputs[${index}] must be {"node_id": "<node id>"}, got ${JSON.stringify(input)}.`);
    }
    return { node_id: input.node_id };
  });
  if (suppressOutput !== undefined && typeof suppressOutput !== 'boolean') {
    throw invalid(`Node "${id}": ${field}.suppress_output must be true or false, got ${JSON.stringify(suppressOutput)}.`);
  }

  return {
    id,
    model: version === undefined ? { id: model.id } : { id: model.id, model_version: { id: String(version.id) } },
    node_inputs: inputs,
    suppress_output: suppressOutput ?? false,
  };
}
