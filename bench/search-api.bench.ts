/**
 * Measures end-to-end visual search latency through the local HTTP API at 100,000 inputs, with
 * the default `ivf` backend. It times exact search before the app has a clusterer and search
 * through the cluster lists after training one, and the recall@10 of the second against the first.
 *
 * The app contains `BENCH_INPUTS` (default 100,000) inputs with 120-d `general-image-embedding`
 * vectors. 301 are real: the 7 photos of test/fixtures/images and 42 sharp-made variants of
 * each, embedded with `predict`. The rest are synthetic clustered vectors shaped like them
 * (`syntheticVectors` in search-api-data.ts). Each input has `metadata.shop.id` from 0 to 9,
 * drawn at random. The inputs, their embedding annotations and their vectors are written
 * through the storage and backend code of the handlers (search-api-seed.ts), not uploaded.
 *
 * Queries (`POST /v2/annotations/searches`, `per_page` 10), each kind `BENCH_QUERIES` times
 * (default 200), the kinds interleaved query by query:
 * - image: ranked by a base64 JPEG, a new variant of one of the 7 photos that is not indexed.
 * - input id: ranked by the stored embedding of an input drawn at random from all inputs.
 * - each of the two with a metadata filter on one random shop id, which keeps about 1 input in 10.
 *
 * Exact search reads every vector of the app per query, so it runs only the first
 * `BENCH_EXACT_QUERIES` (default 25) queries of each kind. Then a clusterer with the default k
 * is trained through the API, and every query runs twice with the default 16 probes (list cache
 * cold, then warm) and twice with `BENCH_EXTRA_PROBES` (default 64), of which the second pass
 * is reported. Recall@10 is measured against the exact hits of the API for the first queries
 * and against an in-process brute force over the same vectors for the rest. The output states
 * how often the two agree.
 *
 * The stack and this client share one process, so the CPU time per query column counts both.
 *
 * Run with `npm run bench:search-api`. The stack runs in this process with its own temporary
 * data folder, which is deleted at the end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureModelsBuilt } from '#commons/models/build.ts';
import { Random } from '#commons/search/index/random.ts';
import { DEFAULT_APP_ID } from '#commons/storage/ids.ts';
import { type LocalStack, startLocalStack } from '../local/stack.ts';
import {
  DIM,
  SHOP_COUNT,
  embedImage,
  exactTopK,
  inputIdOf,
  loadPhotos,
  photoImages,
  syntheticVectors,
} from './search-api-data.ts';
import { type SeedInput, seedInputs } from './search-api-seed.ts';
import { median, positiveIntegerFromEnv } from './stats.ts';

const INPUT_COUNT = positiveIntegerFromEnv('BENCH_INPUTS', 100_000);
const QUERY_COUNT = positiveIntegerFromEnv('BENCH_QUERIES', 200);
const EXACT_QUERY_COUNT = Math.min(QUERY_COUNT, positiveIntegerFromEnv('BENCH_EXACT_QUERIES', 25));
/** The number of real images: the 7 photos and 42 variants of each. */
const REAL_IMAGE_COUNT = 301;
const SYNTHETIC_CLUSTERS = 1000;
/** Noise around a synthetic cluster's center, in units of the real embeddings' deviation per dimension. */
const SYNTHETIC_SPREAD = 0.5;
const PER_PAGE = 10;
const CLUSTERER_ID = 'bench-groups';
/** The number of lists probed in the extra passes, against the backend's default of 16 (`SEARCH_IVF_PROBES`). */
const EXTRA_PROBES = positiveIntegerFromEnv('BENCH_EXTRA_PROBES', 64);

const SEEDS = { indexedImages: 11, queryImages: 99, synthetic: 5, metadata: 7, queries: 13 };

const KINDS = ['image', 'image + filter', 'input id', 'input id + filter'] as const;
type Kind = (typeof KINDS)[number];

interface Query {
  body: string;
  /** The query's unit vector, for the in-process brute force. */
  vector: Float32Array;
  shopId?: number;
  /** The JPEG of an image query, to time its embedding in process. */
  image?: Buffer;
}

interface Measured {
  latencies: number[];
  hitIds: string[][];
  /** Process CPU time (server and client together) per query, in ms. */
  cpuPerQuery: number;
  loadAverage: number;
}

/** Returns the value below which `share` of the values lie (nearest rank). */
function percentile(values: readonly number[], share: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(share * sorted.length) - 1)] as number;
}

function log(message: string): void {
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

async function callApi(stack: LocalStack, method: string, route: string, body?: string): Promise<Record<string, any>> {
  const response = await fetch(`${stack.apiUrl}${route}`, {
    method,
    headers: { authorization: `Key ${stack.apiKey}`, 'content-type': 'application/json' },
    body,
  });
  const json = (await response.json()) as Record<string, any>;
  if (response.status !== 200) {
    throw new Error(`${method} ${route} returned HTTP ${response.status}: ${JSON.stringify(json.status)}`);
  }
  return json;
}

function searchBody(rank: Record<string, unknown>, shopId: number | undefined): string {
  const filters = shopId === undefined ? [] : [{ input: { data: { metadata: { shop: { id: shopId } } } } }];
  return JSON.stringify({ searches: [{ query: { ranks: [rank], filters } }], pagination: { page: 1, per_page: PER_PAGE } });
}

/** Runs queries `0 .. count - 1` of every kind, the kinds interleaved, and returns each kind's latencies and hits. */
async function measure(stack: LocalStack, queries: Record<Kind, Query[]>, count: number, onImage?: (query: Query) => Promise<void>): Promise<Record<Kind, Measured>> {
  const results = Object.fromEntries(KINDS.map((kind) => [kind, { latencies: [] as number[], hitIds: [] as string[][], cpu: 0 }])) as Record<
    Kind,
    { latencies: number[]; hitIds: string[][]; cpu: number }
  >;
  const loadBefore = os.loadavg()[0] as number;
  for (let index = 0; index < count; index += 1) {
    for (const kind of KINDS) {
      const query = queries[kind][index] as Query;
      if (kind === 'image' && onImage !== undefined) {
        await onImage(query);
      }
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const body = await callApi(stack, 'POST', '/v2/annotations/searches', query.body);
      const elapsed = performance.now() - started;
      const cpu = process.cpuUsage(cpuBefore);
      const result = results[kind];
      result.latencies.push(elapsed);
      result.cpu += (cpu.user + cpu.system) / 1000;
      result.hitIds.push((body.hits as Array<{ input: { id: string } }>).map((hit) => hit.input.id));
    }
  }
  const loadAverage = ((os.loadavg()[0] as number) + loadBefore) / 2;
  return Object.fromEntries(
    KINDS.map((kind) => [kind, { latencies: results[kind].latencies, hitIds: results[kind].hitIds, cpuPerQuery: results[kind].cpu / count, loadAverage }]),
  ) as Record<Kind, Measured>;
}

function recallAt10(found: readonly string[], reference: readonly string[]): number {
  if (reference.length === 0) {
    return 1;
  }
  const expected = new Set(reference.slice(0, 10));
  return found.slice(0, 10).filter((id) => expected.has(id)).length / expected.size;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id) => b.includes(id));
}

// Data
log(`building models and the data: ${INPUT_COUNT} inputs, ${QUERY_COUNT} queries of each kind`);
await ensureModelsBuilt();
const photos = await loadPhotos();
const indexedImages = await photoImages(photos, REAL_IMAGE_COUNT, SEEDS.indexedImages, true);
const real: Float32Array[] = [];
for (const image of indexedImages) {
  real.push(await embedImage(image.bytes));
}
const vectors = new Float32Array(INPUT_COUNT * DIM);
real.forEach((vector, row) => vectors.set(vector, row * DIM));
vectors.set(syntheticVectors(real, INPUT_COUNT - REAL_IMAGE_COUNT, SYNTHETIC_CLUSTERS, SYNTHETIC_SPREAD, SEEDS.synthetic), REAL_IMAGE_COUNT * DIM);

const metadataRandom = new Random(SEEDS.metadata);
const shopOfRow = new Uint8Array(INPUT_COUNT);
const inputs: SeedInput[] = [];
for (let row = 0; row < INPUT_COUNT; row += 1) {
  const shopId = metadataRandom.nextInt(SHOP_COUNT);
  shopOfRow[row] = shopId;
  inputs.push({
    id: inputIdOf(row),
    row,
    metadata: { shop: { id: shopId }, source: row < REAL_IMAGE_COUNT ? `photo ${indexedImages[row]?.file}` : 'synthetic' },
  });
}
const rowOfId = new Map(inputs.map((input) => [input.id, input.row]));

const queryRandom = new Random(SEEDS.queries);
const queryImages = await photoImages(photos, QUERY_COUNT, SEEDS.queryImages, false);
const queryRows = queryRandom.sampleIndices(INPUT_COUNT, QUERY_COUNT);
const queries = Object.fromEntries(KINDS.map((kind) => [kind, [] as Query[]])) as Record<Kind, Query[]>;
for (let index = 0; index < QUERY_COUNT; index += 1) {
  const image = (queryImages[index] as { bytes: Buffer }).bytes;
  const imageRank = { annotation: { data: { image: { base64: image.toString('base64') } } } };
  const imageVector = await embedImage(image);
  const row = queryRows[index] as number;
  const inputRank = { annotation: { input_id: inputIdOf(row) } };
  const inputVector = vectors.subarray(row * DIM, (row + 1) * DIM);
  const shops = [queryRandom.nextInt(SHOP_COUNT), queryRandom.nextInt(SHOP_COUNT)] as const;
  queries.image.push({ body: searchBody(imageRank, undefined), vector: imageVector, image });
  queries['image + filter'].push({ body: searchBody(imageRank, shops[0]), vector: imageVector, shopId: shops[0] });
  queries['input id'].push({ body: searchBody(inputRank, undefined), vector: inputVector });
  queries['input id + filter'].push({ body: searchBody(inputRank, shops[1]), vector: inputVector, shopId: shops[1] });
}

/** Returns the exact top 10 of a query as input ids, computed in this process. */
function bruteForce(query: Query): string[] {
  const allow = query.shopId === undefined ? () => true : (row: number) => shopOfRow[row] === query.shopId;
  return exactTopK(vectors, query.vector, PER_PAGE, allow).map((hit) => inputIdOf(hit.row));
}

// Stack and seeding
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'percept-search-api-bench-'));
const stack = await startLocalStack({ port: 0, dataDir, searchBackend: 'ivf' });
log(`local stack at ${stack.apiUrl}, data in ${dataDir}`);
try {
  const seedStarted = performance.now();
  const rates = await seedInputs(DEFAULT_APP_ID, stack.bucketName, inputs, vectors);
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  log(`seeded in ${seedSeconds.toFixed(0)} s: ${rates.inputs.toFixed(0)} inputs/s, ${rates.annotations.toFixed(0)} annotations/s, ${rates.vectors.toFixed(0)} vectors/s`);

  // (a) Exact search: no clusterer yet. One untimed query of each kind first.
  await measure(stack, queries, 1);
  const exact = await measure(stack, queries, EXACT_QUERY_COUNT);
  log('exact search measured');

  // Training a clusterer with the default k builds the index and activates it. The request only
  // queues the version, and the training function runs outside the request. So the version is
  // polled until it leaves the queued (21103) and training (21101) states.
  await callApi(stack, 'POST', '/v2/models', JSON.stringify({ model: { id: CLUSTERER_ID, model_type_id: 'clusterer' } }));
  const trainStarted = performance.now();
  const queued = await callApi(stack, 'POST', `/v2/models/${CLUSTERER_ID}/versions`, '{}');
  const versionId = queued.model.model_version.id as string;
  let version = queued.model.model_version;
  while (version.status.code === 21103 || version.status.code === 21101) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    version = (await callApi(stack, 'GET', `/v2/models/${CLUSTERER_ID}/versions/${versionId}`)).model_version;
  }
  const trainSeconds = (performance.now() - trainStarted) / 1000;
  if (version.status.code !== 21100 || version.train_info.search_index !== 'active') {
    throw new Error(`Training the clusterer failed: ${JSON.stringify(version.status)}, search_index ${version.train_info?.search_index}`);
  }
  const sizes = version.train_info.cluster_sizes as number[];
  log(`trained in ${trainSeconds.toFixed(1)} s: k = ${version.train_info.k}`);

  // (b) Search through the cluster lists. The first pass fills the list cache. The second pass
  // runs the same queries with the cache warm and also times each query image's embedding in process.
  const cold = await measure(stack, queries, QUERY_COUNT);
  const embedTimes: number[] = [];
  const warm = await measure(stack, queries, QUERY_COUNT, async (query) => {
    const started = performance.now();
    await embedImage(query.image as Buffer);
    embedTimes.push(performance.now() - started);
  });
  log('cluster search measured');

  // The same with more lists probed. The API handler runs in this process and reads
  // SEARCH_IVF_PROBES on every search, so setting it here changes the probes of the next request.
  process.env.SEARCH_IVF_PROBES = String(EXTRA_PROBES);
  await measure(stack, queries, QUERY_COUNT);
  const wide = await measure(stack, queries, QUERY_COUNT);
  delete process.env.SEARCH_IVF_PROBES;
  log(`cluster search with ${EXTRA_PROBES} probes measured`);

  // Recall@10 of the cluster search against exact search.
  const references = {} as Record<Kind, string[][]>;
  const agreement = {} as Record<Kind, number>;
  for (const kind of KINDS) {
    references[kind] = queries[kind].map((query, index) => {
      const inProcess = bruteForce(query);
      const apiExact = exact[kind].hitIds[index];
      if (apiExact !== undefined && sameSet(apiExact, inProcess)) {
        agreement[kind] = (agreement[kind] ?? 0) + 1;
      }
      return apiExact ?? inProcess;
    });
  }
  const meanRecall = (kind: Kind, measured: Measured): string =>
    (measured.hitIds.reduce((sum, ids, index) => sum + recallAt10(ids, references[kind][index] as string[]), 0) / measured.hitIds.length).toFixed(3);
  const realShare = (hitIds: string[][]): number =>
    hitIds.flat().filter((id) => (rowOfId.get(id) as number) < REAL_IMAGE_COUNT).length / Math.max(1, hitIds.flat().length);

  // Report
  const row = (label: string, kind: Kind, measured: Measured, recallText: string): string =>
    `| ${label} | ${kind} | ${measured.latencies.length} | ${median(measured.latencies).toFixed(1)} | ${percentile(measured.latencies, 0.9).toFixed(1)} | ${measured.cpuPerQuery.toFixed(1)} | ${recallText} | ${measured.loadAverage.toFixed(1)} |`;
  const lines: string[] = [];
  lines.push(`Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
  lines.push(`Inputs: ${INPUT_COUNT} (${REAL_IMAGE_COUNT} real photo embeddings, ${INPUT_COUNT - REAL_IMAGE_COUNT} synthetic in ${SYNTHETIC_CLUSTERS} clusters, spread ${SYNTHETIC_SPREAD})`);
  lines.push(
    `Seeding: ${seedSeconds.toFixed(0)} s in all; ${rates.inputs.toFixed(0)} input records/s, ${rates.annotations.toFixed(0)} annotations/s, ${rates.vectors.toFixed(0)} vectors/s (backend upsert)`,
  );
  lines.push(
    `Training (POST /v2/models/${CLUSTERER_ID}/versions until the version is trained): ${trainSeconds.toFixed(1)} s; k = ${version.train_info.k}, ${version.train_info.training_vector_count} training vectors, ${version.total_input_count} vectors in the lists, list sizes ${Math.min(...sizes)} to ${Math.max(...sizes)} (median ${median(sizes)})`,
  );
  lines.push(`Embedding a query image in process (decodeImage + predict): median ${median(embedTimes).toFixed(1)} ms, p90 ${percentile(embedTimes, 0.9).toFixed(1)} ms`);
  lines.push(`Exact hits of the API equal to the in-process brute force: ${KINDS.map((kind) => `${kind} ${agreement[kind] ?? 0}/${EXACT_QUERY_COUNT}`).join(', ')}`);
  lines.push(`Share of real photo inputs among the exact hits: ${KINDS.map((kind) => `${kind} ${(100 * realShare(exact[kind].hitIds)).toFixed(0)} %`).join(', ')}`);
  lines.push(`Peak resident memory of the process: ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`);
  lines.push('');
  lines.push('| search | query | queries | median (ms) | p90 (ms) | process CPU per query (ms) | recall@10 vs exact | load average |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const kind of KINDS) {
    lines.push(row('exact, no clusterer', kind, exact[kind], 'reference'));
  }
  for (const kind of KINDS) {
    lines.push(row('clusters, 16 probes, first pass', kind, cold[kind], meanRecall(kind, cold[kind])));
  }
  for (const kind of KINDS) {
    lines.push(row('clusters, 16 probes, warm cache', kind, warm[kind], meanRecall(kind, warm[kind])));
  }
  for (const kind of KINDS) {
    lines.push(row(`clusters, ${EXTRA_PROBES} probes, warm cache`, kind, wide[kind], meanRecall(kind, wide[kind])));
  }
  console.log(lines.join('\n'));
} finally {
  await stack.stop();
  await rm(dataDir, { recursive: true, force: true });
  log('local stack stopped, data folder deleted');
}
