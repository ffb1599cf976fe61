/**
 * The model runtime: one ONNX Runtime session per model per process, shared by every call,
 * and `predict`, which runs preprocessing, the session and the manifest's decoder.
 */
import { InferenceSession, type Tensor } from 'onnxruntime-node';
import type { OutputConfig, OutputData } from '#commons/clarifai/types.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { logger } from '#commons/logger.ts';
import { type BuiltModel, ensureModelBuilt } from '#commons/models/build.ts';
import { getModel } from '#commons/models/catalog.ts';
import { DECODERS, outputTensorNames } from '#commons/models/decoders/index.ts';
import { hasFixedInputSize, type ModelManifest } from '#commons/models/manifest.ts';
import { applyOutputConfig, resolveOutputConfig } from '#commons/models/output-config.ts';
import { prepareInput, toFeeds } from '#commons/models/preprocess.ts';

export { getModel, listModels } from '#commons/models/catalog.ts';
export { preprocess } from '#commons/models/preprocess.ts';

const DEFAULT_MAX_BATCH_SIZE = 16;

// Promises, not values, are cached so that concurrent first calls share one build and one
// session. A rejected promise is evicted, so the next call tries again.
const builds = new Map<string, Promise<BuiltModel>>();
const sessions = new Map<string, Promise<InferenceSession>>();
const fileSessions = new Map<string, Promise<InferenceSession>>();

function once<T>(cache: Map<string, Promise<T>>, key: string, create: () => Promise<T>): Promise<T> {
  const cachedPromise = cache.get(key);
  if (cachedPromise !== undefined) {
    return cachedPromise;
  }
  const promise = create();
  cache.set(key, promise);
  promise.catch(() => cache.delete(key));
  return promise;
}

function buildOnce(manifest: ModelManifest): Promise<BuiltModel> {
  return once(builds, manifest.id, () => ensureModelBuilt(manifest));
}

async function createSession(manifest: ModelManifest): Promise<InferenceSession> {
  const started = performance.now();
  const model = await buildOnce(manifest);
  const session = await InferenceSession.create(model.modelPath, { graphOptimizationLevel: 'all' });

  const missing = [
    ...[manifest.input.tensor].filter((name) => !session.inputNames.includes(name)),
    ...outputTensorNames(manifest.output).filter((name) => !session.outputNames.includes(name)),
  ];
  if (missing.length > 0) {
    await session.release();
    throw new Error(
      `Model ${manifest.id} has no tensor named ${missing.join(', ')}: its inputs are ` +
        `${session.inputNames.join(', ')} and its outputs ${session.outputNames.join(', ')}. Fix the manifest.`,
    );
  }

  logger.info('model session created', {
    modelId: manifest.id,
    versionId: model.versionId,
    buildStatus: model.status,
    durationMs: Math.round(performance.now() - started),
  });
  return session;
}

/**
 * Returns the model's session, building the model folder and creating the session on the
 * first call in this process. Throws `MODEL_NOT_FOUND` for an unknown id.
 */
export function loadSession(modelId: string): Promise<InferenceSession> {
  const manifest = getModel(modelId);
  return once(sessions, manifest.id, () => createSession(manifest));
}

/** Runs the model's session on ready-made feeds, with no pre- or post-processing. */
export async function runSession(
  modelId: string,
  feeds: Record<string, Tensor>,
): Promise<InferenceSession.OnnxValueMapType> {
  const session = await loadSession(modelId);
  return session.run(feeds);
}

/** Returns the model's version id: the first 32 hex digits of its file's SHA-256. */
export async function modelVersionId(modelId: string): Promise<string> {
  const model = await buildOnce(getModel(modelId));
  return model.versionId;
}

/**
 * Predicts on each image and returns one output per image, in the same order, filtered by
 * `outputConfig`. Images share a `session.run` (up to `input.max_batch_size`) when the model's
 * input size is fixed; otherwise each image runs alone. The output config is validated before
 * any image is processed.
 */
export async function predict(
  modelId: string,
  images: readonly DecodedImage[],
  outputConfig?: OutputConfig,
): Promise<OutputData[]> {
  const manifest = getModel(modelId);
  return predictWithSession(manifest, (feeds) => runSession(modelId, feeds), images, outputConfig);
}

/** An ONNX file on local disk with the manifest that describes it, such as an app's own model. */
export interface ModelFile {
  manifest: ModelManifest;
  path: string;
  /** Identifies the file's content in the session cache, e.g. its SHA-256. */
  cacheKey: string;
}

/**
 * Predicts like `predict`, with a model that is not in the built-in catalog. The session
 * is created on the first call for `cacheKey` and reused after.
 */
export async function predictWithFile(
  model: ModelFile,
  images: readonly DecodedImage[],
  outputConfig?: OutputConfig,
): Promise<OutputData[]> {
  const session = await once(fileSessions, model.cacheKey, () =>
    InferenceSession.create(model.path, { graphOptimizationLevel: 'all' }),
  );
  return predictWithSession(model.manifest, (feeds) => session.run(feeds), images, outputConfig);
}

/**
 * Predicts with a session that the caller created and owns, such as the SageMaker serving
 * process's session on the CUDA execution provider: the shared preprocessing, batching,
 * decoding and output config of `predict`.
 */
export async function predictWithSession(
  manifest: ModelManifest,
  run: (feeds: Record<string, Tensor>) => Promise<InferenceSession.OnnxValueMapType>,
  images: readonly DecodedImage[],
  outputConfig: OutputConfig | undefined,
): Promise<OutputData[]> {
  const filter = resolveOutputConfig(manifest, outputConfig);
  const decode = DECODERS[manifest.output.decoder];
  const batchSize = hasFixedInputSize(manifest) ? (manifest.input.max_batch_size ?? DEFAULT_MAX_BATCH_SIZE) : 1;

  const results: OutputData[] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const batch = images.slice(start, start + batchSize);
    const prepared = await Promise.all(batch.map((image) => prepareInput(manifest, image)));
    const outputs = await run(toFeeds(manifest, prepared));
    prepared.forEach((input, batchIndex) => {
      const decoded = decode({ manifest, outputs, batchIndex, geometry: input.geometry });
      results.push(applyOutputConfig(decoded, filter));
    });
  }
  return results;
}
