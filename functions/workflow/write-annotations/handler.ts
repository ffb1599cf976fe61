import type { Context } from 'aws-lambda';
import type { OutputData } from '#commons/clarifai/types.ts';
import { toTaskError } from '#commons/lambda/task-errors.ts';
import { logger } from '#commons/logger.ts';
import { type AnnotationRecord, modelAnnotation, putAnnotations } from '#commons/storage/annotations.ts';
import { InputStatus, type StoredImage, setInputStatus } from '#commons/storage/inputs.ts';
import type { OutputLayout } from '#commons/workflows/compiler.ts';
import type { WorkflowExecutionInput } from '#commons/workflows/default-workflow.ts';
import { putCompletionEvent } from '#commons/workflows/events.ts';
import type { WorkflowInput } from '#commons/workflows/node-data.ts';
import { collectNodeOutputs, inlineEmbeddings } from '#commons/workflows/outputs.ts';
import type { ModelTaskResult } from '../../models/model-task.ts';

/** The event of the fixed default workflow: one result per model. */
export interface DefaultWorkflowAnnotationsEvent extends WorkflowExecutionInput {
  outputs: ModelTaskResult[];
}

/** The event of a compiled workflow: the execution's outputs and where each node's output is. */
export interface WorkflowAnnotationsEvent {
  input: WorkflowInput;
  outputs: Record<string, unknown>;
  layout: OutputLayout;
}

export type WriteAnnotationsEvent = DefaultWorkflowAnnotationsEvent | WorkflowAnnotationsEvent;

/**
 * Step Functions task: stores each node's output as an annotation on the input, marks the
 * input SUCCESS and puts the completion event. Annotation ids are derived from the input,
 * model version and node, so running it twice is harmless.
 */
export async function handler(
  event: WriteAnnotationsEvent,
  context?: Context,
): Promise<{ input_id: string; annotation_ids: string[] }> {
  logger.addContext(context ?? ({} as Context));
  const workflowId = 'layout' in event ? event.layout.workflow_id : undefined;
  logger.appendKeys({ inputId: event.input.id, appId: event.input.app_id, workflowId });

  try {
    const { annotations, image } =
      'layout' in event ? await workflowAnnotations(event) : defaultWorkflowAnnotations(event);
    await putAnnotations(annotations);

    const stillExists = await setInputStatus(event.input.app_id, event.input.id, InputStatus.success(), image);
    if (!stillExists) {
      logger.warn('input was deleted while the workflow ran; its annotations are kept');
    }

    const annotationIds = annotations.map((annotation) => annotation.id);
    if (workflowId !== undefined) {
      await putCompletionEvent({
        app_id: event.input.app_id,
        input_id: event.input.id,
        workflow_id: workflowId,
        status: 'SUCCEEDED',
        annotation_ids: annotationIds,
      });
    }

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

function defaultWorkflowAnnotations(event: DefaultWorkflowAnnotationsEvent): Annotated {
  const annotations = event.outputs.map((output) =>
    modelAnnotation(
      event.input.app_id,
      event.input.id,
      { id: output.model.id, versionId: output.model.model_version.id },
      output.data,
    ),
  );
  return { annotations, image: event.outputs[0]?.image };
}

// One annotation per node that ran and found something; skipped nodes and empty outputs
// add nothing.
async function workflowAnnotations(event: WorkflowAnnotationsEvent): Promise<Annotated> {
  const annotations: AnnotationRecord[] = [];
  let image: Partial<StoredImage> | undefined;

  for (const output of collectNodeOutputs(event)) {
    if (output.skipped === true) {
      continue;
    }
    const data: OutputData = await inlineEmbeddings(output.data);
    if ((data.concepts?.length ?? 0) + (data.regions?.length ?? 0) + (data.embeddings?.length ?? 0) === 0) {
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
