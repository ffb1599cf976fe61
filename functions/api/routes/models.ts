/**
 * Model routes: list and describe the models, and predict on images sent in the request.
 */
import { randomUUID } from 'node:crypto';
import type { OutputConfig } from '#commons/clarifai/types.ts';
import { InvalidInputError, NotFoundError, PerceptError, StatusCode } from '#commons/errors.ts';
import { type ApiRequest, parsePaging } from '#commons/http/api-event.ts';
import { imageBytesOf, inputsOf } from '#commons/http/image-input.ts';
import { okStatus } from '#commons/http/responses.ts';
import { decodeImage, imageLimitsFromEnv } from '#commons/image/decode.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { toClarifaiModel } from '#commons/models/clarifai-model.ts';
import { getModel, listModels, modelVersionId, predict } from '#commons/models/index.ts';

/** Clarifai accepts at most 128 inputs in one predict call. */
export const MAX_PREDICT_INPUTS = 128;

export async function listModelsRoute(request: ApiRequest): Promise<unknown> {
  const { page, perPage } = parsePaging(request.query);
  const manifests = listModels().slice((page - 1) * perPage, page * perPage);
  const models = await Promise.all(
    manifests.map(async (manifest) => toClarifaiModel(manifest, await modelVersionId(manifest.id))),
  );
  return { status: okStatus(request.requestId), models };
}

export async function getModelRoute(request: ApiRequest): Promise<unknown> {
  const manifest = getModel(request.pathParameters.model_id ?? '');
  return { status: okStatus(request.requestId), model: toClarifaiModel(manifest, await modelVersionId(manifest.id)) };
}

export async function predictRoute(request: ApiRequest): Promise<unknown> {
  const manifest = getModel(request.pathParameters.model_id ?? '');
  const versionId = await modelVersionId(manifest.id);
  const requestedVersion = request.pathParameters.version_id;
  if (requestedVersion !== undefined && requestedVersion !== versionId) {
    throw new NotFoundError(
      'MODEL_VERSION_NOT_FOUND',
      `Model ${manifest.id} has no version ${JSON.stringify(requestedVersion)}; its version is ${versionId}. Omit the version to use the current one.`,
      StatusCode.MODEL_DOES_NOT_EXIST,
    );
  }

  const inputs = inputsOf(request.body, MAX_PREDICT_INPUTS);
  const outputConfig = outputConfigOf(request.body);
  const images = await decodeAll(inputs);
  const outputs = await predict(manifest.id, images, outputConfig);

  const model = toClarifaiModel(manifest, versionId);
  const createdAt = new Date().toISOString();
  return {
    status: okStatus(request.requestId),
    outputs: outputs.map((data, index) => ({
      id: randomUUID().replaceAll('-', ''),
      status: { code: StatusCode.SUCCESS, description: 'Ok' },
      created_at: createdAt,
      model,
      input: { id: inputIdOf(inputs[index]) ?? randomUUID().replaceAll('-', ''), data: {} },
      data,
    })),
  };
}

// Every image is checked before any model runs, so a bad one fails the request without
// spending inference time, and the error names the input by its position.
async function decodeAll(inputs: unknown[]): Promise<DecodedImage[]> {
  const limits = imageLimitsFromEnv();
  const images: DecodedImage[] = [];
  for (const [index, input] of inputs.entries()) {
    try {
      images.push(await decodeImage(imageBytesOf(input, index), limits));
    } catch (error) {
      if (error instanceof PerceptError && !error.message.startsWith('inputs[')) {
        throw new InvalidInputError(error.code, `inputs[${index}]: ${error.message}`, error.statusCode, error);
      }
      throw error;
    }
  }
  return images;
}

function outputConfigOf(body: unknown): OutputConfig | undefined {
  const config = (body as { model?: { output_info?: { output_config?: unknown } } } | null)?.model?.output_info
    ?.output_config;
  if (config === undefined) {
    return undefined;
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new InvalidInputError(
      'INVALID_OUTPUT_CONFIG',
      `model.output_info.output_config must be an object, got ${JSON.stringify(config)}. Send e.g. {"max_concepts": 5, "min_value": 0.5}.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  return config as OutputConfig;
}

function inputIdOf(input: unknown): string | undefined {
  const id = (input as { id?: unknown } | null)?.id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}
