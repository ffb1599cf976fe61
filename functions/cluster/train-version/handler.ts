import type { Context, EventBridgeEvent } from 'aws-lambda';
import { CLUSTER_TRAINING_DETAIL_TYPE, type ClusterTrainingDetail, isClusterTrainingDetail } from '#commons/cluster/training-events.ts';
import { type TrainingOutcome, trainQueuedClusterVersion } from '#commons/cluster/training.ts';
import { logger } from '#commons/logger.ts';

type ClusterTrainingEvent = EventBridgeEvent<typeof CLUSTER_TRAINING_DETAIL_TYPE, ClusterTrainingDetail>;

/**
 * EventBridge target of "Clusterer Version Queued" events: trains the queued clusterer version
 * and stores it as trained or failed. An event for a version that is not queued (a duplicate,
 * or one that arrives late) changes nothing. An error other than a failed training (a table or
 * S3 outage) is thrown, so Lambda retries the invocation with the same request id, which may
 * take the version over again.
 */
export async function handler(event: ClusterTrainingEvent, context?: Context): Promise<{ outcome: TrainingOutcome }> {
  logger.addContext(context ?? ({} as Context));
  if (event['detail-type'] !== CLUSTER_TRAINING_DETAIL_TYPE || !isClusterTrainingDetail(event.detail)) {
    logger.warn('event is not a queued clusterer version', { detailType: event['detail-type'], eventId: event.id });
    return { outcome: 'ignored' };
  }
  logger.appendKeys({ appId: event.detail.app_id, modelId: event.detail.model_id, versionId: event.detail.version_id, eventId: event.id });

  try {
    const outcome = await trainQueuedClusterVersion(event.detail, context?.awsRequestId ?? event.id);
    return { outcome };
  } catch (error) {
    logger.error('clusterer training event failed', { error });
    throw error;
  } finally {
    logger.resetKeys();
  }
}
