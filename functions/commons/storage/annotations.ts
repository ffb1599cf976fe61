/**
 * Annotations: what a model found on an input, stored in Clarifai's annotation shape.
 */
import { createHash } from 'node:crypto';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient } from '#commons/aws/clients.ts';
import type { OutputData, Status } from '#commons/clarifai/types.ts';
import { config } from '#commons/config.ts';
import { StatusCode } from '#commons/errors.ts';
import { annotationSk, annotationSkPrefix, appPk } from '#commons/storage/keys.ts';
import { queryByPrefix } from '#commons/storage/query.ts';

export interface AnnotationRecord {
  id: string;
  app_id: string;
  input_id: string;
  data: OutputData;
  model_version_id: string;
  /** The model that produced the annotation, as Clarifai's `worker` field names it. */
  worker: { model: { id: string; model_version: { id: string } } };
  status: Status;
  created_at: string;
  modified_at: string;
}

// DynamoDB's BatchWriteItem takes at most 25 requests per call.
const BATCH_SIZE = 25;

/**
 * Derives an annotation id from the input and model version (and the workflow node, when
 * one workflow runs a model in several nodes), so that writing the same model output twice
 * (a retried or duplicate execution) overwrites instead of adding.
 */
export function annotationId(inputId: string, modelId: string, modelVersionId: string, nodeId?: string): string {
  const parts = nodeId === undefined ? [inputId, modelId, modelVersionId] : [inputId, modelId, modelVersionId, nodeId];
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32);
}

export function modelAnnotation(
  appId: string,
  inputId: string,
  model: { id: string; versionId: string },
  data: OutputData,
  nodeId?: string,
): AnnotationRecord {
  const now = new Date().toISOString();
  return {
    id: annotationId(inputId, model.id, model.versionId, nodeId),
    app_id: appId,
    input_id: inputId,
    data,
    model_version_id: model.versionId,
    worker: { model: { id: model.id, model_version: { id: model.versionId } } },
    status: { code: StatusCode.ANNOTATION_SUCCESS, description: 'Annotation success' },
    created_at: now,
    modified_at: now,
  };
}

export async function putAnnotations(annotations: readonly AnnotationRecord[]): Promise<void> {
  const requests = annotations.map((annotation) => ({
    PutRequest: {
      Item: { pk: appPk(annotation.app_id), sk: annotationSk(annotation.input_id, annotation.id), ...annotation },
    },
  }));
  await writeBatches(requests);
}

export async function listAnnotations(appId: string, inputId: string): Promise<AnnotationRecord[]> {
  const keys = await queryAnnotationItems(appId, inputId);
  return keys.map(({ pk: _pk, sk: _sk, ...annotation }) => annotation as unknown as AnnotationRecord);
}

export async function deleteAnnotations(appId: string, inputId: string): Promise<void> {
  const items = await queryAnnotationItems(appId, inputId);
  await writeBatches(items.map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } })));
}

function queryAnnotationItems(appId: string, inputId: string): Promise<Array<Record<string, unknown>>> {
  return queryByPrefix(appPk(appId), annotationSkPrefix(inputId));
}

type WriteRequest = { PutRequest: { Item: Record<string, unknown> } } | { DeleteRequest: { Key: Record<string, unknown> } };

async function writeBatches(requests: readonly WriteRequest[]): Promise<void> {
  for (let start = 0; start < requests.length; start += BATCH_SIZE) {
    let pending: WriteRequest[] = requests.slice(start, start + BATCH_SIZE);
    // DynamoDB may return some requests unprocessed under load; send them again with backoff.
    for (let attempt = 0; pending.length > 0; attempt += 1) {
      if (attempt > 0) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(50 * 2 ** attempt, 2000)));
      }
      if (attempt > 8) {
        throw new Error(`DynamoDB left ${pending.length} annotation writes unprocessed after ${attempt} attempts.`);
      }
      const result = await documentClient().send(
        new BatchWriteCommand({ RequestItems: { [config.tableName]: pending } }),
      );
      pending = (result.UnprocessedItems?.[config.tableName] ?? []) as WriteRequest[];
    }
  }
}
