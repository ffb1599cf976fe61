/**
 * Reads a TF.js graph model: model.json (the TensorFlow GraphDef as JSON) and its weight shards,
 * with quantized weights expanded to float32 or int32 exactly as `@tensorflow/tfjs-core`
 * `io.decodeWeights` does (tfjs-core 4.22).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { TfjsConversionError } from '../errors.ts';

/** Element types the converter handles, named as TF.js names them. */
export type TensorDtype = 'float32' | 'int32' | 'int64' | 'bool';

export type TensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

/** A constant tensor: a weight from the shards. */
export interface ConstantTensor {
  dtype: TensorDtype;
  shape: number[];
  data: TensorData;
}

/** One `AttrValue` of a GraphDef node, in the proto3 JSON form that model.json uses. */
export interface TfAttrValue {
  s?: string;
  i?: string | number;
  f?: number | string;
  b?: boolean;
  type?: string;
  shape?: TfShapeJson;
  tensor?: unknown;
  list?: { s?: string[]; i?: Array<string | number>; f?: Array<number | string>; b?: boolean[]; type?: string[] };
}

export interface TfShapeJson {
  dim?: Array<{ size?: string | number }>;
  unknownRank?: boolean;
}

export interface TfNode {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, TfAttrValue>;
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

interface WeightGroup {
  paths: string[];
  weights: WeightSpec[];
}

export interface TfTensorSignature {
  name?: string;
  dtype?: string;
  tensorShape?: TfShapeJson;
}

export interface TfSignature {
  inputs?: Record<string, TfTensorSignature>;
  outputs?: Record<string, TfTensorSignature>;
}

/** A graph model read from disk: its nodes in file order and its weights by node name. */
export interface TfjsGraphModel {
  nodes: TfNode[];
  weights: Map<string, ConstantTensor>;
  signature: TfSignature | undefined;
}

const DTYPE_NAMES: Record<string, TensorDtype> = {
  DT_FLOAT: 'float32',
  DT_INT32: 'int32',
  DT_INT64: 'int64',
  DT_BOOL: 'bool',
};

/** Returns the converter dtype of a TF `DataType` enum name such as `DT_FLOAT`, or undefined. */
export function dtypeFromTf(name: string | undefined): TensorDtype | undefined {
  return name === undefined ? undefined : DTYPE_NAMES[name];
}

function invalid(file: string, problem: string, cause?: unknown): TfjsConversionError {
  return new TfjsConversionError('TFJS_MODEL_INVALID', `${file} is not a valid TF.js graph model: ${problem}.`, cause);
}

/** Reads model.json and every weight shard that it lists (paths relative to model.json). */
export async function readTfjsGraphModel(modelJsonPath: string): Promise<TfjsGraphModel> {
  let text: string;
  try {
    text = await readFile(modelJsonPath, 'utf8');
  } catch (error) {
    throw new TfjsConversionError('TFJS_MODEL_INVALID', `Cannot read TF.js model ${modelJsonPath}: ${(error as Error).message}.`, error);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    throw invalid(modelJsonPath, `the file is not JSON (${(error as Error).message})`, error);
  }

  if (json.format !== undefined && json.format !== 'graph-model') {
    throw invalid(modelJsonPath, `its format is ${JSON.stringify(json.format)}, and only "graph-model" is supported`);
  }
  const topology = json.modelTopology as { node?: unknown; library?: { function?: unknown[] } } | undefined;
  if (topology === undefined || !Array.isArray(topology.node)) {
    throw invalid(modelJsonPath, 'modelTopology.node is missing');
  }
  if ((topology.library?.function?.length ?? 0) > 0) {
    throw new TfjsConversionError(
      'TFJS_OP_UNSUPPORTED',
      `${modelJsonPath} contains graph functions (control flow such as While or If), which the converter does not translate.`,
    );
  }
  const groups = json.weightsManifest;
  if (!Array.isArray(groups)) {
    throw invalid(modelJsonPath, 'weightsManifest is missing');
  }

  const weights = new Map<string, ConstantTensor>();
  for (const group of groups as WeightGroup[]) {
    const buffer = await readShards(modelJsonPath, group.paths);
    decodeGroup(modelJsonPath, group, buffer, weights);
  }

  const signature = (json.signature ?? (json.userDefinedMetadata as { signature?: unknown } | undefined)?.signature) as
    | TfSignature
    | undefined;
  return { nodes: topology.node as TfNode[], weights, signature };
}

async function readShards(modelJsonPath: string, paths: string[]): Promise<Buffer> {
  const folder = path.dirname(modelJsonPath);
  const parts: Buffer[] = [];
  for (const shard of paths) {
    const file = path.join(folder, shard);
    try {
      parts.push(await readFile(file));
    } catch (error) {
      throw new TfjsConversionError(
        'TFJS_WEIGHTS_MISSING',
        `Weight shard ${shard} of ${modelJsonPath} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}). ` +
          'Reinstall the package that ships the model, or put the shard next to model.json.',
        error,
      );
    }
  }
  return Buffer.concat(parts);
}

const QUANTIZED_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };
const PLAIN_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

function decodeGroup(modelJsonPath: string, group: WeightGroup, buffer: Buffer, weights: Map<string, ConstantTensor>): void {
  let offset = 0;
  for (const spec of group.weights) {
    const size = spec.shape.reduce((product, dim) => product * dim, 1);
    const quantization = spec.quantization;
    const bytesPerValue = quantization === undefined ? PLAIN_BYTES[spec.dtype] : QUANTIZED_BYTES[quantization.dtype];
    if (bytesPerValue === undefined) {
      throw new TfjsConversionError(
        'TFJS_OP_UNSUPPORTED',
        `Weight ${spec.name} of ${modelJsonPath} has dtype ${spec.dtype}` +
          (quantization === undefined ? '' : ` quantized as ${quantization.dtype}`) +
          ', which the converter does not read. Supported: float32, int32 and bool, quantized as uint8, uint16 or float16.',
      );
    }
    const byteLength = size * bytesPerValue;
    if (offset + byteLength > buffer.length) {
      throw new TfjsConversionError(
        'TFJS_WEIGHTS_MISSING',
        `The weight shards of ${modelJsonPath} (${group.paths.join(', ')}) hold ${buffer.length} bytes, but weight ${spec.name} ` +
          `needs bytes ${offset} to ${offset + byteLength}. A shard is truncated or from another model version: reinstall the package.`,
      );
    }
    // Copy into an aligned buffer: typed array views need an offset that is a multiple of the element size.
    const bytes = new Uint8Array(buffer.subarray(offset, offset + byteLength));
    weights.set(spec.name, decodeWeight(modelJsonPath, spec, bytes, size));
    offset += byteLength;
  }
}

function decodeWeight(modelJsonPath: string, spec: WeightSpec, bytes: Uint8Array, size: number): ConstantTensor {
  const shape = [...spec.shape];
  const quantization = spec.quantization;
  if (quantization === undefined) {
    switch (spec.dtype) {
      case 'float32':
        return { dtype: 'float32', shape, data: new Float32Array(bytes.buffer, 0, size) };
      case 'int32':
        return { dtype: 'int32', shape, data: new Int32Array(bytes.buffer, 0, size) };
      default:
        return { dtype: 'bool', shape, data: bytes };
    }
  }

  if (quantization.dtype === 'float16') {
    if (spec.dtype !== 'float32') {
      throw invalid(modelJsonPath, `weight ${spec.name} is float16-quantized but has dtype ${spec.dtype}`);
    }
    return { dtype: 'float32', shape, data: decodeFloat16(new Uint16Array(bytes.buffer, 0, size)) };
  }

  const { scale, min } = quantization;
  if (typeof scale !== 'number' || typeof min !== 'number') {
    throw invalid(modelJsonPath, `weight ${spec.name} is ${quantization.dtype}-quantized without scale and min`);
  }
  const quantized = quantization.dtype === 'uint8' ? bytes : new Uint16Array(bytes.buffer, 0, size);
  if (spec.dtype === 'float32') {
    const data = new Float32Array(size);
    for (let index = 0; index < size; index++) {
      data[index] = quantized[index]! * scale + min;
    }
    return { dtype: 'float32', shape, data };
  }
  if (spec.dtype === 'int32') {
    const data = new Int32Array(size);
    for (let index = 0; index < size; index++) {
      data[index] = Math.round(quantized[index]! * scale + min);
    }
    return { dtype: 'int32', shape, data };
  }
  throw invalid(modelJsonPath, `weight ${spec.name} has dtype ${spec.dtype}, which cannot be quantized`);
}

/** Expands IEEE 754 half-precision bit patterns to float32; every float16 value is exact in float32. */
export function decodeFloat16(halves: Uint16Array): Float32Array {
  const result = new Float32Array(halves.length);
  for (let index = 0; index < halves.length; index++) {
    const bits = halves[index]!;
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) {
      result[index] = sign * fraction * 2 ** -24;
    } else if (exponent === 0x1f) {
      result[index] = fraction === 0 ? sign * Infinity : NaN;
    } else {
      result[index] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
    }
  }
  return result;
}
