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
 *   their codes, then re-ranks the best candidates exactly with their float vectors.
 *
 * docs/search.md explains the choices and their costs.
 */
import type { VectorBackend, VectorEntry, VectorSearchHit, VectorSearchRequest } from '#commons/search/backend.ts';
import { type ClusterModel, getClusterModel, getListSnapshot } from '#commons/search/cluster-objects.ts';
import { type IndexVersion, readIndexState, writableVersions } from '#commons/search/index-state.ts';
import { nearestCentroids } from '#commons/search/index/kmeans.ts';
import { approximateDot, codeBytes, encode, prepareQuery } from '#commons/search/index/quantizer.ts';
import { TopK } from '#commons/search/index/top-k.ts';
import { dot } from '#commons/search/index/vectors.ts';
import { listSnapshotKey } from '#commons/search/ivf-keys.ts';
import { type ListChange, putListChanges, readListDelta } from '#commons/search/list-deltas.ts';
import { deleteVectors, forEachVectorPage, getVectors, putVectors } from '#commons/search/vector-store.ts';

/** Lists probed per search unless `SEARCH_IVF_PROBES` sets another number. */
export const DEFAULT_PROBES = 16;

/** First-pass candidates re-ranked with float vectors, per hit asked for. */
export const RERANK_FACTOR = 4;

/** Returns the number of lists a search probes: `SEARCH_IVF_PROBES` or the default, at most `k`. */
export function probeCount(k: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SEARCH_IVF_PROBES?.trim() ?? '';
  const configured = Number(raw);
  if (raw !== '' && (!Number.isSafeInteger(configured) || configured < 1)) {
    throw new Error(
      `Environment variable SEARCH_IVF_PROBES must be a positive whole number of lists, got ${JSON.stringify(raw)}. Unset it to probe ${DEFAULT_PROBES} lists.`,
    );
  }
  return Math.min(k, raw === '' ? DEFAULT_PROBES : configured);
}

/** Returns the cluster whose centroid is nearest to `vector`. */
export function nearestCluster(model: ClusterModel, vector: Float32Array): number {
  return nearestCentroids(model.centroids, model.dim, vector, 1)[0] as number;
}

function checkDimension(version: IndexVersion, vector: Float32Array, what: string): void {
  if (vector.length !== version.dim) {
    throw new Error(
      `The ${what} has ${vector.length} values, but clusterer ${version.model_id} version ${version.version_id} was trained on ${version.dim}-value vectors. Train a new clusterer version.`,
    );
  }
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

/** Scores every stored vector of the app: the search of an app without a trained clusterer. */
async function exactSearch({ appId, vector, topK, allow }: VectorSearchRequest): Promise<VectorSearchHit[]> {
  const best = new TopK(topK);
  const ids: string[] = [];
  // NOTE: this reads every vector of the app, about 0.5 KB each for 120 values, so at tens of
  // thousands of inputs a search takes seconds. Train a clusterer before the app grows there.
  // Eventually consistent reads cost half; an input indexed in the last second may be missed.
  await forEachVectorPage(appId, (stored) => {
    for (const entry of stored) {
      if (entry.vector.length !== vector.length) {
        continue;
      }
      const score = dot(entry.vector, 0, vector, 0, vector.length);
      if (score > best.threshold && (allow === undefined || allow(entry.inputId))) {
        best.push(score, ids.length);
        ids.push(entry.inputId);
      }
    }
  }, false);
  return drain(best, (handle) => ids[handle] as string);
}

/**
 * Probes the nearest lists of the active version. Each list is its S3 snapshot with the
 * DynamoDB changes laid over it: a change replaces the snapshot's entry of its input. The
 * best `RERANK_FACTOR * topK` candidates by code are re-scored with their stored float
 * vectors, and a candidate without one (an input removed meanwhile) is dropped.
 */
async function clusterSearch(request: VectorSearchRequest, version: IndexVersion): Promise<VectorSearchHit[]> {
  const { appId, vector, topK, allow } = request;
  checkDimension(version, vector, 'query vector');
  const model = await getClusterModel(version.model_key);
  const probes = nearestCentroids(model.centroids, model.dim, vector, probeCount(model.k));
  const table = prepareQuery(model.quantizer, vector);
  const bytesPerCode = codeBytes(model.quantizer);

  const candidates = new TopK(Math.max(topK, RERANK_FACTOR * topK));
  const candidateIds: string[] = [];
  const consider = (inputId: string, codes: Uint8Array, offset: number): void => {
    const score = approximateDot(table, codes, offset);
    if (score > candidates.threshold && (allow === undefined || allow(inputId))) {
      candidates.push(score, candidateIds.length);
      candidateIds.push(inputId);
    }
  };

  await Promise.all(
    probes.map(async (cluster) => {
      const [snapshot, changes] = await Promise.all([
        getListSnapshot(listSnapshotKey(appId, version.model_id, version.version_id, cluster), model.dim, bytesPerCode),
        readListDelta(appId, version.version_id, cluster),
      ]);
      snapshot.ids.forEach((inputId, slot) => {
        if (!changes.has(inputId)) {
          consider(inputId, snapshot.codes, slot * snapshot.codeBytes);
        }
      });
      for (const [inputId, code] of changes) {
        if (code !== undefined && code.length === bytesPerCode) {
          consider(inputId, code, 0);
        }
      }
    }),
  );

  const shortlist = [...new Set(drain(candidates, (handle) => candidateIds[handle] as string).map((hit) => hit.inputId))];
  const vectors = await getVectors(appId, shortlist);
  const best = new TopK(topK);
  const ids: string[] = [];
  for (const inputId of shortlist) {
    const stored = vectors.get(inputId);
    if (stored !== undefined && stored.length === vector.length) {
      best.push(dot(stored, 0, vector, 0, vector.length), ids.length);
      ids.push(inputId);
    }
  }
  return drain(best, (handle) => ids[handle] as string);
}

function drain(best: TopK, idOf: (handle: number) => string): VectorSearchHit[] {
  const scores = new Float64Array(best.size);
  const handles = new Float64Array(best.size);
  const count = best.drainSorted(scores, handles);
  const hits: VectorSearchHit[] = [];
  for (let index = 0; index < count; index += 1) {
    hits.push({ inputId: idOf(handles[index] as number), score: scores[index] as number });
  }
  return hits;
}
