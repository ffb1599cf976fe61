/**
 * The workflow task shared by the model functions: read the image a node runs on (the
 * input image, or a crop inside a crop scope) from S3, run one model on it and return
 * the output in Clarifai's shape. Embedding vectors are written to S3 and returned as
 * references. Each model type has its own Lambda function (sized and scaled apart) built
 * from this module.
 *
 * Two event shapes arrive: the NodeTaskPayload of compiled workflows, and the
 * `{input, model_id, node_id}` event of the fixed default workflow.
 */
import type { Context } from 'aws-lambda';
import type { ModelTypeId, OutputData } from '#commons/clarifai/types.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { decodeImage, imageLimitsFromEnv } from '#commons/image/decode.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { toTaskError } from '#commons/lambda/task-errors.ts';
import { logger } from '#commons/logger.ts';
import { type RunnableModel, resolveRunnableModel } from '#commons/models/app-models.ts';
import { getImageBytes, putObject } from '#commons/storage/images.ts';
import type { WorkflowExecutionInput } from '#commons/workflows/default-workflow.ts';
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
  isNodeTaskPayload,
  toNodeTaskEvent,
} from '#commons/workflows/task-event.ts';

/** The event of the fixed default workflow's Task states. */
export interface ModelTaskEvent extends WorkflowExecutionInput {
  model_id: string;
  node_id: string;
}

/** The result for the fixed default workflow. */
export interface ModelTaskResult {
  node_id: string;
  model: { id: string; model_type_id: ModelTypeId; model_version: { id: string } };
  data: OutputData;
  image: { width: number; height: number; format: string };
}

export function createModelTaskHandler(modelTypeId: ModelTypeId) {
  async function handler(event: NodeTaskPayload, context?: Context): Promise<StoredNodeOutput>;
  async function handler(event: ModelTaskEvent, context?: Context): Promise<ModelTaskResult>;
  async function handler(
    event: NodeTaskPayload | ModelTaskEvent,
    context?: Context,
  ): Promise<StoredNodeOutput | ModelTaskResult> {
    logger.addContext(context ?? ({} as Context));
    const modelId = isNodeTaskPayload(event) ? event.node.model.id : event.model_id;
    const nodeId = isNodeTaskPayload(event) ? event.node.id : event.node_id;
    logger.appendKeys({ inputId: event.input.id, appId: event.input.app_id, modelId, nodeId });

    try {
      const model = await resolveRunnableModel(event.input.app_id, modelId);
      checkModelType(model, nodeId, modelTypeId);
      if (isNodeTaskPayload(event)) {
        const output = await runNode(toNodeTaskEvent(event), model);
        return finishNodeOutput(event, output);
      }
      return await runDefaultWorkflowNode(event, model, modelTypeId);
    } catch (error) {
      logger.error('model task failed', { error });
      throw toTaskError(error);
    } finally {
      logger.resetKeys();
    }
  }
  return handler;
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
// Step Functions' 256 KB state. The key depends on the node and crop only, so a second
// execution overwrites them.
async function storeEmbeddings(
  event: NodeTaskEvent,
  embeddings: NonNullable<OutputData['embeddings']>,
): Promise<EmbeddingRef[]> {
  return Promise.all(
    embeddings.map(async (embedding, index) => {
      const bytes = Buffer.alloc(embedding.vector.length * 4);
      embedding.vector.forEach((value, offset) => bytes.writeFloatLE(value, offset * 4));
      const ref = { bucket: event.input.image.bucket, key: nodeObjectKey(event, `embedding-${index}.f32`) };
      await putObject(ref, bytes, 'application/octet-stream');
      return { vector_ref: ref, num_dimensions: embedding.num_dimensions };
    }),
  );
}

async function runDefaultWorkflowNode(
  event: ModelTaskEvent,
  model: RunnableModel,
  modelTypeId: ModelTypeId,
): Promise<ModelTaskResult> {
  const image = await readImage(event.input.image);
  const [data] = await model.predict([image]);

  logger.info('model ran', { regions: data?.regions?.length, concepts: data?.concepts?.length });
  return {
    node_id: event.node_id,
    model: { id: event.model_id, model_type_id: modelTypeId, model_version: { id: model.versionId } },
    data: data ?? {},
    image: { width: image.width, height: image.height, format: image.format },
  };
}
