/**
 * Vector search: Percept's IVF index (`functions/commons/search/index/`) against exact brute
 * force and against hnswlib-node (HNSW), in one run, for each size in `BENCH_SIZES` (default
 * 100,000 and 1,000,000 vectors of dimension 120).
 *
 * Data: synthetic clustered vectors, built around real embeddings. The seven photos of
 * test/fixtures/images and 20 augmented copies of each (a crop of 60% to 95% of the area, a
 * flip with probability 1/2, brightness 0.7 to 1.3, JPEG quality 30 to 89; seeded) are embedded
 * with `general-image-embedding`. The copies' deviations from their photo's mean have the
 * covariance that all noise below is drawn from: a Gaussian combination of the deviations,
 * scaled to a chosen expected squared norm. Three levels, each L2-normalized:
 * - 100 topics, topic t = the photo t mod 7 + noise of squared norm 1.04 (cosine about 0.7);
 * - N / 20 products, each = a random topic + noise of squared norm 0.5625 (cosine about 0.8);
 * - N images, each = a random product + noise of squared norm 0.235 (cosine about 0.9).
 * The queries are `BENCH_QUERIES` (default 1,000) more images, not in the index.
 *
 * Methods, all on one thread:
 * - brute force: `exactTopK` over the row-major Float32Array; its results are the ground truth;
 * - IVF: `IvfIndex.build` with the default nlist = round(4 sqrt(N)), with `sq8` and with `pq`
 *   codes, over a grid of nprobe and rerank;
 * - hnswlib-node: `HierarchicalNSW('ip', 120)`, `initIndex(N)` with the library's defaults
 *   (M = 16, efConstruction = 200), `addPoint` one vector at a time, over a grid of ef. Queries
 *   are converted to number[] before timing. hnswlib searches with max(ef, k), so the smallest
 *   ef of the grid is k = 10.
 *
 * Recall@10 is the mean share of the exact top 10 among a method's top 10. QPS is the median
 * over batches of 100 queries, each batch timed on its own, over `BENCH_PASSES` passes (default
 * 3; brute force runs one pass). A pass times every setting of every method in turn, each after
 * one untimed warm-up batch. Before each setting the script runs a full garbage collection and
 * pauses 200 ms, so that no setting pays for the garbage of the one before. Each batch's QPS divides its queries by the CPU time (user +
 * system) that the process spent on them, so that other jobs on a shared machine slow the
 * measurement less. A single-threaded search on an idle core takes about as long on the wall
 * clock. The wall-clock QPS is printed too. (`process.threadCpuUsage` would leave out V8's
 * helper threads, but on this Linux VM it advances in steps of several milliseconds, too coarse
 * for a batch.)
 *
 * Index memory is the bytes of the index structures: `memoryBytes()` for Percept's indexes
 * (typed arrays plus an estimate of the id strings), and for hnswlib the sizes that its sources
 * allocate (see `hnswMemoryEstimate`). RSS delta is the growth of the process's resident set
 * during the build, after a full garbage collection before and after. Build time is wall-clock.
 *
 * Prints every measured setting, then Markdown tables for bench/RESULTS.md. Run with
 * `npm run bench:search`; the 1M case needs about 3 GB of memory.
 */
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import hnswlib from 'hnswlib-node';
import sharp from 'sharp';
import { decodeImage } from '#commons/image/decode.ts';
import { predict } from '#commons/models/index.ts';
import { exactTopK } from '#commons/search/index/exact.ts';
import { IvfIndex } from '#commons/search/index/ivf.ts';
import type { QuantizerKind } from '#commons/search/index/quantizer.ts';
import { Random } from '#commons/search/index/random.ts';
import { normalizeInPlace } from '#commons/search/index/vectors.ts';
import { median, positiveIntegerFromEnv } from './stats.ts';

const DIM = 120;
const K = 10;
const QUERY_COUNT = positiveIntegerFromEnv('BENCH_QUERIES', 1000);
const PASSES = positiveIntegerFromEnv('BENCH_PASSES', 3);
const BATCH = 100;
const SIZES = (process.env.BENCH_SIZES ?? '100000,1000000').split(',').map((text) => {
  const size = Number(text);
  if (!Number.isSafeInteger(size) || size <= 0) {
    throw new Error(`BENCH_SIZES must be a comma-separated list of positive integers, got ${JSON.stringify(text)}.`);
  }
  return size;
});

const PHOTOS = ['astronaut.jpg', 'camera.jpg', 'chelsea.jpg', 'coffee.jpg', 'page.png', 'rocket.jpg', 'text.png'];
const COPIES_PER_PHOTO = 20;
const TOPICS = 100;
const IMAGES_PER_PRODUCT = 20;
const TOPIC_NOISE = 1.04;
const PRODUCT_NOISE = 0.5625;
const IMAGE_NOISE = 0.235;
const DATA_SEED = 20261204;

const IVF_NPROBE = [1, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128];
const IVF_RERANK = [20, 50, 100, 200];
const HNSW_EF = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384];
const HNSW_M = 16;
const HNSW_EF_CONSTRUCTION = 200;
const RECALL_TARGETS = [0.95, 0.98];
const SETTLE_MS = 200;

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

/**
 * Runs a full garbage collection, then waits `SETTLE_MS` for V8's background threads to finish
 * sweeping, so that their CPU time does not land in the next measurement.
 */
function settle(): void {
  collectGarbage();
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, SETTLE_MS);
}

interface RealEmbeddings {
  photos: Float32Array;
  /** Deviations of the augmented copies from their photo's mean copy, row-major. */
  deviations: Float32Array;
}

interface Measurement {
  method: string;
  params: string;
  recall: number;
  qps: number;
  indexBytes: number;
  rssDelta: number;
  buildSeconds: number;
}

/** Embeds the fixture photos and their seeded augmented copies. */
async function embedPhotos(): Promise<RealEmbeddings> {
  const random = new Random(DATA_SEED);
  const photos = new Float32Array(PHOTOS.length * DIM);
  const deviations = new Float32Array(PHOTOS.length * COPIES_PER_PHOTO * DIM);
  for (const [photoIndex, name] of PHOTOS.entries()) {
    const file = path.resolve('test/fixtures/images', name);
    const [original] = await predict('general-image-embedding', [await decodeImage(await sharp(file).toBuffer())]);
    photos.set(original!.embeddings![0]!.vector, photoIndex * DIM);

    const { width = 0, height = 0 } = await sharp(file).metadata();
    const copies = new Float32Array(COPIES_PER_PHOTO * DIM);
    for (let copy = 0; copy < COPIES_PER_PHOTO; copy += 1) {
      const side = Math.sqrt(0.6 + 0.35 * random.next());
      const cropWidth = Math.round(width * side);
      const cropHeight = Math.round(height * side);
      let pipeline = sharp(file).extract({
        left: random.nextInt(width - cropWidth + 1),
        top: random.nextInt(height - cropHeight + 1),
        width: cropWidth,
        height: cropHeight,
      });
      if (random.next() < 0.5) {
        pipeline = pipeline.flop();
      }
      const jpeg = await pipeline
        .modulate({ brightness: 0.7 + 0.6 * random.next() })
        .jpeg({ quality: 30 + random.nextInt(60) })
        .toBuffer();
      const [output] = await predict('general-image-embedding', [await decodeImage(jpeg)]);
      copies.set(output!.embeddings![0]!.vector, copy * DIM);
    }

    const mean = new Float32Array(DIM);
    for (let copy = 0; copy < COPIES_PER_PHOTO; copy += 1) {
      for (let j = 0; j < DIM; j += 1) {
        mean[j] = mean[j]! + copies[copy * DIM + j]! / COPIES_PER_PHOTO;
      }
    }
    for (let copy = 0; copy < COPIES_PER_PHOTO; copy += 1) {
      const row = photoIndex * COPIES_PER_PHOTO + copy;
      for (let j = 0; j < DIM; j += 1) {
        deviations[row * DIM + j] = copies[copy * DIM + j]! - mean[j]!;
      }
    }
  }
  return { photos, deviations };
}

/**
 * Returns the effective dimension of the deviations' covariance C: trace(C)^2 / sum(C_ij^2),
 * which is d for noise spread evenly over d directions.
 */
function effectiveDimension(deviations: Float32Array): number {
  const count = deviations.length / DIM;
  const covariance = new Float64Array(DIM * DIM);
  for (let row = 0; row < count; row += 1) {
    for (let i = 0; i < DIM; i += 1) {
      for (let j = 0; j < DIM; j += 1) {
        covariance[i * DIM + j] = covariance[i * DIM + j]! + (deviations[row * DIM + i]! * deviations[row * DIM + j]!) / count;
      }
    }
  }
  let trace = 0;
  let squaredSum = 0;
  covariance.forEach((value, index) => {
    squaredSum += value * value;
    if (index % (DIM + 1) === 0) {
      trace += value;
    }
  });
  return (trace * trace) / squaredSum;
}

/** Draws noise with the deviations' covariance: a combination of them with Gaussian weights. */
class NoiseSource {
  private readonly count: number;
  private readonly unitScale: number;

  public constructor(
    private readonly deviations: Float32Array,
    private readonly random: Random,
  ) {
    this.count = deviations.length / DIM;
    let squaredNorms = 0;
    for (const value of deviations) {
      squaredNorms += value * value;
    }
    // sum(g_i d_i) with standard normal g_i has expected squared norm sum(|d_i|^2).
    this.unitScale = 1 / Math.sqrt(squaredNorms);
  }

  /** Sets `out[offset ..]` to `center[centerOffset ..]` plus noise of expected squared norm `squaredNorm`, normalized. */
  public around(center: Float32Array, centerOffset: number, squaredNorm: number, out: Float32Array, offset: number): void {
    const scale = Math.sqrt(squaredNorm) * this.unitScale;
    out.set(center.subarray(centerOffset, centerOffset + DIM), offset);
    for (let row = 0; row < this.count; row += 1) {
      const weight = scale * this.random.nextGaussian();
      const rowOffset = row * DIM;
      for (let j = 0; j < DIM; j += 1) {
        out[offset + j] = out[offset + j]! + weight * this.deviations[rowOffset + j]!;
      }
    }
    normalizeInPlace(out, offset, DIM);
  }
}

/** Returns `count + QUERY_COUNT` images: the index's vectors, then the queries. */
function generateImages(real: RealEmbeddings, count: number): Float32Array {
  const random = new Random(DATA_SEED + count);
  const noise = new NoiseSource(real.deviations, random);
  const topics = new Float32Array(TOPICS * DIM);
  for (let topic = 0; topic < TOPICS; topic += 1) {
    noise.around(real.photos, (topic % PHOTOS.length) * DIM, TOPIC_NOISE, topics, topic * DIM);
  }
  const productCount = Math.max(1, Math.round(count / IMAGES_PER_PRODUCT));
  const products = new Float32Array(productCount * DIM);
  for (let product = 0; product < productCount; product += 1) {
    noise.around(topics, random.nextInt(TOPICS) * DIM, PRODUCT_NOISE, products, product * DIM);
  }
  const images = new Float32Array((count + QUERY_COUNT) * DIM);
  for (let image = 0; image < count + QUERY_COUNT; image += 1) {
    noise.around(products, random.nextInt(productCount) * DIM, IMAGE_NOISE, images, image * DIM);
  }
  return images;
}

/**
 * Runs `search` on every query, in batches of `BATCH`, `passes` times after one warm-up batch.
 * Returns the results of the first pass and the queries per second of every batch, from the
 * process's CPU time and from the wall clock, with their medians.
 */
function timeQueries<T>(
  passes: number,
  search: (query: number) => T,
): { results: T[]; rates: number[]; wallRates: number[]; qps: number; wallQps: number } {
  const results: T[] = [];
  const rates: number[] = [];
  const wallRates: number[] = [];
  for (let query = 0; query < Math.min(BATCH, QUERY_COUNT); query += 1) {
    search(query);
  }
  for (let pass = 0; pass < passes; pass += 1) {
    for (let start = 0; start < QUERY_COUNT; start += BATCH) {
      const end = Math.min(QUERY_COUNT, start + BATCH);
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      for (let query = start; query < end; query += 1) {
        const result = search(query);
        if (pass === 0) {
          results.push(result);
        }
      }
      const cpu = process.cpuUsage(cpuBefore);
      wallRates.push(((end - start) * 1000) / (performance.now() - started));
      rates.push(((end - start) * 1e6) / (cpu.user + cpu.system));
    }
  }
  return { results, rates, wallRates, qps: median(rates), wallQps: median(wallRates) };
}

function recallOf(truth: readonly Set<number>[], found: readonly (readonly number[])[]): number {
  let hits = 0;
  found.forEach((rows, query) => {
    hits += rows.filter((row) => truth[query]!.has(row)).length;
  });
  return hits / (truth.length * K);
}

/** Builds an index and returns it with its build time and the growth of the resident set. */
function measureBuild<T>(build: () => T): { index: T; buildSeconds: number; rssDelta: number } {
  collectGarbage();
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  const index = build();
  const buildSeconds = (performance.now() - started) / 1000;
  collectGarbage();
  return { index, buildSeconds, rssDelta: process.memoryUsage().rss - rssBefore };
}

/**
 * Returns the bytes that hnswlib's `HierarchicalNSW` constructor and `addPoint` allocate for
 * `count` elements, read from src/hnswlib/hnswalg.h as bundled in hnswlib-node 3.0.0. Each
 * element has a level-0 block: 2M links of 4 bytes, a 4-byte count, the float vector and an
 * 8-byte label. It also has an int level, a link-list pointer, a `std::mutex` (40 bytes on x86-64
 * glibc) and 2 bytes of the visited list. An element reaches level 1 with probability 1/M, so an expected 1 / (M - 1)
 * blocks of M links and a count per element sit above level 0. NOTE: an estimate; it leaves out
 * the label map (`std::unordered_map`), which the RSS delta includes.
 */
function hnswMemoryEstimate(count: number): number {
  const levelZero = 2 * HNSW_M * 4 + 4 + DIM * 4 + 8;
  const perElement = levelZero + 4 + 8 + 40 + 2;
  const upperLevels = (count / (HNSW_M - 1)) * (HNSW_M * 4 + 4);
  return count * perElement + upperLevels;
}

function rowsOf(vectors: Float32Array, first: number, count: number): Float32Array {
  return vectors.subarray(first * DIM, (first + count) * DIM);
}

function describeData(images: Float32Array, count: number, truthScores: number[]): string {
  const random = new Random(1);
  let pairSum = 0;
  const pairs = 10_000;
  for (let pair = 0; pair < pairs; pair += 1) {
    const a = random.nextInt(count);
    const b = random.nextInt(count);
    let dotProduct = 0;
    for (let j = 0; j < DIM; j += 1) {
      dotProduct += images[a * DIM + j]! * images[b * DIM + j]!;
    }
    pairSum += dotProduct;
  }
  const tenth = truthScores.reduce((sum, score) => sum + score, 0) / truthScores.length;
  return `mean cosine of random pairs ${(pairSum / pairs).toFixed(3)}, mean cosine of the 10th nearest neighbour ${tenth.toFixed(3)}`;
}

/** One index at one set of search parameters. */
interface Setting {
  method: string;
  params: string;
  indexBytes: number;
  rssDelta: number;
  buildSeconds: number;
  /** Sets index-wide search parameters before a run, such as hnswlib's ef. */
  prepare?: () => void;
  search: (query: number) => readonly number[];
}

function benchmarkSize(real: RealEmbeddings, count: number): Measurement[] {
  console.log(`\n## N = ${count}`);
  const started = performance.now();
  const images = generateImages(real, count);
  const base = rowsOf(images, 0, count);
  const query = (index: number): Float32Array => rowsOf(images, count + index, 1);
  console.log(`generated ${count} + ${QUERY_COUNT} vectors in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const scores = new Float32Array(count);
  const exact = timeQueries(1, (index) => exactTopK(base, DIM, query(index), K, undefined, scores));
  const truth = exact.results.map((hits) => new Set(hits.map((hit) => hit.row)));
  console.log(describeData(images, count, exact.results.map((hits) => hits[K - 1]!.score)));
  console.log(`brute force: ${exact.qps.toFixed(1)} QPS (wall clock ${exact.wallQps.toFixed(1)})`);

  const settings: Setting[] = [];
  const ids = Array.from({ length: count }, (_, row) => String(row));
  for (const kind of ['sq8', 'pq'] as QuantizerKind[]) {
    const { index, buildSeconds, rssDelta } = measureBuild(() => IvfIndex.build(base, ids, DIM, { quantizer: { kind } }));
    const indexBytes = index.memoryBytes();
    console.log(`IVF ${kind}: nlist ${index.nlist}, built in ${buildSeconds.toFixed(1)} s, ${(indexBytes / 1e6).toFixed(1)} MB, RSS +${(rssDelta / 1e6).toFixed(1)} MB`);
    for (const nprobe of IVF_NPROBE) {
      for (const rerank of IVF_RERANK) {
        settings.push({
          method: `IVF ${kind}`,
          params: `nlist ${index.nlist}, nprobe ${nprobe}, rerank ${rerank}`,
          indexBytes,
          rssDelta,
          buildSeconds,
          search: (queryIndex) => index.search(query(queryIndex), K, { nprobe, rerank }).map((hit) => Number(hit.id)),
        });
      }
    }
  }

  const hnswQueries = Array.from({ length: QUERY_COUNT }, (_, index) => Array.from(query(index)));
  const hnsw = measureBuild(() => {
    const index = new hnswlib.HierarchicalNSW('ip', DIM);
    index.initIndex(count, HNSW_M, HNSW_EF_CONSTRUCTION);
    for (let row = 0; row < count; row += 1) {
      index.addPoint(Array.from(rowsOf(base, row, 1)), row);
    }
    return index;
  });
  const hnswBytes = hnswMemoryEstimate(count);
  console.log(`hnswlib: built in ${hnsw.buildSeconds.toFixed(1)} s, about ${(hnswBytes / 1e6).toFixed(1)} MB, RSS +${(hnsw.rssDelta / 1e6).toFixed(1)} MB`);
  for (const ef of HNSW_EF) {
    settings.push({
      method: 'hnswlib-node',
      params: `M ${HNSW_M}, efConstruction ${HNSW_EF_CONSTRUCTION}, ef ${ef}`,
      indexBytes: hnswBytes,
      rssDelta: hnsw.rssDelta,
      buildSeconds: hnsw.buildSeconds,
      prepare: () => hnsw.index.setEf(ef),
      search: (queryIndex) => hnsw.index.searchKnn(hnswQueries[queryIndex]!, K).neighbors,
    });
  }

  // Every pass times every setting once, so that a slow spell of the machine slows all of them.
  const rates = settings.map(() => ({ cpu: [] as number[], wall: [] as number[] }));
  const recalls: number[] = [];
  for (let pass = 0; pass < PASSES; pass += 1) {
    settings.forEach((setting, index) => {
      setting.prepare?.();
      settle();
      const run = timeQueries(1, setting.search);
      rates[index]!.cpu.push(...run.rates);
      rates[index]!.wall.push(...run.wallRates);
      if (pass === 0) {
        recalls.push(recallOf(truth, run.results));
      }
    });
    console.log(`pass ${pass + 1} of ${PASSES} done after ${((performance.now() - started) / 60_000).toFixed(1)} min`);
  }

  const measurements: Measurement[] = [
    { method: 'brute force', params: '-', recall: 1, qps: exact.qps, indexBytes: base.byteLength, rssDelta: 0, buildSeconds: 0 },
  ];
  settings.forEach((setting, index) => {
    const qps = median(rates[index]!.cpu);
    console.log(
      `${setting.method}, ${setting.params}: recall ${recalls[index]!.toFixed(3)}, ${qps.toFixed(0)} QPS (wall clock ${median(rates[index]!.wall).toFixed(0)})`,
    );
    measurements.push({ ...setting, recall: recalls[index]!, qps });
  });
  return measurements;
}

/** Returns the fastest setting of `method` whose recall reaches `target`. */
function fastestAt(measurements: readonly Measurement[], method: string, target: number): Measurement | undefined {
  return measurements
    .filter((measurement) => measurement.method === method && measurement.recall >= target)
    .sort((a, b) => b.qps - a.qps)[0];
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

function printTable(count: number, measurements: readonly Measurement[]): void {
  const brute = measurements.find((measurement) => measurement.method === 'brute force')!;
  console.log(`\n### N = ${count.toLocaleString('en-US')}\n`);
  console.log('| target | method | params | recall@10 | QPS (median) | vs brute force | vs hnswlib | index memory | RSS delta | build (s) |');
  console.log('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  console.log(`| - | brute force | - | 1.000 | ${brute.qps.toFixed(1)} | 1.0 | - | ${megabytes(brute.indexBytes)} | - | - |`);
  for (const target of RECALL_TARGETS) {
    const hnsw = fastestAt(measurements, 'hnswlib-node', target);
    for (const method of ['IVF sq8', 'IVF pq', 'hnswlib-node']) {
      const best = fastestAt(measurements, method, target);
      if (best === undefined) {
        console.log(`| ${target} | ${method} | no setting reached the target | | | | | | | |`);
        continue;
      }
      const versusHnsw = hnsw === undefined ? '-' : (best.qps / hnsw.qps).toFixed(2);
      console.log(
        `| ${target} | ${method} | ${best.params} | ${best.recall.toFixed(3)} | ${best.qps.toFixed(0)} | ${(best.qps / brute.qps).toFixed(0)} | ${versusHnsw} | ${megabytes(best.indexBytes)} | ${megabytes(best.rssDelta)} | ${best.buildSeconds.toFixed(1)} |`,
      );
    }
  }
}

const started = performance.now();
console.log(`# Vector search benchmark`);
console.log(`CPU: ${os.cpus()[0]?.model ?? 'unknown'}, ${os.cpus().length} cores, Node.js ${process.version}, load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`);
const real = await embedPhotos();
console.log(`augmented copies: the covariance of their deviations has an effective dimension of ${effectiveDimension(real.deviations).toFixed(1)}`);
const results = new Map<number, Measurement[]>();
for (const count of SIZES) {
  results.set(count, benchmarkSize(real, count));
  collectGarbage();
}
for (const [count, measurements] of results) {
  printTable(count, measurements);
}
console.log(
  `\nfinished in ${((performance.now() - started) / 60_000).toFixed(1)} min, peak RSS ${(process.resourceUsage().maxRSS / 1e6).toFixed(1)} GB, load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`,
);
