/**
 * Runs a zoo manifest on the original TF.js graph model instead of its converted ONNX file:
 * the same preprocessing (`prepareInput`) and decoder, with the graph executed by TF.js on its
 * pure-JS CPU backend. The zoo tests compare `predict()` against it, so a conversion error
 * shows up as a difference between the two.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { type GraphModel, loadGraphModel } from '@tensorflow/tfjs-converter';
import { Tensor as OrtTensor } from 'onnxruntime-node';
import type { OutputData } from '#commons/clarifai/types.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { DECODERS, outputTensorNames } from '#commons/models/decoders/index.ts';
import type { ModelManifest, NpmTfjsGraphModelSource } from '#commons/models/manifest.ts';
import { prepareInput } from '#commons/models/preprocess.ts';

interface WeightGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

const models = new Map<string, Promise<GraphModel>>();

async function readGraphModel(file: string): Promise<GraphModel> {
  const json = JSON.parse(await readFile(file, 'utf8')) as tf.io.ModelJSON & { weightsManifest: WeightGroup[] };
  const folder = path.dirname(file);
  const shardPaths = json.weightsManifest.flatMap((group) => group.paths.map((shard) => path.join(folder, shard)));
  const shards = await Promise.all(shardPaths.map((shard) => readFile(shard)));
  const weights = Buffer.concat(shards);
  await tf.setBackend('cpu');
  return loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((group) => group.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
    }),
  );
}

function tfjsSource(manifest: ModelManifest): NpmTfjsGraphModelSource {
  if (manifest.source.type !== 'npm-tfjs-graph') {
    throw new Error(`Model ${manifest.id} does not come from a TF.js graph model.`);
  }
  return manifest.source;
}

/** Loads the manifest's model.json from node_modules once per test file. */
function graphModelOf(manifest: ModelManifest): Promise<GraphModel> {
  const source = tfjsSource(manifest);
  const file = path.resolve('node_modules', source.package, source.path);
  let model = models.get(file);
  if (model === undefined) {
    model = readGraphModel(file);
    models.set(file, model);
  }
  return model;
}

/**
 * Returns the TF.js tensors for the manifest's ONNX output names. The converter names each
 * output after its TF tensor (`node`, or `node:k` beyond the first output), and appends
 * `/global_mean_pool` to a `cut_at` node that `global_pool` averages over height and width.
 */
function runGraph(model: GraphModel, manifest: ModelManifest, input: tf.Tensor): Record<string, tf.Tensor> {
  const conversion = tfjsSource(manifest).conversion ?? {};
  const names = outputTensorNames(manifest.output);
  if (conversion.cut_at !== undefined) {
    const cut = model.execute(input, conversion.cut_at) as tf.Tensor;
    const pooled = conversion.global_pool === 'mean' ? tf.mean(cut, [1, 2]) : cut;
    return Object.fromEntries(names.map((name) => [name, pooled]));
  }
  const results = model.execute(input, names);
  const tensors = Array.isArray(results) ? results : [results];
  return Object.fromEntries(names.map((name, index) => [name, tensors[index] as tf.Tensor]));
}

/** Predicts on each image, one at a time, with the TF.js graph model in place of ONNX Runtime. */
export async function predictWithTfjs(manifest: ModelManifest, images: readonly DecodedImage[]): Promise<OutputData[]> {
  const model = await graphModelOf(manifest);
  const decode = DECODERS[manifest.output.decoder];
  const results: OutputData[] = [];
  for (const image of images) {
    const prepared = await prepareInput(manifest, image);
    const input = tf.tensor(prepared.data, prepared.dims);
    const tensors = runGraph(model, manifest, input);
    const outputs: Record<string, OrtTensor> = {};
    for (const [name, tensor] of Object.entries(tensors)) {
      outputs[name] = new OrtTensor('float32', (await tensor.data()) as Float32Array, tensor.shape);
    }
    results.push(decode({ manifest, outputs, batchIndex: 0, geometry: prepared.geometry }));
    tf.dispose([input, ...Object.values(tensors)]);
  }
  return results;
}
