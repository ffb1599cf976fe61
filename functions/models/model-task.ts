/**
 * The workflow task shared by the model functions: read the image a node runs on (the
 * input image, or a crop inside a crop scope) from S3, run one model on it and return
 * the output in Clarifai's shape. Embedding vectors are written to S3 and returned as
 * references. Each model type has its own Lambda function (sized and scaled apart) built
 * from this module. The event is the NodeTaskPayload that a compiled workflow's Task
 * state sends.
 */
import type { Context } from 'aws-lambda';
import type { ModelTypeId, OutputData } from '#commons/clarifai/types.ts';
import { config } from '#commons/config.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { decodeImage, imageLimitsFromEnv } from '#commons/image/decode.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { toTaskError } from '#commons/lambda/task-errors.ts';
import { logger } from '#commons/logger.ts';
import { type RunnableModel, resolveRunnableModel } from '#commons/models/app-models.ts';
import { getImageBytes, putObject } from '#commons/storage/images.ts';
import {
  type EmbeddingRef,
  type NodeOutput,
  type NodeTaskEvent,
  type S3Ref,
  nodeObjectKey,
  outputOf,
} from '#commons/workflows/node-data.ts';
import {
  type NodeTaskPayload,
  type StoredNodeOutput,
  finishNodeOutput,
  toNodeTaskEvent,
} from '#commons/workflows/task-event.ts';

export function createModelTaskHandler(modelTypeId: ModelTypeId) {
  return async function handler(event: NodeTaskPayload, context?: Context): Promise<StoredNodeOutput> {
    logger.addContext(context ?? ({} as Context));
    const modelId = event.node.model.id;
    const nodeId = event.node.id;
    logger.appendKeys({ inputId: event.input.id, appId: event.input.app_id, modelId, nodeId });

    try {
      const model = await resolveRunnableModel(event.input.app_id, modelId);
      checkModelType(model, nodeId, modelTypeId);
      const output = await runNode(toNodeTaskEvent(event), model);
      return finishNodeOutput(event, output);
    } catch (error) {
      logger.error('model task failed', { error });
      throw toTaskError(error);
    } finally {
      logger.resetKeys();
    }
  };
}

function checkModelType({ manifest }: RunnableModel, nodeId: string, modelTypeId: ModelTypeId): void {
  if (manifest.model_type_id !== modelTypeId) {
    throw new InvalidInputError(
      'MODEL_TYPE_MISMATCH',
      `Model ${manifest.id} is a ${manifest.model_type_id}, but this function runs ${modelTypeId} models. Point the workflow node ${nodeId} at the ${manifest.model_type_id} function.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
}

async function readImage(ref: S3Ref): Promise<DecodedImage> {
  const limits = imageLimitsFromEnv();
  const bytes = await getImageBytes(ref, limits.maxBytes);
  return decodeImage(bytes, limits);
}

/** Runs the model of a compiled workflow's node on the crop, or else on the input image. */
async function runNode(event: NodeTaskEvent, model: RunnableModel): Promise<NodeOutput> {
  const image = await readImage(event.crop?.image ?? event.input.image);
  const [data = {}] = await model.predict([image]);

  const { embeddings, ...rest } = data;
  const embeddingRefs = embeddings === undefined ? undefined : await storeEmbeddings(event, embeddings);
  logger.info('model ran', {
    regions: rest.regions?.length,
    concepts: rest.concepts?.length,
    embeddings: embeddingRefs?.length,
    onCrop: event.crop !== undefined,
  });

  return outputOf(event, {
    data: embeddingRefs === undefined ? rest : { ...rest, embedding_refs: embeddingRefs },
    image_info: { width: image.width, height: image.height, format: image.format },
  });
}

// Vectors go to S3 as little-endian float32, because a few of them would already fill
// Step Functions' 256 KB state. They go to the Percept bucket even for an input in an
// external bucket, which this function may only read. The key depends on the input, node
// and crop only, so a second execution overwrites them.
async function storeEmbeddings(
  event: NodeTaskEvent,
  embeddings: NonNullable<OutputData['embeddings']>,
): Promise<EmbeddingRef[]> {
  return Promise.all(
    embeddings.map(async (embedding, index) => {
      const bytes = Buffer.alloc(embedding.vector.length * 4);
      embedding.vector.forEach((value, offset) => bytes.writeFloatLE(value, offset * 4));
      const ref = { bucket: config.bucketName, key: nodeObjectKey(event, `embedding-${index}.f32`) };
      await putObject(ref, bytes, 'application/octet-stream');
      return { vector_ref: ref, num_dimensions: embedding.num_dimensions };
    }),
  );
}
