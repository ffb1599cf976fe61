import type { Context, EventBridgeEvent } from 'aws-lambda';
import { logger } from '#commons/logger.ts';
import { type TrainingJobStateDetail, applyTrainingJobState } from '#commons/deep-training/job-state.ts';
import { TRAINING_JOB_STATE_CHANGE } from '#commons/deep-training/settings.ts';

type TrainingJobStateEvent = EventBridgeEvent<typeof TRAINING_JOB_STATE_CHANGE, TrainingJobStateDetail>;

/**
 * EventBridge target of SageMaker's training job status events for Percept's jobs. An error
 * other than a failed training (a table or S3 outage) is thrown, so EventBridge retries the event.
 */
export async function handler(event: TrainingJobStateEvent, context?: Context): Promise<{ outcome: string }> {
  logger.addContext(context ?? ({} as Context));
  if (event['detail-type'] !== TRAINING_JOB_STATE_CHANGE || typeof event.detail?.TrainingJobName !== 'string') {
    logger.warn('event is not a training job state change', { detailType: event['detail-type'], eventId: event.id });
    return { outcome: 'ignored' };
  }
  logger.appendKeys({ trainingJobName: event.detail.TrainingJobName, eventId: event.id });

  try {
    const outcome = await applyTrainingJobState(event.detail);
    return { outcome };
  } catch (error) {
    logger.error('training job event failed', { error });
    throw error;
  } finally {
    logger.resetKeys();
  }
}
