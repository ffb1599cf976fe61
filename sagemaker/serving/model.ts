/**
 * The served model: model.onnx and manifest.json from the model folder, one ONNX Runtime
 * session on the CUDA or the CPU execution provider, and prediction with the shared
 * preprocessing and decoders of functions/commons/models.
 */
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InferenceSession } from 'onnxruntime-node';
import type { OutputConfig, OutputData } from '#commons/clarifai/types.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { logger } from '#commons/logger.ts';
import { outputTensorNames } from '#commons/models/decoders/index.ts';
import { type ModelManifest, validateManifest } from '#commons/models/manifest.ts';
import { predictWithSession } from '#commons/models/runtime.ts';
import type { ProviderPreference } from './config.ts';

export const MODEL_FILE = 'model.onnx';
export const MANIFEST_FILE = 'manifest.json';

const POLL_INTERVAL_MS = 200;
const WAIT_LOG_INTERVAL_MS = 10_000;

export type ExecutionProvider = 'cuda' | 'cpu';

export interface ServingModel {
  manifest: ModelManifest;
  session: InferenceSession;
  provider: ExecutionProvider;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until model.onnx and manifest.json exist in `modelDir`. SageMaker extracts the model
 * archive before it starts the container, but a local runner may start the process first.
 */
async function waitForModelFiles(modelDir: string, waitMs: number): Promise<void> {
  const files = [MODEL_FILE, MANIFEST_FILE].map((name) => path.join(modelDir, name));
  const deadline = Date.now() + waitMs;
  let nextLog = 0;
  for (;;) {
    const present = await Promise.all(files.map(exists));
    if (present.every(Boolean)) {
      return;
    }
    const missing = files.filter((_, index) => !present[index]);
    if (Date.now() >= deadline) {
      throw new Error(
        `Model files not found after ${Math.round(waitMs / 1000)} s: ${missing.join(', ')}. ` +
          'The model archive must contain model.onnx and manifest.json at its top level.',
      );
    }
    if (Date.now() >= nextLog) {
      logger.info('waiting for model files', { missing, modelDir });
      nextLog = Date.now() + WAIT_LOG_INTERVAL_MS;
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

async function createSession(modelPath: string, preference: ProviderPreference): Promise<{ session: InferenceSession; provider: ExecutionProvider }> {
  const options: InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' };
  if (preference !== 'cpu') {
    try {
      const session = await InferenceSession.create(modelPath, { ...options, executionProviders: ['cuda'] });
      return { session, provider: 'cuda' };
    } catch (error) {
      if (preference === 'cuda') {
        throw new Error(
          `The CUDA execution provider failed to load: ${(error as Error).message}. Check that the container runs on a ` +
            'GPU instance with the NVIDIA driver, or set PERCEPT_EXECUTION_PROVIDER=cpu.',
          { cause: error },
        );
      }
      logger.warn('cuda execution provider unavailable, using cpu', { error: (error as Error).message });
    }
  }
  const session = await InferenceSession.create(modelPath, { ...options, executionProviders: ['cpu'] });
  return { session, provider: 'cpu' };
}

/**
 * Loads the manifest and the ONNX session from `modelDir`. Throws when a file stays missing,
 * the manifest is invalid (`INVALID_MODEL_MANIFEST`) or its tensor names are not in the model.
 */
export async function loadServingModel(modelDir: string, preference: ProviderPreference, waitMs: number): Promise<ServingModel> {
  const started = performance.now();
  await waitForModelFiles(modelDir, waitMs);

  const manifestPath = path.join(modelDir, MANIFEST_FILE);
  const manifest = validateManifest(JSON.parse(await readFile(manifestPath, 'utf8')) as unknown, manifestPath);
  const { session, provider } = await createSession(path.join(modelDir, MODEL_FILE), preference);

  const missing = [
    ...[manifest.input.tensor].filter((name) => !session.inputNames.includes(name)),
    ...outputTensorNames(manifest.output).filter((name) => !session.outputNames.includes(name)),
  ];
  if (missing.length > 0) {
    await session.release();
    throw new Error(
      `Model ${manifest.id} has no tensor named ${missing.join(', ')}: its inputs are ${session.inputNames.join(', ')} ` +
        `and its outputs ${session.outputNames.join(', ')}. Fix ${MANIFEST_FILE}.`,
    );
  }

  logger.info('model loaded', {
    modelId: manifest.id,
    provider,
    concepts: manifest.concepts.length,
    durationMs: Math.round(performance.now() - started),
  });
  return { manifest, session, provider };
}

/** Predicts on each image with the served session; one output per image, in order. */
export function predictImages(
  model: ServingModel,
  images: readonly DecodedImage[],
  outputConfig?: OutputConfig,
): Promise<OutputData[]> {
  return predictWithSession(model.manifest, (feeds) => model.session.run(feeds), images, outputConfig);
}
