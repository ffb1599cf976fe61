/**
 * The workflow task shared by the model functions: read the input's image from S3, run
 * one model on it and return the output in Clarifai's shape. Each model type has its
 * own Lambda function (sized and scaled apart) built from this module.
 */
import type { Context } from 'aws-lambda';
import type { ModelTypeId, OutputData } from '#commons/clarifai/types.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { decodeImage, imageLimitsFromEnv } from '#commons/image/decode.ts';
import { toTaskError } from '#commons/lambda/task-errors.ts';
import { logger } from '#commons/logger.ts';
import { getModel, modelVersionId, predict } from '#commons/models/index.ts';
import { getImageBytes } from '#commons/storage/images.ts';
import type { WorkflowExecutionInput } from '#commons/workflows/default-workflow.ts';

export interface ModelTaskEvent extends WorkflowExecutionInput {
  model_id: string;
  node_id: string;
}

export interface ModelTaskResult {
  node_id: string;
  model: { id: string; model_type_id: ModelTypeId; model_version: { id: string } };
  data: OutputData;
  image: { width: number; height: number; format: string };
}

export function createModelTaskHandler(modelTypeId: ModelTypeId) {
  return async function handler(event: ModelTaskEvent, context?: Context): Promise<ModelTaskResult> {
    logger.addContext(context ?? ({} as Context));
    logger.appendKeys({ inputId: event.input.id, appId: event.input.app_id, modelId: event.model_id });

    try {
      const manifest = getModel(event.model_id);
      if (manifest.model_type_id !== modelTypeId) {
        throw new InvalidInputError(
          'MODEL_TYPE_MISMATCH',
          `Model ${event.model_id} is a ${manifest.model_type_id}, but this function runs ${modelTypeId} models. Point the workflow node ${event.node_id} at the ${manifest.model_type_id} function.`,
          StatusCode.MODEL_INVALID_ARGUMENT,
        );
      }

      const limits = imageLimitsFromEnv();
      const bytes = await getImageBytes(event.input.image, limits.maxBytes);
      const image = await decodeImage(bytes, limits);
      const [data] = await predict(event.model_id, [image]);

      logger.info('model ran', { regions: data?.regions?.length, concepts: data?.concepts?.length });
      return {
        node_id: event.node_id,
        model: { id: manifest.id, model_type_id: modelTypeId, model_version: { id: await modelVersionId(manifest.id) } },
        data: data ?? {},
        image: { width: image.width, height: image.height, format: image.format },
      };
    } catch (error) {
      logger.error('model task failed', { error });
      throw toTaskError(error);
    } finally {
      logger.resetKeys();
    }
  };
}
