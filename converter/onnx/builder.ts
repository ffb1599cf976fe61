/**
 * Builds an ONNX `ModelProto` node by node and encodes it with the protobufjs code of
 * `onnx-proto` (onnx.proto of ONNX 1.10, whose messages newer opsets still use unchanged).
 * The output depends only on the calls made, in their order, so a deterministic caller gets
 * byte-identical files.
 */
import onnxProto from 'onnx-proto';
import type { TensorData, TensorDtype } from '../tfjs/model.ts';

const { onnx } = onnxProto;

type AttributeProto = InstanceType<typeof onnx.AttributeProto>;

/** ONNX `TensorProto.DataType` values of the element types the converter writes. */
export const ONNX_DTYPE: Record<TensorDtype, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int32: onnx.TensorProto.DataType.INT32,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** An attribute value with its ONNX type made explicit: a JS number alone cannot tell int from float. */
export type AttributeValue =
  | { int: number }
  | { float: number }
  | { string: string }
  | { ints: number[] }
  | { floats: number[] };

export const attribute = {
  int: (value: number): AttributeValue => ({ int: value }),
  float: (value: number): AttributeValue => ({ float: value }),
  string: (value: string): AttributeValue => ({ string: value }),
  ints: (values: number[]): AttributeValue => ({ ints: values }),
  floats: (values: number[]): AttributeValue => ({ floats: values }),
};

/** A graph input or output: -1 in `shape` is the dynamic batch dimension. */
export interface ValueInfo {
  name: string;
  dtype: TensorDtype;
  shape: number[];
}

/** Name of the symbolic ONNX dimension used for every unknown (-1) dimension. */
export const DYNAMIC_DIM_NAME = 'N';

export class OnnxGraphBuilder {
  private readonly nodes: Array<InstanceType<typeof onnx.NodeProto>> = [];
  private readonly initializers: Array<InstanceType<typeof onnx.TensorProto>> = [];
  private readonly usedNames = new Set<string>();
  private readonly nameCounters = new Map<string, number>();

  /** Marks names as taken, so that `uniqueName` never returns them. */
  public reserveNames(names: Iterable<string>): void {
    for (const name of names) {
      this.usedNames.add(name);
    }
  }

  /** Returns `base`, or `base_1`, `base_2`... when taken, and marks the result as taken. */
  public uniqueName(base: string): string {
    let candidate = base;
    let counter = this.nameCounters.get(base) ?? 0;
    while (this.usedNames.has(candidate)) {
      counter += 1;
      candidate = `${base}_${counter}`;
    }
    this.nameCounters.set(base, counter);
    this.usedNames.add(candidate);
    return candidate;
  }

  public addInitializer(name: string, dtype: TensorDtype, dims: number[], data: TensorData): string {
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dataType: ONNX_DTYPE[dtype],
        dims,
        rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice(),
      }),
    );
    return name;
  }

  /** Adds an int64 initializer under a fresh name derived from `base`, for shape-like inputs. */
  public addInt64(base: string, values: number[], dims: number[] = [values.length]): string {
    const name = this.uniqueName(base);
    return this.addInitializer(name, 'int64', dims, BigInt64Array.from(values.map((value) => BigInt(value))));
  }

  /** Adds a float32 initializer under a fresh name derived from `base`. */
  public addFloat(base: string, values: number[] | Float32Array, dims: number[]): string {
    const name = this.uniqueName(base);
    return this.addInitializer(name, 'float32', dims, Float32Array.from(values));
  }

  public addNode(
    opType: string,
    inputs: string[],
    outputs: string[],
    attributes: Record<string, AttributeValue> = {},
    nodeName?: string,
  ): void {
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        input: inputs,
        output: outputs,
        name: this.uniqueName(nodeName ?? `${outputs[0] ?? opType}/${opType}`),
        attribute: Object.entries(attributes).map(([name, value]) => encodeAttribute(name, value)),
      }),
    );
  }

  public encode(options: {
    graphName: string;
    opset: number;
    producerVersion: string;
    docString: string;
    inputs: ValueInfo[];
    outputs: ValueInfo[];
    metadata: Record<string, string>;
  }): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: irVersionFor(options.opset),
      producerName: 'percept-tfjs-to-onnx',
      producerVersion: options.producerVersion,
      docString: options.docString,
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: options.opset })],
      metadataProps: Object.keys(options.metadata)
        .sort()
        .map((key) => onnx.StringStringEntryProto.create({ key, value: options.metadata[key]! })),
      graph: onnx.GraphProto.create({
        name: options.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: options.inputs.map(valueInfo),
        output: options.outputs.map(valueInfo),
      }),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

/** IR version that introduced each opset (onnx/onnx docs/Versioning.md): ORT rejects older pairs. */
function irVersionFor(opset: number): number {
  if (opset >= 21) {
    return 10;
  }
  return opset >= 19 ? 9 : 8;
}

function valueInfo(info: ValueInfo): InstanceType<typeof onnx.ValueInfoProto> {
  return onnx.ValueInfoProto.create({
    name: info.name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: ONNX_DTYPE[info.dtype],
        shape: onnx.TensorShapeProto.create({
          dim: info.shape.map((size) =>
            size < 0
              ? onnx.TensorShapeProto.Dimension.create({ dimParam: DYNAMIC_DIM_NAME })
              : onnx.TensorShapeProto.Dimension.create({ dimValue: size }),
          ),
        }),
      }),
    }),
  });
}

function encodeAttribute(name: string, value: AttributeValue): AttributeProto {
  const type = onnx.AttributeProto.AttributeType;
  if ('int' in value) {
    return onnx.AttributeProto.create({ name, type: type.INT, i: value.int });
  }
  if ('float' in value) {
    return onnx.AttributeProto.create({ name, type: type.FLOAT, f: value.float });
  }
  if ('string' in value) {
    return onnx.AttributeProto.create({ name, type: type.STRING, s: new TextEncoder().encode(value.string) });
  }
  if ('ints' in value) {
    return onnx.AttributeProto.create({ name, type: type.INTS, ints: value.ints });
  }
  return onnx.AttributeProto.create({ name, type: type.FLOATS, floats: value.floats });
}
