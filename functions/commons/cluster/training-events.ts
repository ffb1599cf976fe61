/**
 * The EventBridge event that starts the training of a queued clusterer version. The API puts
 * it on the bus named by `EVENT_BUS_NAME` (the bus of workflow completion events), and a rule
 * on that bus sends it to the training function (`functions/cluster/train-version/handler.ts`):
 *
 *   source: "percept", detail-type: "Clusterer Version Queued"
 *   detail: {app_id, model_id, version_id}
 *
 * This module has no dependencies, so the CDK app and the local stack build the rule from it.
 */

export const CLUSTER_TRAINING_SOURCE = 'percept';
export const CLUSTER_TRAINING_DETAIL_TYPE = 'Clusterer Version Queued';

export interface ClusterTrainingDetail {
  app_id: string;
  model_id: string;
  version_id: string;
}

/** Returns the pattern of the rule that sends the event to the training function. */
export function clusterTrainingPattern(): { source: string[]; 'detail-type': string[] } {
  return { source: [CLUSTER_TRAINING_SOURCE], 'detail-type': [CLUSTER_TRAINING_DETAIL_TYPE] };
}

/** Returns whether `detail` names a version, as the API puts it. */
export function isClusterTrainingDetail(detail: unknown): detail is ClusterTrainingDetail {
  const fields = detail as Partial<Record<keyof ClusterTrainingDetail, unknown>> | null | undefined;
  return (
    typeof fields?.app_id === 'string' &&
    fields.app_id !== '' &&
    typeof fields.model_id === 'string' &&
    fields.model_id !== '' &&
    typeof fields.version_id === 'string' &&
    fields.version_id !== ''
  );
}
