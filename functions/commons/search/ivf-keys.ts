/**
 * The keys of an app's index in the `ivf` backend. DynamoDB items use the single table's `pk`
 * and `sk`, but outside the app's partition, so that the index spreads over many partition
 * keys (docs/search.md explains the layout):
 *
 * | item                                  | pk                                         | sk         |
 * | ------------------------------------- | ------------------------------------------ | ---------- |
 * | an input's float vector               | VECTORS#<app_id>                           | <input_id> |
 * | a change to a cluster list since its snapshot | INDEX#<app_id>#<version_id>#<cluster> | <input_id> |
 * | the app's index state                 | APP#<app_id>                               | SEARCHINDEX |
 *
 * A trained version's centroids, quantizer and list snapshots are S3 objects under the
 * clusterer model's folder of the `models/` prefix (see `versionPrefix`).
 */
import { appPk } from '#commons/storage/keys.ts';

export const vectorsPk = (appId: string): string => `VECTORS#${appId}`;

export const listDeltaPk = (appId: string, versionId: string, cluster: number): string =>
  `INDEX#${appId}#${versionId}#${cluster}`;

export const indexStateKey = (appId: string): { pk: string; sk: string } => ({ pk: appPk(appId), sk: 'SEARCHINDEX' });

/** The key prefix of model artifacts, the `modelsPrefix` of the CDK storage construct. */
export const MODELS_PREFIX = 'models/';

/** The S3 folder of one trained clusterer version. */
export const versionPrefix = (appId: string, modelId: string, versionId: string): string =>
  `${MODELS_PREFIX}${appId}/${modelId}/clusters/${versionId}/`;

/** The S3 key of a version's centroids and quantizer. */
export const clusterModelKey = (appId: string, modelId: string, versionId: string): string =>
  `${versionPrefix(appId, modelId, versionId)}model.bin`;

/** The S3 key of the list snapshot of one cluster, written when the version was built. */
export const listSnapshotKey = (appId: string, modelId: string, versionId: string, cluster: number): string =>
  `${versionPrefix(appId, modelId, versionId)}lists/${cluster}.bin`;
