/**
 * Converts a TF.js graph model (model.json plus weight shards) into an ONNX model for ONNX
 * Runtime. Build-time code: the model build step loads it only when a model needs converting,
 * and no Lambda bundle includes it. See converter/README.md for the options and the naming of
 * ONNX inputs and outputs.
 */
import path from 'node:path';
import { TfjsConversionError } from './errors.ts';
import { attribute, OnnxGraphBuilder, type ValueInfo } from './onnx/builder.ts';
import { GraphState, OpContext, type TensorRef } from './ops/context.ts';
import { OP_MAPPERS } from './ops/index.ts';
import { dimsOf, NodeAttributes, parseInputName } from './tfjs/attributes.ts';
import { dtypeFromTf, readTfjsGraphModel, type TensorDtype, type TfjsGraphModel, type TfNode } from './tfjs/model.ts';
import { CONVERTER_VERSION } from './version.ts';

export type { TensorDtype } from './tfjs/model.ts';
export { TfjsConversionError } from './errors.ts';
export { SUPPORTED_OPS } from './ops/index.ts';

export const DEFAULT_OPSET = 18;
/** Opsets the converter writes. 18 is the first in which every Reduce op takes its axes as an input. */
export const SUPPORTED_OPSETS = [18, 19, 20, 21] as const;

export interface ConvertOptions {
  /**
   * Tensors to expose as ONNX outputs, as TF node names (`node` or `node:1` for a second output).
   * @default the signature's outputs in model.json, or else every node whose output no other node reads
   */
  outputs?: string[];
  /** Node whose output 0 becomes the only output; the graph after it is dropped. Excludes `outputs`. */
  cutAt?: string;
  /** `mean`: average the single NHWC output over height and width, giving [N, C]. */
  globalPool?: 'mean';
  /** Batch size of the input: a number, or `dynamic` for a symbolic `N`. @default the Placeholder's own */
  batchSize?: number | 'dynamic';
  /** ONNX opset, one of SUPPORTED_OPSETS. @default 18 */
  opset?: number;
  /** Extra entries for the model's `metadata_props`, written sorted by key. */
  metadata?: Record<string, string>;
}

/** An ONNX input or output. -1 in `shape` is the dynamic batch dimension. */
export interface TensorInfo {
  name: string;
  shape: number[];
  dtype: TensorDtype;
}

export interface ConvertedModel {
  /** The serialized ONNX `ModelProto`. */
  onnx: Uint8Array;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
}

/** Reads a TF.js graph model from disk and converts it; see `ConvertOptions`. */
export async function convertTfjsGraphModel(modelJsonPath: string, options: ConvertOptions = {}): Promise<ConvertedModel> {
  const model = await readTfjsGraphModel(modelJsonPath);
  return convertGraph(model, options, path.basename(modelJsonPath, '.json'));
}

function checkOptions(options: ConvertOptions): number {
  const opset = options.opset ?? DEFAULT_OPSET;
  if (!(SUPPORTED_OPSETS as readonly number[]).includes(opset)) {
    throw new TfjsConversionError('TFJS_OPTION_INVALID', `opset ${opset} is not supported; use one of ${SUPPORTED_OPSETS.join(', ')}.`);
  }
  const { batchSize } = options;
  if (batchSize !== undefined && batchSize !== 'dynamic' && !(Number.isInteger(batchSize) && batchSize > 0)) {
    throw new TfjsConversionError('TFJS_OPTION_INVALID', `batchSize must be a positive integer or "dynamic" (got ${JSON.stringify(batchSize)}).`);
  }
  if (options.cutAt !== undefined && options.outputs !== undefined) {
    throw new TfjsConversionError('TFJS_OPTION_INVALID', 'Set either cutAt or outputs, not both: cutAt already names the only output.');
  }
  if (options.globalPool !== undefined && options.globalPool !== 'mean') {
    throw new TfjsConversionError('TFJS_OPTION_INVALID', `globalPool must be "mean" (got ${JSON.stringify(options.globalPool)}).`);
  }
  return opset;
}

function notFound(nodes: Map<string, TfNode>, name: string, option: string): TfjsConversionError {
  const leaf = name.split('/').at(-1)!.toLowerCase();
  const similar = [...nodes.keys()].filter((candidate) => candidate.toLowerCase().includes(leaf)).slice(0, 5);
  return new TfjsConversionError(
    'TFJS_NODE_NOT_FOUND',
    `Node ${name} named in ${option} does not exist in the model.` +
      (similar.length > 0 ? ` Similar node names: ${similar.join(', ')}.` : ' Check the name against modelTopology.node in model.json.'),
  );
}

/** Returns the TF tensor names (`node` or `node:k`) to expose, in order. */
function selectOutputs(model: TfjsGraphModel, nodes: Map<string, TfNode>, options: ConvertOptions): string[] {
  let requested: string[];
  let option: string;
  if (options.cutAt !== undefined) {
    requested = [options.cutAt];
    option = 'cutAt';
  } else if (options.outputs !== undefined) {
    requested = options.outputs;
    option = 'outputs';
  } else if (model.signature?.outputs !== undefined && Object.keys(model.signature.outputs).length > 0) {
    requested = Object.entries(model.signature.outputs).map(([key, tensor]) => tensor.name ?? key);
    option = 'the signature of model.json';
  } else {
    const consumed = new Set(
      [...nodes.values()].flatMap((node) => (node.input ?? []).map((input) => parseInputName(input).node)),
    );
    requested = [...nodes.values()]
      .filter((node) => !consumed.has(node.name) && !['Const', 'Placeholder', 'NoOp'].includes(node.op))
      .map((node) => node.name);
    option = 'the graph';
  }
  if (requested.length === 0) {
    throw new TfjsConversionError('TFJS_OPTION_INVALID', 'The conversion has no outputs: name them in outputs or cutAt.');
  }

  const names = requested.map((name) => {
    const { node, index } = parseInputName(name);
    if (!nodes.has(node)) {
      throw notFound(nodes, name, option);
    }
    return index === 0 ? node : `${node}:${index}`;
  });
  return [...new Set(names)];
}

/** Returns the nodes that the outputs depend on, each after its inputs, in a deterministic order. */
function orderNodes(nodes: Map<string, TfNode>, outputs: string[]): TfNode[] {
  const ordered: TfNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: Array<{ node: TfNode; next: number }> = [];

  const push = (name: string): void => {
    const node = nodes.get(name);
    if (node === undefined) {
      throw new TfjsConversionError('TFJS_MODEL_INVALID', `The model reads from node ${name}, which does not exist in model.json.`);
    }
    if (state.get(name) === 'visiting') {
      throw new TfjsConversionError('TFJS_OP_UNSUPPORTED', `The graph has a cycle through node ${name} (a loop), which the converter does not translate.`);
    }
    if (state.get(name) === undefined) {
      state.set(name, 'visiting');
      stack.push({ node, next: 0 });
    }
  };

  for (const output of outputs) {
    push(parseInputName(output).node);
    while (stack.length > 0) {
      const top = stack.at(-1)!;
      const inputs = (top.node.input ?? []).map(parseInputName).filter((input) => !input.control);
      if (top.next < inputs.length) {
        const input = inputs[top.next]!;
        top.next += 1;
        push(input.node);
        continue;
      }
      stack.pop();
      state.set(top.node.name, 'done');
      ordered.push(top.node);
    }
  }
  return ordered;
}

function checkOpsSupported(nodes: TfNode[]): void {
  const unsupported = nodes.filter((node) => !['Const', 'Placeholder', 'NoOp'].includes(node.op) && OP_MAPPERS[node.op] === undefined);
  const first = unsupported[0];
  if (first === undefined) {
    return;
  }
  const others = [...new Set(unsupported.map((node) => node.op))].filter((op) => op !== first.op);
  throw new TfjsConversionError(
    'TFJS_OP_UNSUPPORTED',
    `Cannot convert node ${first.name}: the converter has no mapping for op ${first.op}` +
      (others.length > 0 ? ` (the graph also uses unsupported ops ${others.join(', ')})` : '') +
      '. Convert only the part of the graph before it (`cutAt` or `outputs`), or add a mapper for the op in converter/ops.',
  );
}

function placeholder(node: TfNode, model: TfjsGraphModel, options: ConvertOptions): ValueInfo {
  const attrs = new NodeAttributes(node);
  const signatureInput = Object.values(model.signature?.inputs ?? {}).find((input) => parseInputName(input.name ?? '').node === node.name);
  const shape = dimsOf(attrs.shape('shape')) ?? dimsOf(signatureInput?.tensorShape);
  const dtype = dtypeFromTf(attrs.type('dtype') ?? signatureInput?.dtype);
  if (shape === undefined || dtype === undefined) {
    throw new TfjsConversionError(
      'TFJS_OP_UNSUPPORTED',
      `Cannot convert input ${node.name}: its ${shape === undefined ? 'shape (rank)' : 'dtype'} is unknown, and the converter needs both.`,
    );
  }
  if (shape.length > 0 && options.batchSize !== undefined) {
    shape[0] = options.batchSize === 'dynamic' ? -1 : options.batchSize;
  }
  return { name: node.name, dtype, shape };
}

function convertGraph(model: TfjsGraphModel, options: ConvertOptions, graphName: string): ConvertedModel {
  const opset = checkOptions(options);
  const nodes = new Map<string, TfNode>();
  for (const node of model.nodes) {
    nodes.set(node.name, node);
  }
  const outputNames = selectOutputs(model, nodes, options);
  if (options.globalPool !== undefined && outputNames.length !== 1) {
    throw new TfjsConversionError('TFJS_OPTION_INVALID', `globalPool needs exactly one output (cutAt), and the conversion has ${outputNames.length}.`);
  }
  const ordered = orderNodes(nodes, outputNames);
  checkOpsSupported(ordered);

  const graph = new OnnxGraphBuilder();
  graph.reserveNames(nodes.keys());
  const state = new GraphState(graph, opset);
  const inputs: ValueInfo[] = [];

  for (const node of ordered) {
    if (node.op === 'NoOp') {
      continue;
    }
    if (node.op === 'Const') {
      const constant = model.weights.get(node.name);
      if (constant === undefined) {
        throw new TfjsConversionError('TFJS_MODEL_INVALID', `Const node ${node.name} has no entry in weightsManifest of model.json.`);
      }
      state.tensors.set(node.name, { name: node.name, dtype: constant.dtype, shape: constant.shape, constant });
      continue;
    }
    if (node.op === 'Placeholder') {
      const input = placeholder(node, model, options);
      inputs.push(input);
      state.tensors.set(node.name, { name: node.name, dtype: input.dtype, shape: input.shape });
      continue;
    }

    const refs = (node.input ?? [])
      .map(parseInputName)
      .filter((input) => !input.control)
      .map((input) => {
        const key = input.index === 0 ? input.node : `${input.node}:${input.index}`;
        const ref = state.tensors.get(key);
        if (ref === undefined) {
          throw new TfjsConversionError('TFJS_MODEL_INVALID', `Node ${node.name} reads ${key}, which its producer does not output.`);
        }
        return ref;
      });
    OP_MAPPERS[node.op]!(new OpContext(node, refs, state));
  }

  const outputs = outputNames.map((name) => finishOutput(state, name, options));
  const onnx = graph.encode({
    graphName,
    opset,
    producerVersion: CONVERTER_VERSION,
    docString: `Converted from the TF.js graph model ${graphName}.json by Percept's converter.`,
    inputs,
    outputs,
    metadata: options.metadata ?? {},
  });
  return { onnx, inputs: inputs.map(toTensorInfo), outputs: outputs.map(toTensorInfo) };
}

/** Writes the graph output for TF tensor `name`, pooled when `globalPool` is set. */
function finishOutput(state: GraphState, name: string, options: ConvertOptions): ValueInfo {
  const ref: TensorRef = state.tensors.get(name)!;
  const { graph } = state;
  if (options.globalPool === 'mean') {
    if (ref.shape.length !== 4) {
      throw new TfjsConversionError(
        'TFJS_OPTION_INVALID',
        `globalPool needs an NHWC output of rank 4, and ${name} has shape [${ref.shape.join(', ')}].`,
      );
    }
    const pooled = graph.uniqueName(`${name}/global_mean_pool`);
    graph.addNode('ReduceMean', [state.nameOf(ref), graph.addInt64(`${name}/pool_axes`, [1, 2])], [pooled], {
      keepdims: attribute.int(0),
    });
    return { name: pooled, dtype: ref.dtype, shape: [ref.shape[0]!, ref.shape[3]!] };
  }
  if (ref.constant !== undefined) {
    // The constant's initializer cannot carry the output name too: write a copy beside it.
    const value = graph.addInitializer(graph.uniqueName(`${name}/value`), ref.constant.dtype, ref.constant.shape, ref.constant.data);
    graph.addNode('Identity', [value], [name]);
  } else if (ref.name !== name) {
    graph.addNode('Identity', [state.nameOf(ref)], [name]);
  }
  return { name, dtype: ref.dtype, shape: ref.shape };
}

function toTensorInfo(info: ValueInfo): TensorInfo {
  return { name: info.name, shape: [...info.shape], dtype: info.dtype };
}
