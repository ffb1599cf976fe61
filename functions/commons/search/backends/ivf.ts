/**
 * The `ivf` search backend: an inverted-file index kept in DynamoDB and S3, so that no
 * function keeps the index in memory and any number of functions write to it at once.
 *
 * - Every input's float vector is an item of the app's `VECTORS#<app_id>` partition. Before
 *   the app trains a clusterer, search is exact over that partition.
 * - A trained clusterer version (`index-state.ts` names the active one) has its centroids and
 *   quantizer in S3, a snapshot of each cluster's list of codes in S3, and the changes since
 *   the snapshot in one DynamoDB partition per cluster (`list-deltas.ts`).
 * - A search probes the lists of the nearest centroids: snapshot plus changes, scored by
 *   their codes, then re-ranks the best candidates exactly with their float vectors
 *   (`ivf-search.ts`, which also widens the probe for a selective filter).
 *
 * docs/search.md explains the choices and their costs.
 */
import type { VectorBackend, VectorEntry, VectorSearchHit, VectorSearchRequest } from '#commons/search/backend.ts';
import { checkDimension, clusterSearch, exactSearch } from '#commons/search/backends/ivf-search.ts';
import { type ClusterModel, getClusterModel } from '#commons/search/cluster-objects.ts';
import { readIndexState, writableVersions } from '#commons/search/index-state.ts';
import { nearestCentroids } from '#commons/search/index/kmeans.ts';
import { encode } from '#commons/search/index/quantizer.ts';
import { type ListChange, putListChanges } from '#commons/search/list-deltas.ts';
import { deleteVectors, getVectors, putVectors } from '#commons/search/vector-store.ts';

/** Returns the cluster whose centroid is nearest to `vector`. */
export function nearestCluster(model: ClusterModel, vector: Float32Array): number {
  return nearestCentroids(model.centroids, model.dim, vector, 1)[0] as number;
}

export class IvfBackend implements VectorBackend {
  public readonly name = 'ivf';

  /**
   * Stores the vectors, then adds each input to its nearest cluster in the active version
   * and in the versions being built. The vector is written before the index state is read:
   * a build that starts later reads the vector itself, one that started earlier is in the state.
   */
  public async upsert(appId: string, entries: readonly VectorEntry[]): Promise<void> {
    const latest = [...new Map(entries.map((entry) => [entry.inputId, entry.vector] as const))].map(([inputId, vector]) => ({
      inputId,
      vector,
    }));
    if (latest.length === 0) {
      return;
    }
    const previous = await getVectors(
      appId,
      latest.map((entry) => entry.inputId),
    );
    await putVectors(appId, latest);

    const changes: ListChange[] = [];
    for (const version of writableVersions(await readIndexState(appId))) {
      const model = await getClusterModel(version.model_key);
      for (const { inputId, vector } of latest) {
        checkDimension(version, vector, `vector of input ${inputId}`);
        const cluster = nearestCluster(model, vector);
        changes.push({ versionId: version.version_id, cluster, inputId, code: encode(model.quantizer, vector) });
        // An input whose vector changed may leave the cluster its old vector was in.
        const old = previous.get(inputId);
        if (old !== undefined && old.length === vector.length) {
          const oldCluster = nearestCluster(model, old);
          if (oldCluster !== cluster) {
            changes.push({ versionId: version.version_id, cluster: oldCluster, inputId });
          }
        }
      }
    }
    await putListChanges(appId, changes);
  }

  /** Deletes the vectors, then removes each input from its cluster in the active version and in those being built. */
  public async remove(appId: string, inputIds: readonly string[]): Promise<void> {
    const previous = await getVectors(appId, inputIds);
    if (previous.size === 0) {
      return;
    }
    await deleteVectors(appId, [...previous.keys()]);

    const changes: ListChange[] = [];
    for (const version of writableVersions(await readIndexState(appId))) {
      const model = await getClusterModel(version.model_key);
      for (const [inputId, vector] of previous) {
        if (vector.length === version.dim) {
          changes.push({ versionId: version.version_id, cluster: nearestCluster(model, vector), inputId });
        }
      }
    }
    await putListChanges(appId, changes);
  }

  public async search(request: VectorSearchRequest): Promise<VectorSearchHit[]> {
    if (request.topK <= 0) {
      return [];
    }
    const { active } = await readIndexState(request.appId);
    return active === undefined ? exactSearch(request) : clusterSearch(request, active);
  }
}
