/**
 * Registers an app's own ONNX model: reads the file from the request (or from the bucket),
 * checks it against its manifest by loading it and running it once, and stores it in the
 * bucket. Used by `POST /v2/models` for the visual-classifier, visual-detector and
 * visual-embedder types.
 *
 * The request carries two Percept-specific fields. `model.model_version.onnx` is either
 * `{"base64": "..."}` or `{"s3_key": "models/..."}` for a file already in the bucket.
 * `model.model_version.manifest` contains the `input` and `output` parts of a model manifest.
 * The concepts come from `model.output_info.data.concepts`, in the order of the model's outputs.
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { InferenceSession } from 'onnxruntime-node';
import { s3Client } from '#commons/aws/clients.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, PerceptError, StatusCode } from '#commons/errors.ts';
import { parseBase64Image } from '#commons/image/decode.ts';
import { localModelPath, saveModelFile } from '#commons/models/app-models.ts';
import { outputTensorNames } from '#commons/models/decoders/index.ts';
import { type ModelManifest, validateManifest } from '#commons/models/manifest.ts';
import { predictWithFile } from '#commons/models/runtime.ts';
import { putObject } from '#commons/storage/images.ts';
import type { ModelRecord } from '#commons/storage/models.ts';

/** Key prefix of uploaded model files in the bucket. */
export const MODELS_PREFIX = 'models/';

// Lambda's /tmp is 512 MB by default and the file is kept there, so 200 MB leaves room.
const MAX_ONNX_BYTES = 200 * 1024 * 1024;

// The same rule as the manifest's id, checked first so that the error names `model.id`.
const ONNX_MODEL_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Returns `record` with its ONNX file checked, stored and described, and its version id set. */
export async function attachOnnxModel(record: ModelRecord, body: unknown): Promise<ModelRecord> {
  if (!ONNX_MODEL_ID_PATTERN.test(record.id)) {
    throw invalid(
      'INVALID_ID',
      `model.id ${JSON.stringify(record.id)} cannot name an ONNX model. Use 1 to 63 lower-case letters, digits and '-', starting with a letter or digit.`,
    );
  }
  const version = (body as { model?: { model_version?: { onnx?: unknown; manifest?: unknown } } }).model?.model_version;
  const bytes = await readOnnxBytes(version?.onnx, record.app_id);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const key = `${MODELS_PREFIX}${record.app_id}/${record.id}/${sha256}.onnx`;
  const manifest = buildManifest(record, version?.manifest, { bucket: config.bucketName, key, sha256 });

  await checkModelFile(manifest, bytes, sha256);
  await putObject({ bucket: config.bucketName, key }, bytes, 'application/octet-stream');
  return { ...record, version_id: sha256.slice(0, 32), onnx: { manifest, sha256 } };
}

async function readOnnxBytes(onnx: unknown, appId: string): Promise<Buffer> {
  const field = 'model.model_version.onnx';
  const source = onnx as { base64?: unknown; s3_key?: unknown } | undefined;
  if (source?.base64 !== undefined) {
    return parseBase64Image(source.base64, `${field}.base64`);
  }
  if (typeof source?.s3_key === 'string') {
    const prefix = `${MODELS_PREFIX}${appId}/`;
    if (!source.s3_key.startsWith(prefix)) {
      throw invalid('INVALID_MODEL_FILE', `${field}.s3_key ${JSON.stringify(source.s3_key)} is outside ${prefix}. Upload the ONNX file under ${prefix} in bucket ${config.bucketName}.`);
    }
    return readBucketFile(source.s3_key);
  }
  throw invalid(
    'MODEL_FILE_MISSING',
    `${field} is missing. Send the ONNX file as ${field}.base64, or upload it to the bucket under ${MODELS_PREFIX}${appId}/ and send its key as ${field}.s3_key.`,
  );
}

async function readBucketFile(key: string): Promise<Buffer> {
  try {
    const response = await s3Client().send(new GetObjectCommand({ Bucket: config.bucketName, Key: key }));
    if ((response.ContentLength ?? 0) > MAX_ONNX_BYTES) {
      throw invalid('FILE_TOO_LARGE', `The ONNX file ${key} is ${response.ContentLength} bytes, more than the limit of ${MAX_ONNX_BYTES} bytes.`);
    }
    return Buffer.from((await response.Body?.transformToByteArray()) ?? new Uint8Array());
  } catch (error) {
    if ((error as { name?: string }).name === 'NoSuchKey') {
      throw invalid('MODEL_FILE_MISSING', `model.model_version.onnx.s3_key ${JSON.stringify(key)} does not exist in bucket ${config.bucketName}. Upload the file first.`);
    }
    throw error;
  }
}

function buildManifest(
  record: ModelRecord,
  manifestParts: unknown,
  source: { bucket: string; key: string; sha256: string },
): ModelManifest {
  if (typeof manifestParts !== 'object' || manifestParts === null || Array.isArray(manifestParts)) {
    throw invalid(
      'INVALID_MODEL_MANIFEST',
      `model.model_version.manifest must be an object with "input" and "output", as in the built-in manifests (models/builtin/*.json); got ${JSON.stringify(manifestParts)}.`,
    );
  }
  const { input, output } = manifestParts as { input?: unknown; output?: unknown };
  const manifest = {
    id: record.id,
    name: record.name,
    description: record.description === '' ? `A ${record.model_type_id} registered by app ${record.app_id}.` : record.description,
    model_type_id: record.model_type_id,
    created_at: record.created_at,
    source: { type: 'app-upload', ...source },
    input,
    output,
    concepts: record.params.concepts.map((concept) => ({ id: concept.id, name: concept.name ?? concept.id })),
  };
  try {
    return validateManifest(manifest, 'model.model_version.manifest');
  } catch (error) {
    if (error instanceof PerceptError) {
      throw invalid('INVALID_MODEL_MANIFEST', `${error.message} Concepts come from model.output_info.data.concepts.`, error);
    }
    throw error;
  }
}

// Loads the file, checks that the manifest's tensors exist, then predicts once on a grey
// image, so that a file whose outputs do not fit the decoder fails here and not later.
async function checkModelFile(manifest: ModelManifest, bytes: Buffer, sha256: string): Promise<void> {
  let session: InferenceSession;
  try {
    session = await InferenceSession.create(bytes);
  } catch (error) {
    throw invalid('INVALID_ONNX_MODEL', `The ONNX file could not be loaded: ${(error as Error).message}. Send a valid ONNX model file.`, error);
  }
  const missing = [
    ...[manifest.input.tensor].filter((name) => !session.inputNames.includes(name)),
    ...outputTensorNames(manifest.output).filter((name) => !session.outputNames.includes(name)),
  ];
  const tensors = `its inputs are ${session.inputNames.join(', ')} and its outputs ${session.outputNames.join(', ')}`;
  await session.release();
  if (missing.length > 0) {
    throw invalid('MODEL_TENSOR_MISMATCH', `The manifest names tensors ${missing.join(', ')} that the ONNX file does not have: ${tensors}. Fix the tensor names in the manifest.`);
  }

  const file = localModelPath(sha256);
  await saveModelFile(file, bytes);
  const grey = { pixels: Buffer.alloc(64 * 64 * 3, 128), width: 64, height: 64, format: 'png' };
  try {
    await predictWithFile({ manifest, path: file, cacheKey: sha256 }, [grey]);
  } catch (error) {
    throw invalid(
      'MODEL_OUTPUT_MISMATCH',
      `A test prediction with the manifest failed: ${(error as Error).message}. Check the manifest's input size, layout and output decoder against the model (${tensors}).`,
      error,
    );
  }
}

function invalid(code: string, message: string, cause?: unknown): InvalidInputError {
  return new InvalidInputError(code, message, StatusCode.MODEL_INVALID_ARGUMENT, cause);
}
