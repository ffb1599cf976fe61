/**
 * Step Functions task: runs one operator node of a compiled workflow. One function serves
 * every operator type, because operators load no model and are light enough to share one
 * memory size. One function also keeps its containers warm for all of them and needs one
 * set of grants (read images, write crops, write annotations, put events).
 */
import type { Context } from 'aws-lambda';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { toTaskError } from '#commons/lambda/task-errors.ts';
import { logger } from '#commons/logger.ts';
import { isOperatorTypeId } from '#commons/workflows/operator.ts';
import {
  type NodeTaskPayload,
  type StoredNodeOutput,
  finishNodeOutput,
  toNodeTaskEvent,
} from '#commons/workflows/task-event.ts';
import { OPERATORS } from './index.ts';

export async function handler(payload: NodeTaskPayload, context?: Context): Promise<StoredNodeOutput> {
  logger.addContext(context ?? ({} as Context));
  const typeId = payload.node.model.model_type_id;
  logger.appendKeys({
    inputId: payload.input.id,
    appId: payload.input.app_id,
    nodeId: payload.node.id,
    modelId: payload.node.model.id,
    modelTypeId: typeId,
  });

  try {
    if (!isOperatorTypeId(typeId)) {
      throw new InvalidInputError(
        'MODEL_TYPE_MISMATCH',
        `Node "${payload.node.id}": model ${payload.node.model.id} is a ${typeId}, which is not an operator type. Point the node at the function of its model type.`,
        StatusCode.MODEL_INVALID_ARGUMENT,
      );
    }
    const operator = OPERATORS[typeId];
    const params = operator.validateParams(payload.node.params);
    const event = toNodeTaskEvent(payload);

    const output = await operator.run(event, params);

    logger.info('operator ran', { dropped: output.dropped === true, routes: output.routes, crops: output.crops?.length });
    return finishNodeOutput(payload, output);
  } catch (error) {
    logger.error('operator failed', { error });
    throw toTaskError(error);
  } finally {
    logger.resetKeys();
  }
}
