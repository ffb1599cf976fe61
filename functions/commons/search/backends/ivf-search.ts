/**
 * The searches of the `ivf` backend: exact search over the app's vector store while no
 * clusterer version is active, and the probe of the nearest cluster lists of the active one.
 *
 * A search with an `allow` filter checks candidates with it in score order, in batches
 * (`allowed-walk.ts`), not every scanned entry, because the filter reads an input record per
 * candidate. A filtered cluster search probes more lists the fewer inputs the
 * filter keeps, so that a selective filter does not lose the hits beyond the nearest lists.
 */
import { logger } from '#commons/logger.ts';
import { AllowedWalk } from '#commons/search/allowed-walk.ts';
import type { VectorSearchHit, VectorSearchRequest } from '#commons/search/backend.ts';
import { type ClusterModel, getClusterModel, getListSnapshot } from '#commons/search/cluster-objects.ts';
import type { IndexVersion } from '#commons/search/index-state.ts';
import { nearestCentroids } from '#commons/search/index/kmeans.ts';
import { approximateDot, codeBytes, prepareQuery } from '#commons/search/index/quantizer.ts';
import { TopK } from '#commons/search/index/top-k.ts';
import { dot } from '#commons/search/index/vectors.ts';
import { listSnapshotKey } from '#commons/search/ivf-keys.ts';
import { readListDelta } from '#commons/search/list-deltas.ts';
import { mapConcurrently } from '#commons/search/search-inputs.ts';
import { forEachVectorPage, getVectors } from '#commons/search/vector-store.ts';

/** The number of lists probed per search unless `SEARCH_IVF_PROBES` sets another number. */
export const DEFAULT_PROBES = 16;

/** The maximum number of lists a filtered search probes unless `SEARCH_IVF_MAX_PROBES` sets another number. */
export const DEFAULT_MAX_PROBES = 256;

/** The number of first-pass candidates re-ranked with float vectors, per requested hit. */
export const RERANK_FACTOR = 4;

/**
 * The maximum number of candidates that a filtered search checks with its filter. A filter
 * that keeps so few inputs that the nearest 10,000 candidates contain fewer than the requested
 * hits returns fewer hits than exist.
 */
export const MAX_FILTER_CHECKS = 10_000;

// The number of lists a filtered search reads at the same time (an S3 GET and a DynamoDB Query each).
const LIST_READ_CONCURRENCY = 32;

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

/**
 * Returns the maximum number of lists a filtered search probes: `SEARCH_IVF_MAX_PROBES` or the default, at
 * least `probeCount` and at most `k`.
 */
export function maxProbeCount(k: number, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SEARCH_IVF_MAX_PROBES?.trim() ?? '';
  const configured = Number(raw);
  if (raw !== '' && (!Number.isSafeInteger(configured) || configured < 1)) {
    throw new Error(
      `Environment variable SEARCH_IVF_MAX_PROBES must be a positive whole number of lists, got ${JSON.stringify(raw)}. Unset it to let filtered searches probe up to ${DEFAULT_MAX_PROBES} lists.`,
    );
  }
  return Math.min(k, Math.max(probeCount(k, env), raw === '' ? DEFAULT_MAX_PROBES : configured));
}

/** Throws when `vector` does not have the dimension that the clusterer version was trained on. */
export function checkDimension(version: IndexVersion, vector: Float32Array, description: string): void {
  if (vector.length !== version.dim) {
    throw new Error(
      `The ${description} has ${vector.length} values, but clusterer ${version.model_id} version ${version.version_id} was trained on ${version.dim}-value vectors. Train a new clusterer version.`,
    );
  }
}

/**
 * Scores every stored vector of the app, which is how an app without a trained clusterer is
 * searched. With `allow`, it keeps the best `MAX_FILTER_CHECKS` vectors and checks them with the
 * filter, best first, until it has `topK` hits, so the vectors are read once.
 */
export async function exactSearch({ appId, vector, topK, allow }: VectorSearchRequest): Promise<VectorSearchHit[]> {
  const best = new TopK(allow === undefined ? topK : Math.max(topK, MAX_FILTER_CHECKS));
  const ids: string[] = [];
  // NOTE: this reads every vector of the app, about 0.5 KB each for 120 values, so at tens of
  // thousands of inputs a search takes seconds. Train a clusterer before the app grows there.
  // Eventually consistent reads cost half, but an input indexed in the last second may be missed.
  await forEachVectorPage(appId, (stored) => {
    for (const entry of stored) {
      if (entry.vector.length !== vector.length) {
        continue;
      }
      const score = dot(entry.vector, 0, vector, 0, vector.length);
      if (score > best.threshold) {
        best.push(score, ids.length);
        ids.push(entry.inputId);
      }
    }
  }, false);
  const hits = drain(best, (handle) => ids[handle] as string);
  if (allow === undefined) {
    return hits;
  }

  const walk = new AllowedWalk(allow, MAX_FILTER_CHECKS);
  const allowedIds = new Set(await walk.firstAllowed(hits.map((hit) => hit.inputId), topK));
  logFilteredSearch(appId, walk, { lists: 'all (exact search)' });
  return hits.filter((hit) => allowedIds.has(hit.inputId));
}

/**
 * Probes the nearest lists of the active version. Each list is its S3 snapshot with the
 * DynamoDB changes laid over it, and a change replaces the snapshot's entry of its input. The
 * best `RERANK_FACTOR * topK` candidates by code (allowed ones, with `allow`) are re-scored
 * with their stored float vectors. A candidate without a stored vector (an input removed
 * meanwhile) is dropped.
 */
export async function clusterSearch(request: VectorSearchRequest, version: IndexVersion): Promise<VectorSearchHit[]> {
  const { appId, vector, topK, allow } = request;
  checkDimension(version, vector, 'query vector');
  const model = await getClusterModel(version.model_key);
  const shortlist =
    allow === undefined ? await unfilteredShortlist(request, version, model) : await filteredShortlist(request, version, model, allow);

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

/** Returns the best `RERANK_FACTOR * topK` entries by code of the `probeCount` nearest lists. */
async function unfilteredShortlist({ appId, vector, topK }: VectorSearchRequest, version: IndexVersion, model: ClusterModel): Promise<string[]> {
  const probes = nearestCentroids(model.centroids, model.dim, vector, probeCount(model.k));
  const table = prepareQuery(model.quantizer, vector);
  const candidates = new TopK(Math.max(topK, RERANK_FACTOR * topK));
  const candidateIds: string[] = [];
  await Promise.all(
    probes.map((cluster) =>
      scanList(appId, version, model, cluster, (inputId, codes, offset) => {
        const score = approximateDot(table, codes, offset);
        if (score > candidates.threshold) {
          candidates.push(score, candidateIds.length);
          candidateIds.push(inputId);
        }
      }),
    ),
  );
  return [...new Set(drain(candidates, (handle) => candidateIds[handle] as string).map((hit) => hit.inputId))];
}

/**
 * Returns the best `RERANK_FACTOR * topK` allowed entries by code. It probes the `probeCount`
 * nearest lists first. When the filter keeps a share s of the candidates it checked, the
 * filtered nearest neighbors lie about 1/s times deeper than the unfiltered ones, so the
 * search widens to probeCount / s lists (at most `maxProbeCount`). Those lists contain about as
 * many allowed entries as an unfiltered search scans. It stops early once the filter has
 * checked `MAX_FILTER_CHECKS` candidates.
 */
async function filteredShortlist(
  { appId, vector, topK }: VectorSearchRequest,
  version: IndexVersion,
  model: ClusterModel,
  allow: NonNullable<VectorSearchRequest['allow']>,
): Promise<string[]> {
  const baseProbes = probeCount(model.k);
  const order = nearestCentroids(model.centroids, model.dim, vector, maxProbeCount(model.k));
  const table = prepareQuery(model.quantizer, vector);
  const ids: string[] = [];
  const scores: number[] = [];
  const walk = new AllowedWalk(allow, MAX_FILTER_CHECKS);

  let shortlist: string[] = [];
  let probed = 0;
  let target = baseProbes;
  while (target > probed) {
    await mapConcurrently(order.slice(probed, target), LIST_READ_CONCURRENCY, (cluster) =>
      scanList(appId, version, model, cluster, (inputId, codes, offset) => {
        ids.push(inputId);
        scores.push(approximateDot(table, codes, offset));
      }),
    );
    probed = target;

    const ranked = ids.map((_, index) => index).sort((a, b) => (scores[b] as number) - (scores[a] as number));
    shortlist = await walk.firstAllowed(
      ranked.map((index) => ids[index] as string),
      RERANK_FACTOR * topK,
    );
    if (walk.exhausted) {
      break;
    }
    // A share of 0 makes the target infinite, so the search probes every list it may.
    target = Math.min(order.length, Math.ceil(baseProbes / walk.keptShare));
  }
  logFilteredSearch(appId, walk, { lists: probed, versionId: version.version_id });
  return shortlist;
}

function logFilteredSearch(appId: string, walk: AllowedWalk, details: Record<string, unknown>): void {
  const fields = { appId, checked: walk.checked, keptShare: walk.keptShare, ...details };
  if (walk.exhausted) {
    logger.warn('filtered search reached the limit of filter checks, so it may return fewer hits than exist', {
      ...fields,
      maxChecks: MAX_FILTER_CHECKS,
    });
  } else {
    logger.debug('filtered search finished', fields);
  }
}

/** Calls `visit` with every entry of one cluster's list: its S3 snapshot with the DynamoDB changes laid over it. */
async function scanList(
  appId: string,
  version: IndexVersion,
  model: ClusterModel,
  cluster: number,
  visit: (inputId: string, codes: Uint8Array, offset: number) => void,
): Promise<void> {
  const bytesPerCode = codeBytes(model.quantizer);
  const [snapshot, changes] = await Promise.all([
    getListSnapshot(listSnapshotKey(appId, version.model_id, version.version_id, cluster), model.dim, bytesPerCode),
    readListDelta(appId, version.version_id, cluster),
  ]);
  snapshot.ids.forEach((inputId, slot) => {
    if (!changes.has(inputId)) {
      visit(inputId, snapshot.codes, slot * snapshot.codeBytes);
    }
  });
  for (const [inputId, code] of changes) {
    if (code !== undefined && code.length === bytesPerCode) {
      visit(inputId, code, 0);
    }
  }
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
