import type { Context } from 'aws-lambda';
import { toTaskError } from '#commons/lambda/task-errors.ts';
import { logger } from '#commons/logger.ts';
import { modelAnnotation, putAnnotations } from '#commons/storage/annotations.ts';
import { InputStatus, setInputStatus } from '#commons/storage/inputs.ts';
import type { WorkflowExecutionInput } from '#commons/workflows/default-workflow.ts';
import type { ModelTaskResult } from '../../models/model-task.ts';

export interface WriteAnnotationsEvent extends WorkflowExecutionInput {
  outputs: ModelTaskResult[];
}

/**
 * Step Functions task: stores each model output as an annotation on the input, then
 * marks the input SUCCESS. Annotation ids are derived, so running it twice is harmless.
 */
export async function handler(
  event: WriteAnnotationsEvent,
  context?: Context,
): Promise<{ input_id: string; annotation_ids: string[] }> {
  logger.addContext(context ?? ({} as Context));
  logger.appendKeys({ inputId: event.input.id, appId: event.input.app_id });

  try {
    const annotations = event.outputs.map((output) =>
      modelAnnotation(
        event.input.app_id,
        event.input.id,
        { id: output.model.id, versionId: output.model.model_version.id },
        output.data,
      ),
    );
    await putAnnotations(annotations);

    const image = event.outputs[0]?.image;
    const stillExists = await setInputStatus(event.input.app_id, event.input.id, InputStatus.success(), image);
    if (!stillExists) {
      logger.warn('input was deleted while the workflow ran; its annotations are kept');
    }

    logger.info('annotations written', { count: annotations.length });
    return { input_id: event.input.id, annotation_ids: annotations.map((annotation) => annotation.id) };
  } catch (error) {
    logger.error('writing annotations failed', { error });
    throw toTaskError(error);
  } finally {
    logger.resetKeys();
  }
}
