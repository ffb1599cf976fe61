/**
 * Settings of the serving process, read once from the environment that SageMaker (or the
 * local stand-in) sets.
 */
import path from 'node:path';
import { DEFAULT_IMAGE_LIMITS } from '#commons/image/decode.ts';

/** `auto` tries the CUDA execution provider and falls back to the CPU one. */
export type ProviderPreference = 'auto' | 'cuda' | 'cpu';

export interface ServingConfig {
  /** Folder with model.onnx and manifest.json. */
  modelDir: string;
  port: number;
  host: string;
  provider: ProviderPreference;
  /** How long to wait for model.onnx and manifest.json to appear before giving up, in milliseconds. */
  modelWaitMs: number;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
}

// SageMaker extracts model.tar.gz into /opt/ml/model and sends traffic to port 8080.
const DEFAULT_MODEL_DIR = '/opt/ml/model';
const DEFAULT_PORT = 8080;
const DEFAULT_HOST = '0.0.0.0';
const DEFAULT_MODEL_WAIT_SECONDS = 120;

// One image of the maximum file size as base64 (4 characters per 3 bytes), plus 1 MiB for the
// JSON around it. SageMaker's real-time InvokeEndpoint forwards smaller bodies anyway (6 MB).
const DEFAULT_MAX_BODY_BYTES = Math.ceil((DEFAULT_IMAGE_LIMITS.maxBytes * 4) / 3) + 1024 * 1024;

function positiveInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, max: number): number {
  const raw = env[name]?.trim() ?? '';
  if (raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > max) {
    throw new Error(`Environment variable ${name} must be a whole number from 1 to ${max}, got ${JSON.stringify(raw)}.`);
  }
  return value;
}

function providerPreference(env: NodeJS.ProcessEnv): ProviderPreference {
  const raw = env.PERCEPT_EXECUTION_PROVIDER?.trim().toLowerCase() ?? '';
  if (raw === '') {
    return 'auto';
  }
  if (raw !== 'cuda' && raw !== 'cpu') {
    throw new Error(
      `Environment variable PERCEPT_EXECUTION_PROVIDER must be cuda or cpu, got ${JSON.stringify(env.PERCEPT_EXECUTION_PROVIDER)}. ` +
        'Unset it to use CUDA when it loads and the CPU otherwise.',
    );
  }
  return raw;
}

/** Reads the settings; throws an `Error` naming the variable when one is invalid. */
export function readServingConfig(env: NodeJS.ProcessEnv = process.env): ServingConfig {
  return {
    modelDir: path.resolve(env.SM_MODEL_DIR?.trim() || DEFAULT_MODEL_DIR),
    port: positiveInteger(env, 'SAGEMAKER_BIND_TO_PORT', DEFAULT_PORT, 65_535),
    host: env.SERVING_HOST?.trim() || DEFAULT_HOST,
    provider: providerPreference(env),
    modelWaitMs: positiveInteger(env, 'SERVING_MODEL_WAIT_SECONDS', DEFAULT_MODEL_WAIT_SECONDS, 3600) * 1000,
    maxBodyBytes: positiveInteger(env, 'SERVING_MAX_BODY_BYTES', DEFAULT_MAX_BODY_BYTES, 2 ** 31 - 1),
  };
}
