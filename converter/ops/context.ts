/**
 * The state shared by op mappers: the tensor of every converted TF output, the ONNX graph being
 * built, and helpers for the NHWC/NCHW boundary. TF tensors stay NHWC in the ONNX graph, so a
 * graph tensor has the shape that TF gives it. Ops that ONNX defines only for NCHW (Conv, pools,
 * Resize) get a Transpose on each side; ONNX Runtime's transpose optimizer cancels the pairs
 * between consecutive such ops.
 */
import { TfjsConversionError } from '../errors.ts';
import { attribute, type OnnxGraphBuilder } from '../onnx/builder.ts';
import { NodeAttributes } from '../tfjs/attributes.ts';
import type { ConstantTensor, TensorDtype, TfNode } from '../tfjs/model.ts';

/** A converted TF tensor. Shapes use -1 for a dimension unknown until run time (the batch). */
export interface TensorRef {
  /** ONNX name of the tensor; for a constant, the initializer name once written. */
  name: string;
  dtype: TensorDtype;
  shape: number[];
  /** Value of a constant, known at conversion time. */
  constant?: ConstantTensor;
}

export const NHWC_TO_NCHW = [0, 3, 1, 2];
export const NCHW_TO_NHWC = [0, 2, 3, 1];

/** Everything the converter keeps across nodes. */
export class GraphState {
  public readonly tensors = new Map<string, TensorRef>();
  private readonly writtenConstants = new Set<TensorRef>();
  private readonly nchwCache = new Map<string, string>();

  public constructor(
    public readonly graph: OnnxGraphBuilder,
    public readonly opset: number,
  ) {}

  /** Returns the ONNX name of `ref`, writing a constant as an initializer on first use. */
  public nameOf(ref: TensorRef): string {
    if (ref.constant !== undefined && !this.writtenConstants.has(ref)) {
      this.graph.addInitializer(ref.name, ref.constant.dtype, ref.constant.shape, ref.constant.data);
      this.writtenConstants.add(ref);
    }
    return ref.name;
  }

  /** Returns the NCHW transpose of a rank-4 NHWC tensor, shared by every consumer. */
  public toNchw(ref: TensorRef): string {
    const source = this.nameOf(ref);
    const cached = this.nchwCache.get(source);
    if (cached !== undefined) {
      return cached;
    }
    const name = this.graph.uniqueName(`${source}/nchw`);
    this.graph.addNode('Transpose', [source], [name], { perm: attribute.ints(NHWC_TO_NCHW) });
    this.nchwCache.set(source, name);
    return name;
  }
}

/** The view of one TF node that its op mapper gets: inputs, attributes and emit helpers. */
export class OpContext {
  public readonly attrs: NodeAttributes;

  public constructor(
    public readonly node: TfNode,
    public readonly inputs: TensorRef[],
    private readonly state: GraphState,
  ) {
    this.attrs = new NodeAttributes(node);
  }

  public get graph(): OnnxGraphBuilder {
    return this.state.graph;
  }

  public get opset(): number {
    return this.state.opset;
  }

  /** Returns data input `index`, failing with the node's name when it is missing. */
  public input(index: number): TensorRef {
    const ref = this.inputs[index];
    if (ref === undefined) {
      throw this.unsupported(`it has ${this.inputs.length} inputs, and input ${index} is required`);
    }
    return ref;
  }

  /** Returns the ONNX name of data input `index`. */
  public inputName(index: number): string {
    return this.state.nameOf(this.input(index));
  }

  public nameOf(ref: TensorRef): string {
    return this.state.nameOf(ref);
  }

  public toNchw(ref: TensorRef): string {
    return this.state.toNchw(ref);
  }

  /** Returns the value of input `index`, which the conversion needs at build time. */
  public constant(index: number, role: string): ConstantTensor {
    const value = this.input(index).constant;
    if (value === undefined) {
      throw this.unsupported(
        `its ${role} (input ${index}) is computed at run time, and the converter needs it as a constant`,
      );
    }
    return value;
  }

  public constantInts(index: number, role: string): number[] {
    const value = this.constant(index, role);
    if (value.dtype !== 'int32' && value.dtype !== 'int64') {
      throw this.unsupported(`its ${role} (input ${index}) has dtype ${value.dtype}, and an integer tensor is expected`);
    }
    return Array.from(value.data as Int32Array | BigInt64Array, Number);
  }

  /** ONNX name for TF output `index` of this node: `name` for output 0, `name:index` otherwise. */
  public outputName(index = 0): string {
    return index === 0 ? this.node.name : `${this.node.name}:${index}`;
  }

  /** Returns a fresh ONNX name for an intermediate tensor of this node. */
  public temp(suffix: string): string {
    return this.graph.uniqueName(`${this.node.name}/${suffix}`);
  }

  /** Records the tensor that stands for TF output `index` of this node. */
  public setOutput(index: number, ref: TensorRef): void {
    this.state.tensors.set(this.outputName(index), ref);
  }

  /** Records a runtime output written under `outputName(index)`. */
  public output(index: number, dtype: TensorDtype, shape: number[]): void {
    this.setOutput(index, { name: this.outputName(index), dtype, shape });
  }

  /** Adds an ONNX node; a shorthand for `graph.addNode` named after this TF node. */
  public emit(opType: string, inputs: string[], outputs: string[], attributes: Parameters<OnnxGraphBuilder['addNode']>[3] = {}): void {
    this.graph.addNode(opType, inputs, outputs, attributes, `${this.node.name}/${opType}`);
  }

  /** Adds a Transpose from an NCHW result to this node's NHWC output `index`. */
  public emitFromNchw(nchw: string, dtype: TensorDtype, nhwcShape: number[], index = 0): void {
    this.emit('Transpose', [nchw], [this.outputName(index)], { perm: attribute.ints(NCHW_TO_NHWC) });
    this.output(index, dtype, nhwcShape);
  }

  public rankOf(index: number, expected: number): number[] {
    const shape = this.input(index).shape;
    if (shape.length !== expected) {
      throw this.unsupported(`input ${index} has rank ${shape.length} (shape [${shape.join(', ')}]), and rank ${expected} is expected`);
    }
    return shape;
  }

  /** Returns an error that names this node and its op, for an attribute value or input form the converter lacks. */
  public unsupported(reason: string): TfjsConversionError {
    return new TfjsConversionError(
      'TFJS_OP_UNSUPPORTED',
      `Cannot convert node ${this.node.name} (op ${this.node.op}): ${reason}. ` +
        'Convert only the part of the graph before it (`cutAt` or `outputs`), or add the case to converter/ops.',
    );
  }
}

/** Broadcasts two shapes as NumPy does; -1 (unknown) against 1 stays unknown. */
export function broadcastShapes(a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const result: number[] = [];
  for (let index = 0; index < rank; index++) {
    const left = a[a.length - rank + index] ?? 1;
    const right = b[b.length - rank + index] ?? 1;
    if (left === 1) {
      result.push(right);
    } else if (right === 1 || right === left) {
      result.push(left);
    } else if (left === -1 || right === -1) {
      result.push(left === -1 ? right : left);
    } else {
      throw new Error(`shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
    }
  }
  return result;
}

export function sizeOf(shape: number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

/** Normalizes a possibly negative axis against `rank`. */
export function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}
