/**
 * Building, activating and dropping the clusterer versions of an app's `ivf` index.
 *
 * A build marks the version as building, so that vectors written from then on join its
 * lists through DynamoDB changes, then reads every stored vector and writes one S3 snapshot
 * per cluster. Only then does the version become active, so searches use the previous
 * version (or exact search) until the new one is complete.
 */
import { logger } from '#commons/logger.ts';
import { nearestCluster } from '#commons/search/backends/ivf.ts';
import { type ClusterModel, deleteObjectsUnder, putListSnapshot } from '#commons/search/cluster-objects.ts';
import { type IndexVersion, readIndexState, updateIndexState, writableVersions } from '#commons/search/index-state.ts';
import { codeBytes, encodeInto } from '#commons/search/index/quantizer.ts';
import { listSnapshotKey, versionPrefix } from '#commons/search/ivf-keys.ts';
import { deleteListDeltas } from '#commons/search/list-deltas.ts';
import { forEachVectorPage } from '#commons/search/vector-store.ts';

/** S3 uploads of list snapshots that run at the same time. */
const UPLOAD_CONCURRENCY = 8;

export interface BuildResult {
  /** Vectors in the snapshots. */
  vectorCount: number;
  /** Entries of each cluster's snapshot, by cluster. */
  clusterSizes: number[];
}

export type IndexStatus = 'active' | 'building' | 'inactive';

/** Returns whether searches use the version, whether it is being built, or neither. */
export async function indexStatusOf(appId: string, versionId: string): Promise<IndexStatus> {
  const state = await readIndexState(appId);
  if (state.active?.version_id === versionId) {
    return 'active';
  }
  return state.building.some((version) => version.version_id === versionId) ? 'building' : 'inactive';
}

/**
 * Builds the lists of `version` from the app's stored vectors and makes it the active
 * version. The version that was active before loses its lists, but keeps its model, so it
 * can still predict. On failure the version stops building and the active one stays.
 */
export async function buildIndexVersion(appId: string, version: IndexVersion, model: ClusterModel): Promise<BuildResult> {
  // Builds abandoned by an invocation that timed out are dropped here.
  await updateIndexState(appId, (state) => ({
    ...state,
    building: [...writableVersions(state).filter((other) => other !== state.active && other.version_id !== version.version_id), version],
  }));
  logger.info('search index version building', { appId, modelId: version.model_id, versionId: version.version_id });

  let result: BuildResult;
  try {
    result = await writeSnapshots(appId, version, model);
  } catch (error) {
    await updateIndexState(appId, (state) => ({
      ...state,
      building: state.building.filter((other) => other.version_id !== version.version_id),
    }));
    throw error;
  }

  let previous: IndexVersion | undefined;
  await updateIndexState(appId, (state) => {
    previous = state.active;
    return { active: version, building: state.building.filter((other) => other.version_id !== version.version_id) };
  });
  logger.info('search index version active', { appId, modelId: version.model_id, versionId: version.version_id, ...result });

  if (previous !== undefined && previous.version_id !== version.version_id) {
    await deleteVersionLists(appId, previous);
  }
  return result;
}

/**
 * Takes the version out of the index and deletes its lists. When it was the active version,
 * searches become exact over the app's vectors until another version is trained.
 */
export async function dropIndexVersion(appId: string, modelId: string, versionId: string): Promise<void> {
  let dropped: IndexVersion | undefined;
  await updateIndexState(appId, (state) => {
    dropped = [state.active, ...state.building].find((version) => version?.version_id === versionId);
    return {
      ...(state.active === undefined || state.active.version_id === versionId ? {} : { active: state.active }),
      building: state.building.filter((version) => version.version_id !== versionId),
    };
  });
  if (dropped !== undefined) {
    await deleteVersionLists(appId, dropped);
  }
  await deleteObjectsUnder(versionPrefix(appId, modelId, versionId));
}

async function deleteVersionLists(appId: string, version: IndexVersion): Promise<void> {
  // NOTE: a writer that read the state before the switch may still add a change to these
  // partitions after they are deleted. Such items are never read again; they only take space.
  await deleteListDeltas(appId, version.version_id, version.k);
  await deleteObjectsUnder(`${versionPrefix(appId, version.model_id, version.version_id)}lists/`);
  logger.info('search index version lists deleted', { appId, modelId: version.model_id, versionId: version.version_id });
}

async function writeSnapshots(appId: string, version: IndexVersion, model: ClusterModel): Promise<BuildResult> {
  const { dim, k } = model;
  const bytesPerCode = codeBytes(model.quantizer);
  const pages: Array<{ ids: string[]; clusters: Uint32Array; codes: Uint8Array }> = [];
  await forEachVectorPage(appId, (stored) => {
    const usable = stored.filter((entry) => entry.vector.length === dim);
    const clusters = new Uint32Array(usable.length);
    const codes = new Uint8Array(usable.length * bytesPerCode);
    usable.forEach((entry, row) => {
      clusters[row] = nearestCluster(model, entry.vector);
      encodeInto(model.quantizer, entry.vector, 0, codes, row * bytesPerCode);
    });
    pages.push({ ids: usable.map((entry) => entry.inputId), clusters, codes });
  });

  const clusterSizes = new Array<number>(k).fill(0);
  for (const page of pages) {
    for (const cluster of page.clusters) {
      clusterSizes[cluster] = (clusterSizes[cluster] ?? 0) + 1;
    }
  }
  const lists = clusterSizes.map((size) => ({ ids: [] as string[], codes: new Uint8Array(size * bytesPerCode) }));
  for (const page of pages) {
    page.ids.forEach((inputId, row) => {
      const list = lists[page.clusters[row] as number] as (typeof lists)[number];
      list.codes.set(page.codes.subarray(row * bytesPerCode, (row + 1) * bytesPerCode), list.ids.length * bytesPerCode);
      list.ids.push(inputId);
    });
  }

  let next = 0;
  const uploaders = Array.from({ length: Math.min(UPLOAD_CONCURRENCY, k) }, async () => {
    while (next < k) {
      const cluster = next++;
      const list = lists[cluster] as (typeof lists)[number];
      await putListSnapshot(listSnapshotKey(appId, version.model_id, version.version_id, cluster), {
        dim,
        codeBytes: bytesPerCode,
        ids: list.ids,
        codes: list.codes,
      });
    }
  });
  await Promise.all(uploaders);
  return { vectorCount: clusterSizes.reduce((sum, size) => sum + size, 0), clusterSizes };
}
