/**
 * Model routes: list, describe, create and delete models, and predict on images sent in
 * the request. Built-in models come from the catalog; an app's own models (operators) are
 * stored in the table and run only inside workflows.
 */
import { randomUUID } from 'node:crypto';
import type { OutputConfig } from '#commons/clarifai/types.ts';
import { EMBEDDING_CLASSIFIER_TYPE } from '#commons/classifier/model-type.ts';
import { resolveEmbedder } from '#commons/classifier/versions.ts';
import { CLUSTERER_TYPE } from '#commons/cluster/model-type.ts';
import { isDeepTrainingRequest, prepareDeepModel } from '#commons/deep-training/model-type.ts';
import { isDeepVersion } from '#commons/deep-training/versions.ts';
import { InvalidInputError, NotFoundError, StatusCode } from '#commons/errors.ts';
import { type ApiRequest, parsePaging } from '#commons/http/api-event.ts';
import { decodeInputImage, inputIdOf, inputsOf, metadataOf } from '#commons/http/image-input.ts';
import { okStatus } from '#commons/http/responses.ts';
import { imageLimitsFromEnv } from '#commons/image/decode.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { logger } from '#commons/logger.ts';
import { resolveRunnableModel } from '#commons/models/app-models.ts';
import { toClarifaiModel } from '#commons/models/clarifai-model.ts';
import { listModels } from '#commons/models/index.ts';
import { dropIndexVersion } from '#commons/search/ivf-versions.ts';
import { deleteModelVersion, listModelVersions } from '#commons/storage/model-versions.ts';
import { createModel, deleteModelRecord, getAppModel } from '#commons/storage/models.ts';
import { listWorkflowRecords } from '#commons/storage/workflows.ts';
import { isOnnxModelType } from '#commons/workflows/model-types.ts';
import { deleteDeepVersionResources } from '../../deep-training/version-routes.ts';
import { describeModel, listAllModels, prepareNewModel, toClarifaiAppModel } from '../model-store.ts';
import { attachOnnxModel } from '../onnx-upload.ts';

/** Clarifai accepts at most 128 inputs in one predict call. */
export const MAX_PREDICT_INPUTS = 128;

export async function listModelsRoute(request: ApiRequest): Promise<unknown> {
  const { page, perPage } = parsePaging(request.query);
  const models = (await listAllModels(request.appId)).slice((page - 1) * perPage, page * perPage);
  return { status: okStatus(request.requestId), models };
}

export async function getModelRoute(request: ApiRequest): Promise<unknown> {
  const model = await describeModel(request.appId, request.pathParameters.model_id ?? '');
  return { status: okStatus(request.requestId), model };
}

export async function createModelRoute(request: ApiRequest): Promise<unknown> {
  const prepared = prepareNewModel(request.appId, request.body);
  let record = prepared;
  if (isOnnxModelType(prepared.model_type_id)) {
    // A visual model has either a deep-training template (train_info) or an uploaded ONNX file.
    record = isDeepTrainingRequest(request.body) ? prepareDeepModel(prepared, request.body) : await attachOnnxModel(prepared, request.body);
  }
  if (record.model_type_id === EMBEDDING_CLASSIFIER_TYPE) {
    // Rejects an embedding model id that is neither built in nor a visual-embedder of the app.
    await resolveEmbedder(request.appId, record);
  }
  await createModel(record);
  logger.info('model created', { appId: request.appId, modelId: record.id, modelTypeId: record.model_type_id });
  return { status: okStatus(request.requestId), model: toClarifaiAppModel(record) };
}

export async function deleteModelRoute(request: ApiRequest): Promise<unknown> {
  const modelId = request.pathParameters.model_id ?? '';
  if (listModels().some((manifest) => manifest.id === modelId)) {
    throw new InvalidInputError(
      'MODEL_NOT_DELETABLE',
      `Model ${JSON.stringify(modelId)} is a built-in model, which cannot be deleted. Only models created with POST /v2/models can.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  const record = await getAppModel(request.appId, modelId);
  const users = (await listWorkflowRecords(request.appId)).filter((workflow) =>
    workflow.nodes.some((node) => node.model.id === record.id),
  );
  if (users.length > 0) {
    throw new InvalidInputError(
      'MODEL_IN_USE',
      `Model ${JSON.stringify(record.id)} is used by the workflows ${users.map((workflow) => JSON.stringify(workflow.id)).join(', ')}. Delete those workflows first.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  for (const version of await listModelVersions(request.appId, record.id)) {
    if (isDeepVersion(version)) {
      await deleteDeepVersionResources(version);
    }
    if (record.model_type_id === CLUSTERER_TYPE) {
      await dropIndexVersion(request.appId, record.id, version.id);
    }
    await deleteModelVersion(request.appId, record.id, version.id);
  }
  await deleteModelRecord(request.appId, record.id);
  logger.info('model deleted', { appId: request.appId, modelId: record.id });
  return { status: okStatus(request.requestId) };
}

export async function predictRoute(request: ApiRequest): Promise<unknown> {
  const runnable = await resolveRunnableModel(
    request.appId,
    request.pathParameters.model_id ?? '',
    request.pathParameters.version_id,
  );
  const { manifest, versionId } = runnable;
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
  const outputs = await runnable.predict(images, outputConfig);

  const model =
    runnable.record === undefined
      ? toClarifaiModel(manifest, versionId)
      : toClarifaiAppModel(runnable.record, {
          id: versionId,
          created_at: runnable.record.created_at,
          status: { code: StatusCode.MODEL_TRAINED, description: 'Model is trained and ready' },
        });
  const createdAt = new Date().toISOString();
  return {
    status: okStatus(request.requestId),
    outputs: outputs.map((data, index) => ({
      id: randomUUID().replaceAll('-', ''),
      status: { code: StatusCode.SUCCESS, description: 'Ok' },
      created_at: createdAt,
      model,
      input: { id: inputIdOf(inputs[index], index), data: {} },
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
    images.push((await decodeInputImage(input, index, limits)).image);
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

