/**
 * Models that an app registered with its own ONNX file (`POST /v2/models` with a
 * visual-classifier, visual-detector or visual-embedder type), next to the built-in ones.
 * The ONNX file lives in the bucket; a process downloads it once to local disk and keeps
 * one session per file.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '#commons/aws/clients.ts';
import type { OutputConfig, OutputData } from '#commons/clarifai/types.ts';
import { EMBEDDING_CLASSIFIER_TYPE } from '#commons/classifier/model-type.ts';
import { resolveClassifierModel } from '#commons/classifier/versions.ts';
import { CLUSTERER_TYPE } from '#commons/cluster/model-type.ts';
import { resolveClustererModel } from '#commons/cluster/versions.ts';
import { isDeepModel } from '#commons/deep-training/model-type.ts';
import { resolveDeepModel } from '#commons/deep-training/predict.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import type { ModelManifest } from '#commons/models/manifest.ts';
import { getModel, listModels, modelVersionId, predict, predictWithFile } from '#commons/models/runtime.ts';
import { type ModelRecord, findModel } from '#commons/storage/models.ts';

/** The uploaded ONNX file of an app model, as its model record stores it. */
export interface AppOnnxModel {
  manifest: ModelManifest;
  /** Hex SHA-256 of the ONNX file, which also names the local copy. */
  sha256: string;
}

/** A model that can run on images: built-in, an app's own ONNX model, or an embedding classifier. */
export interface RunnableModel {
  manifest: ModelManifest;
  versionId: string;
  /** The app's model record; undefined for a built-in model. */
  record?: ModelRecord;
  predict(images: readonly DecodedImage[], outputConfig?: OutputConfig): Promise<OutputData[]>;
}

// Lambda allows writing only under /tmp; locally the OS temp folder is used.
const LOCAL_MODEL_DIR = path.join(tmpdir(), 'percept-app-models');

/**
 * Returns the model `modelId` of the app, ready to predict. Throws `MODEL_NOT_FOUND` for an
 * unknown id and `MODEL_NOT_PREDICTABLE` for an operator, which runs only in workflows. An
 * embedding classifier, a clusterer or a deep-trained model predicts with version
 * `versionId`, or else its newest trained version; a deep-trained one calls its SageMaker endpoint.
 */
export async function resolveRunnableModel(appId: string, modelId: string, versionId?: string): Promise<RunnableModel> {
  if (listModels().some((manifest) => manifest.id === modelId)) {
    const manifest = getModel(modelId);
    return {
      manifest,
      versionId: await modelVersionId(modelId),
      predict: (images, outputConfig) => predict(modelId, images, outputConfig),
    };
  }

  const record = await findModel(appId, modelId);
  if (record === undefined) {
    getModel(modelId); // throws MODEL_NOT_FOUND, listing the built-in models
  }
  if (record?.model_type_id === EMBEDDING_CLASSIFIER_TYPE) {
    return resolveClassifierModel(appId, record, versionId);
  }
  if (record?.model_type_id === CLUSTERER_TYPE) {
    return resolveClustererModel(appId, record, versionId);
  }
  if (isDeepModel(record)) {
    return resolveDeepModel(appId, record, versionId);
  }
  const onnx = record?.onnx;
  if (record === undefined || onnx === undefined) {
    throw new InvalidInputError(
      'MODEL_NOT_PREDICTABLE',
      `Model ${JSON.stringify(modelId)} is a ${record?.model_type_id} operator, which runs only inside a workflow. Add it to a workflow and call POST /v2/workflows/{workflow_id}/results.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }

  const file = { manifest: onnx.manifest, path: await localModelFile(onnx), cacheKey: onnx.sha256 };
  return {
    manifest: onnx.manifest,
    versionId: record.version_id,
    record,
    predict: (images, outputConfig) => predictWithFile(file, images, outputConfig),
  };
}

/** Returns the local path of an app model's ONNX file, downloading and checking it on first use. */
export async function localModelFile(onnx: AppOnnxModel): Promise<string> {
  const file = localModelPath(onnx.sha256);
  if (existsSync(file)) {
    return file;
  }

  const { source } = onnx.manifest;
  if (source.type !== 'app-upload') {
    throw new Error(`Model ${onnx.manifest.id} has source type ${source.type}, not an uploaded file.`);
  }
  const response = await s3Client().send(new GetObjectCommand({ Bucket: source.bucket, Key: source.key }));
  const bytes = Buffer.from((await response.Body?.transformToByteArray()) ?? new Uint8Array());
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== onnx.sha256) {
    throw new Error(
      `The ONNX file of model ${onnx.manifest.id} at s3://${source.bucket}/${source.key} has SHA-256 ${sha256}, not the registered ${onnx.sha256}. Register the model again.`,
    );
  }
  await saveModelFile(file, bytes);
  return file;
}

/** Writes an ONNX file into the local model folder under its SHA-256, atomically. */
export async function saveModelFile(file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temporary, bytes);
  await rename(temporary, file);
}

export function localModelPath(sha256: string): string {
  return path.join(LOCAL_MODEL_DIR, `${sha256}.onnx`);
}
