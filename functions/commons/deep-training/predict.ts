/**
 * Prediction with a deep-trained version. The images go to the version's inference component
 * through the SageMaker runtime's InvokeEndpoint, in the serving container's JSON body. The
 * container's Clarifai outputs come back unchanged. The predict route and the workflows' model
 * functions reach this through `resolveRunnableModel`.
 */
import { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import sharp from 'sharp';
import type { OutputConfig, OutputData } from '#commons/clarifai/types.ts';
import { TrainingStatusCode } from '#commons/classifier/status.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { logger } from '#commons/logger.ts';
import type { RunnableModel } from '#commons/models/app-models.ts';
import type { ModelManifest } from '#commons/models/manifest.ts';
import { trainedVersion } from '#commons/storage/model-versions.ts';
import { sageMakerRuntimeClient } from '#commons/deep-training/clients.ts';
import { describeComponent, tryRegisterAutoScaling, wakeComponent } from '#commons/deep-training/deploy.ts';
import { ModelServerError, ServiceUnavailableError } from '#commons/deep-training/errors.ts';
import type { DeepModelRecord } from '#commons/deep-training/model-type.ts';
import { type DeepDeployment, type DeepModelVersionRecord, putDeepVersionIf } from '#commons/deep-training/versions.ts';

/**
 * The maximum request body sent in one InvokeEndpoint call, in bytes, below the 6 MB that a
 * real-time endpoint accepts (AWS re:Post, "ModelError ... client error 413"). Larger batches
 * are split. NOTE: one image whose PNG is larger than that is still sent alone, and fails.
 */
const MAX_REQUEST_BYTES = 5 * 1024 * 1024;

/**
 * Returns a deep-trained model ready to predict with version `versionId`, or else its
 * newest trained version. Throws `MODEL_NOT_TRAINED` when there is none.
 */
export async function resolveDeepModel(appId: string, record: DeepModelRecord, versionId?: string): Promise<RunnableModel> {
  const version = (await trainedVersion(appId, record.id, versionId)) as unknown as DeepModelVersionRecord;
  const deployment = version.deployment;
  if (deployment === undefined) {
    throw new ServiceUnavailableError(
      'MODEL_NOT_DEPLOYED',
      `Version ${version.id} of model ${record.id} is trained but has no endpoint deployment. Train a new version with POST /v2/models/${record.id}/versions.`,
    );
  }
  const manifest = {
    ...(version.manifest ?? {}),
    id: record.id,
    name: record.name,
    description: record.description,
    model_type_id: record.model_type_id,
    created_at: record.created_at,
    concepts: version.concepts,
  } as unknown as ModelManifest;

  return {
    manifest,
    versionId: version.id,
    record,
    predict: async (images, outputConfig) => {
      const outputs = await invokeDeployment(deployment, images, outputConfig);
      if (deployment.auto_scaling !== 'registered') {
        await ensureAutoScaling(version, deployment);
      }
      return outputs;
    },
  };
}

/** Sends the images to the inference component, in as few InvokeEndpoint calls as the size limit allows. */
export async function invokeDeployment(
  deployment: DeepDeployment,
  images: readonly DecodedImage[],
  outputConfig?: OutputConfig,
): Promise<OutputData[]> {
  const encoded = await Promise.all(
    images.map(async (image) =>
      // PNG keeps the decoded pixels exactly, so the container gets the pixels that Lambda models get.
      (await sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } }).png().toBuffer()).toString('base64'),
    ),
  );
  const outputs: OutputData[] = [];
  let batch: string[] = [];
  let batchBytes = 0;
  for (const base64 of encoded) {
    if (batch.length > 0 && batchBytes + base64.length > MAX_REQUEST_BYTES) {
      outputs.push(...(await invokeBatch(deployment, batch, outputConfig)));
      batch = [];
      batchBytes = 0;
    }
    batch.push(base64);
    batchBytes += base64.length;
  }
  if (batch.length > 0) {
    outputs.push(...(await invokeBatch(deployment, batch, outputConfig)));
  }
  return outputs;
}

async function invokeBatch(deployment: DeepDeployment, images: readonly string[], outputConfig?: OutputConfig): Promise<OutputData[]> {
  const body = {
    inputs: images.map((base64) => ({ data: { image: { base64 } } })),
    ...(outputConfig === undefined ? {} : { output_config: outputConfig }),
  };
  let responseBody: Uint8Array | undefined;
  try {
    const response = await sageMakerRuntimeClient().send(
      new InvokeEndpointCommand({
        EndpointName: deployment.endpoint_name,
        InferenceComponentName: deployment.inference_component_name,
        ContentType: 'application/json',
        Accept: 'application/json',
        Body: Buffer.from(JSON.stringify(body)),
      }),
    );
    responseBody = response.Body;
  } catch (error) {
    throw await toPredictError(deployment, error);
  }

  const parsed = JSON.parse(Buffer.from(responseBody ?? new Uint8Array()).toString('utf8')) as { outputs?: Array<{ data?: OutputData }> };
  if (!Array.isArray(parsed.outputs) || parsed.outputs.length !== images.length) {
    throw new ModelServerError(
      'MODEL_SERVER_INVALID_RESPONSE',
      `Inference component ${deployment.inference_component_name} returned ${parsed.outputs?.length ?? 'no'} outputs for ${images.length} images.`,
    );
  }
  return parsed.outputs.map((output) => output.data ?? {});
}

/**
 * Maps an InvokeEndpoint failure to a Percept error. A container's 400 keeps the container's
 * error code and message. A rejected call (ValidationError) is explained from the inference
 * component's state. A component scaled to zero is woken up, and the error directs the caller to retry.
 */
async function toPredictError(deployment: DeepDeployment, error: unknown): Promise<unknown> {
  const name = (error as Error).name;
  const component = deployment.inference_component_name;
  if (name === 'ModelError') {
    const { OriginalStatusCode: status, OriginalMessage: original } = error as { OriginalStatusCode?: number; OriginalMessage?: string };
    const detail = parseContainerError(original);
    if (status === 400 && detail !== undefined) {
      return new InvalidInputError(detail.error_code, detail.message, StatusCode.INPUT_INVALID_REQUEST, error);
    }
    return new ModelServerError('MODEL_SERVER_FAILED', `Inference component ${component} failed with HTTP ${status}: ${original ?? (error as Error).message}`, error);
  }
  if (name !== 'ValidationError' && name !== 'ValidationException') {
    return error;
  }

  const state = await describeComponent(deployment);
  if (state === undefined) {
    return new ServiceUnavailableError('MODEL_NOT_DEPLOYED', `Inference component ${component} does not exist on endpoint ${deployment.endpoint_name}. Train a new version to deploy the model again.`, error);
  }
  if (state.status === 'Failed') {
    return new ServiceUnavailableError('MODEL_DEPLOYMENT_FAILED', `Inference component ${component} failed to deploy: ${state.failureReason ?? 'no reason given'}. Train a new version to deploy again.`, error);
  }
  if (state.status !== 'InService') {
    return new ServiceUnavailableError('MODEL_ENDPOINT_NOT_READY', `Inference component ${component} is ${state.status}, not InService yet. Retry in a few minutes.`, error);
  }
  if (state.desiredCopyCount === 0) {
    await wakeComponent(deployment);
    return new ServiceUnavailableError('MODEL_ENDPOINT_SCALED_TO_ZERO', `Inference component ${component} had scaled to zero copies and is starting one now. Retry in a few minutes.`, error);
  }
  if (state.currentCopyCount === 0) {
    return new ServiceUnavailableError('MODEL_ENDPOINT_NOT_READY', `Inference component ${component} is starting ${state.desiredCopyCount} copies and has none running yet. Retry in a few minutes.`, error);
  }
  return new ModelServerError('MODEL_ENDPOINT_REJECTED', `Endpoint ${deployment.endpoint_name} rejected the request for ${component}: ${(error as Error).message}`, error);
}

function parseContainerError(text: string | undefined): { error_code: string; message: string } | undefined {
  try {
    const parsed = JSON.parse(text ?? '') as { error_code?: unknown; message?: unknown };
    return typeof parsed.error_code === 'string' && typeof parsed.message === 'string'
      ? { error_code: parsed.error_code, message: parsed.message }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Registers auto scaling left pending at deployment and records it on the version. A failure to record it is only logged. */
async function ensureAutoScaling(version: DeepModelVersionRecord, deployment: DeepDeployment): Promise<void> {
  if ((await tryRegisterAutoScaling(deployment)) !== 'registered') {
    return;
  }
  deployment.auto_scaling = 'registered';
  const stored = await putDeepVersionIf(
    { ...version, deployment, modified_at: new Date().toISOString() },
    [TrainingStatusCode.MODEL_TRAINED],
  ).catch((error: unknown) => {
    logger.error('recording auto scaling failed', { versionId: version.id, error });
    return false;
  });
  logger.info('auto scaling registered', { versionId: version.id, stored });
}
