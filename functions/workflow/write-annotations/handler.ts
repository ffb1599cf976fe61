import type { Context } from 'aws-lambda';
import type { OutputData } from '#commons/clarifai/types.ts';
import { toTaskError } from '#commons/lambda/task-errors.ts';
import { logger } from '#commons/logger.ts';
import { indexAnnotations } from '#commons/search/indexing.ts';
import { type AnnotationRecord, modelAnnotation, putAnnotations } from '#commons/storage/annotations.ts';
import { InputStatus, type StoredImage, setInputStatus } from '#commons/storage/inputs.ts';
import type { OutputLayout } from '#commons/workflows/compiler.ts';
import { putCompletionEvent } from '#commons/workflows/events.ts';
import { isOnnxModelType } from '#commons/workflows/model-types.ts';
import type { WorkflowInput } from '#commons/workflows/node-data.ts';
import { collectNodeOutputs, inlineEmbeddings } from '#commons/workflows/outputs.ts';

/** The event of a compiled workflow: the execution's outputs and where each node's output is. */
export interface WriteAnnotationsEvent {
  input: WorkflowInput;
  outputs: Record<string, unknown>;
  layout: OutputLayout;
}

/**
 * Step Functions task: stores each node's output as an annotation on the input, adds the
 * input's image embedding and predicted concepts to the search index, marks the input
 * SUCCESS and puts the completion event. Annotation ids are derived from the input,
 * model version and node, so running it twice is harmless.
 */
export async function handler(
  event: WriteAnnotationsEvent,
  context?: Context,
): Promise<{ input_id: string; annotation_ids: string[] }> {
  logger.addContext(context ?? ({} as Context));
  const workflowId = event.layout.workflow_id;
  logger.appendKeys({ inputId: event.input.id, appId: event.input.app_id, workflowId });

  try {
    const { annotations, image } = await workflowAnnotations(event);
    await putAnnotations(annotations);
    // Indexed before the input is marked SUCCESS, so that an input whose status is 30000 is searchable.
    await indexAnnotations(event.input.app_id, event.input.id, annotations);

    const stillExists = await setInputStatus(event.input.app_id, event.input.id, InputStatus.success(), image);
    if (!stillExists) {
      logger.warn('input was deleted while the workflow ran; its annotations are kept');
    }

    const annotationIds = annotations.map((annotation) => annotation.id);
    await putCompletionEvent({
      app_id: event.input.app_id,
      input_id: event.input.id,
      workflow_id: workflowId,
      status: 'SUCCEEDED',
      annotation_ids: annotationIds,
    });

    logger.info('annotations written', { count: annotations.length });
    return { input_id: event.input.id, annotation_ids: annotationIds };
  } catch (error) {
    logger.error('writing annotations failed', { error });
    throw toTaskError(error);
  } finally {
    logger.resetKeys();
  }
}

interface Annotated {
  annotations: AnnotationRecord[];
  image?: Partial<StoredImage>;
}

// One annotation per node that ran. A model node that found nothing still gets one, so the
// input shows which models ran on it. An operator with an empty output (a sampler or
// filter that only passes the input on) adds none, and neither does a skipped node.
async function workflowAnnotations(event: WriteAnnotationsEvent): Promise<Annotated> {
  const annotations: AnnotationRecord[] = [];
  let image: Partial<StoredImage> | undefined;

  for (const output of collectNodeOutputs(event)) {
    if (output.skipped === true) {
      continue;
    }
    const data: OutputData = await inlineEmbeddings(output.data);
    const empty = (data.concepts?.length ?? 0) + (data.regions?.length ?? 0) + (data.embeddings?.length ?? 0) === 0;
    if (empty && !isOnnxModelType(output.model.model_type_id)) {
      continue;
    }
    annotations.push(
      modelAnnotation(
        event.input.app_id,
        event.input.id,
        { id: output.model.id, versionId: output.model.model_version.id },
        data,
        output.node_id,
      ),
    );
    image ??= output.image_info;
  }
  return image === undefined ? { annotations } : { annotations, image };
}
