/**
 * The embedding classifier (`functions/commons/classifier/`) against scikit-learn, and its
 * training time.
 *
 * Accuracy: the seven photos of test/fixtures/images are the classes. `BENCH_SETS` sets
 * (default 3) are built, each from its own seed (20261204, 20261205, ...). In each set, every
 * class gets `BENCH_EXAMPLES` (default 30) augmented copies made with sharp. A copy is a small
 * random crop (5% to 25% of the photo's area), flipped horizontally with probability 1/2 and
 * rotated by up to 25 degrees. Half of the copies get a patch of another photo pasted over 15%
 * to 35% of the crop. Last come brightness 0.5 to 1.5, a blur and JPEG quality 15 to 90.
 * The copies are embedded with `predict('general-image-embedding')`, L2-normalized and dealt
 * into 5 stratified folds (shuffled per class with the set's seed). Per fold, Percept's
 * `trainScorers` trains on four folds and `scoreWith` scores the fifth. The top-1 class is the
 * one with the highest score. bench/classifier_reference.py runs scikit-learn's LogisticRegression on the same
 * vectors and folds. `crossValidate`'s own top-1 accuracy, on its round-robin folds, is
 * printed too.
 *
 * Training time: medians of `trainScorers` and of `crossValidate` (5 folds) on synthetic
 * clustered 120-d vectors (10 Gaussian clusters, L2-normalized), 10 concepts x 50 and
 * 10 concepts x 1000 examples.
 *
 * Prints Markdown tables for bench/RESULTS.md. Run with `npm run bench:classifier`, and
 * `BENCH_PYTHON` to pick the Python that has scikit-learn (default /usr/bin/python3).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { crossValidate } from '#commons/classifier/metrics.ts';
import { type TrainingExample, l2Normalize, scoreWith, trainScorers } from '#commons/classifier/train.ts';
import { decodeImage } from '#commons/image/decode.ts';
import { predict } from '#commons/models/index.ts';
import { median, positiveIntegerFromEnv } from './stats.ts';

const IMAGES_DIR = 'test/fixtures/images';
const PHOTOS = ['astronaut.jpg', 'camera.jpg', 'chelsea.jpg', 'coffee.jpg', 'page.png', 'rocket.jpg', 'text.png'];
const EXAMPLES_PER_CLASS = positiveIntegerFromEnv('BENCH_EXAMPLES', 30);
const FOLDS = 5;
/** Augmented sets, each from its own seed, so that one lucky draw does not decide the comparison. */
const SETS = positiveIntegerFromEnv('BENCH_SETS', 3);
const SEED = 20261204;
const PYTHON = process.env.BENCH_PYTHON ?? '/usr/bin/python3';
const REFERENCE_SCRIPT = 'bench/classifier_reference.py';

const SYNTHETIC_CONCEPTS = 10;
const SYNTHETIC_DIMENSIONS = 120;
/** Examples per concept, and how many timed runs of each function the size gets. */
const SYNTHETIC_SIZES = [
  { perConcept: 50, trainRuns: 7, crossValidateRuns: 5 },
  { perConcept: 1000, trainRuns: 3, crossValidateRuns: 1 },
];

/** Mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniform(random: () => number, low: number, high: number): number {
  return low + (high - low) * random();
}

/** Standard normal sample by the Box-Muller transform. */
function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

interface Photo {
  name: string;
  bytes: Buffer;
  width: number;
  height: number;
}

async function loadPhotos(): Promise<Photo[]> {
  return Promise.all(
    PHOTOS.map(async (name) => {
      // Flattened to RGB so that every crop and paste below has 3 channels.
      const bytes = await sharp(readFileSync(path.join(IMAGES_DIR, name)))
        .flatten({ background: '#ffffff' })
        .removeAlpha()
        .png()
        .toBuffer();
      const { width, height } = await sharp(bytes).metadata();
      return { name, bytes, width, height };
    }),
  );
}

/** Picks a random rectangle covering `areaShare` of a width x height image, aspect ratio 3:4 to 4:3. */
function randomRectangle(
  random: () => number,
  width: number,
  height: number,
  areaShare: number,
): { left: number; top: number; width: number; height: number } {
  const aspect = uniform(random, 0.75, 4 / 3);
  const area = areaShare * width * height;
  const cropWidth = Math.max(16, Math.min(width, Math.round(Math.sqrt(area * aspect))));
  const cropHeight = Math.max(16, Math.min(height, Math.round(Math.sqrt(area / aspect))));
  return {
    left: Math.floor(random() * (width - cropWidth + 1)),
    top: Math.floor(random() * (height - cropHeight + 1)),
    width: cropWidth,
    height: cropHeight,
  };
}

/** Makes one augmented JPEG copy of `photos[classIndex]`, as described in the file header. */
async function augment(photos: readonly Photo[], classIndex: number, random: () => number): Promise<Buffer> {
  const photo = photos[classIndex]!;
  const crop = randomRectangle(random, photo.width, photo.height, uniform(random, 0.05, 0.25));
  let image = sharp(photo.bytes).extract(crop);
  if (random() < 0.5) {
    image = image.flop();
  }
  const gray = Math.round(uniform(random, 0, 255));
  image = image.rotate(uniform(random, -25, 25), { background: { r: gray, g: gray, b: gray } });
  let pixels = await image.png().toBuffer();

  if (random() < 0.5) {
    const { width, height } = await sharp(pixels).metadata();
    const otherIndex = (classIndex + 1 + Math.floor(random() * (photos.length - 1))) % photos.length;
    const other = photos[otherIndex]!;
    const patch = randomRectangle(random, width, height, uniform(random, 0.15, 0.35));
    const source = randomRectangle(random, other.width, other.height, uniform(random, 0.05, 0.25));
    const patchBytes = await sharp(other.bytes)
      .extract(source)
      .resize(patch.width, patch.height, { fit: 'fill' })
      .png()
      .toBuffer();
    pixels = await sharp(pixels)
      .composite([{ input: patchBytes, left: patch.left, top: patch.top }])
      .png()
      .toBuffer();
  }

  let finish = sharp(pixels).modulate({ brightness: uniform(random, 0.5, 1.5) });
  const sigma = uniform(random, 0, 2.5);
  // sharp accepts a Gaussian sigma of 0.3 or more, so smaller draws mean no blur.
  if (sigma >= 0.3) {
    finish = finish.blur(sigma);
  }
  return finish.jpeg({ quality: Math.round(uniform(random, 15, 90)) }).toBuffer();
}

/** Deals stratified folds: each class's examples are shuffled, then dealt round-robin. */
function stratifiedFolds(labels: readonly number[], folds: number, random: () => number): number[] {
  const foldOf = labels.map(() => 0);
  const classes = [...new Set(labels)];
  for (const label of classes) {
    const indices = labels.flatMap((value, index) => (value === label ? [index] : []));
    for (let i = indices.length - 1; i > 0; i -= 1) {
      const j = Math.floor(random() * (i + 1));
      [indices[i], indices[j]] = [indices[j]!, indices[i]!];
    }
    indices.forEach((index, position) => {
      foldOf[index] = position % folds;
    });
  }
  return foldOf;
}

function examplesOf(
  vectors: readonly number[][],
  labels: readonly number[],
  conceptIds: readonly string[],
): TrainingExample[] {
  return vectors.map((vector, index) => ({
    vector,
    positives: new Set([conceptIds[labels[index]!]!]),
    negatives: new Set<string>(),
  }));
}

/** Computes the top-1 accuracy of trainScorers + scoreWith on each held-out fold. */
function perceptFoldAccuracies(
  examples: readonly TrainingExample[],
  labels: readonly number[],
  foldOf: readonly number[],
  conceptIds: readonly string[],
): number[] {
  const accuracies: number[] = [];
  for (let fold = 0; fold < FOLDS; fold += 1) {
    const scorers = trainScorers(
      conceptIds,
      examples.filter((_, index) => foldOf[index] !== fold),
    );
    let correct = 0;
    let total = 0;
    examples.forEach((example, index) => {
      if (foldOf[index] !== fold) {
        return;
      }
      const scores = scorers.map((scorer) => scoreWith(scorer, example.vector));
      correct += scores.indexOf(Math.max(...scores)) === labels[index] ? 1 : 0;
      total += 1;
    });
    accuracies.push(correct / total);
  }
  return accuracies;
}

interface ReferenceResult {
  sklearn_version: string;
  default: { per_fold: number[]; mean: number };
  standardized: { per_fold: number[]; mean: number };
  matched: { per_fold: number[]; mean: number };
  convergence_warnings: number;
}

interface AccuracyRow {
  classifier: string;
  perFold: readonly number[];
  mean: number;
}

/** Builds, embeds and classifies one augmented set, from the seeded source `seed`. */
async function accuracyOfSet(
  photos: readonly Photo[],
  seed: number,
): Promise<{ rows: AccuracyRow[]; sklearnVersion: string; warnings: number }> {
  const random = seededRandom(seed);
  const conceptIds = photos.map((photo) => path.parse(photo.name).name);

  const labels: number[] = [];
  const vectors: number[][] = [];
  for (let classIndex = 0; classIndex < photos.length; classIndex += 1) {
    const decoded = [];
    for (let copy = 0; copy < EXAMPLES_PER_CLASS; copy += 1) {
      decoded.push(await decodeImage(await augment(photos, classIndex, random)));
      labels.push(classIndex);
    }
    const outputs = await predict('general-image-embedding', decoded);
    for (const output of outputs) {
      const vector = output.embeddings?.[0]?.vector;
      if (vector === undefined) {
        throw new Error('general-image-embedding returned no embedding vector.');
      }
      vectors.push(l2Normalize(vector));
    }
  }
  const foldOf = stratifiedFolds(labels, FOLDS, random);

  const examples = examplesOf(vectors, labels, conceptIds);
  const percept = perceptFoldAccuracies(examples, labels, foldOf, conceptIds);
  const ownFolds = crossValidate(conceptIds, examples, FOLDS);

  const directory = await mkdtemp(path.join(os.tmpdir(), 'percept-classifier-bench-'));
  let reference: ReferenceResult;
  try {
    const dataPath = path.join(directory, 'data.json');
    await writeFile(dataPath, JSON.stringify({ classes: conceptIds, vectors, labels, folds: foldOf }));
    reference = JSON.parse(execFileSync(PYTHON, [REFERENCE_SCRIPT, dataPath], { encoding: 'utf8' })) as ReferenceResult;
  } finally {
    await rm(directory, { recursive: true, force: true });
  }

  const rows: AccuracyRow[] = [
    { classifier: 'Percept trainScorers + scoreWith', perFold: percept, mean: average(percept) },
    {
      classifier: 'scikit-learn LogisticRegression()',
      perFold: reference.default.per_fold,
      mean: reference.default.mean,
    },
    {
      classifier: 'scikit-learn StandardScaler + LogisticRegression()',
      perFold: reference.standardized.per_fold,
      mean: reference.standardized.mean,
    },
    {
      classifier: 'scikit-learn one-vs-rest, standardized, balanced, C = 1 / (0.01 n)',
      perFold: reference.matched.per_fold,
      mean: reference.matched.mean,
    },
    {
      classifier: 'Percept crossValidate, its own round-robin folds',
      perFold: [],
      mean: ownFolds?.top1_accuracy ?? Number.NaN,
    },
  ];
  return { rows, sklearnVersion: reference.sklearn_version, warnings: reference.convergence_warnings };
}

function average(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / Math.max(values.length, 1);
}

async function accuracyBenchmark(): Promise<void> {
  const photos = await loadPhotos();
  const percent = (value: number): string => (100 * value).toFixed(1);
  const means = new Map<string, number[]>();
  const lines: string[] = [];
  let sklearnVersion = '';
  let warnings = 0;
  const started = performance.now();
  for (let set = 0; set < SETS; set += 1) {
    const result = await accuracyOfSet(photos, SEED + set);
    sklearnVersion = result.sklearnVersion;
    warnings += result.warnings;
    for (const row of result.rows) {
      means.set(row.classifier, [...(means.get(row.classifier) ?? []), row.mean]);
      lines.push(`| ${set + 1} | ${row.classifier} | ${percent(row.mean)} | ${row.perFold.map(percent).join(', ')} |`);
    }
  }

  console.log(
    `\n${SETS} sets of ${photos.length} classes x ${EXAMPLES_PER_CLASS} augmented photos, ` +
      `built, embedded and classified in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
      `scikit-learn ${sklearnVersion}, ${warnings} convergence warnings.\n`,
  );
  console.log('| set | classifier | top-1 accuracy, mean (%) | per fold (%) |');
  console.log('| ---: | --- | ---: | --- |');
  lines.forEach((line) => console.log(line));
  console.log('\n| classifier | top-1 accuracy, mean of the sets (%) |');
  console.log('| --- | ---: |');
  for (const [classifier, values] of means) {
    console.log(`| ${classifier} | ${percent(average(values))} |`);
  }
}

/** `perConcept` examples around each of `SYNTHETIC_CONCEPTS` random unit centers, L2-normalized. */
function syntheticExamples(
  perConcept: number,
  random: () => number,
): { conceptIds: string[]; examples: TrainingExample[] } {
  const conceptIds = Array.from({ length: SYNTHETIC_CONCEPTS }, (_, index) => `concept-${index}`);
  const centers = conceptIds.map(() =>
    l2Normalize(Array.from({ length: SYNTHETIC_DIMENSIONS }, () => gaussian(random))),
  );
  // Two random unit centers lie about 1.4 apart. Noise of 0.35 per dimension along the line
  // between them makes the clusters overlap, so that held-out top-1 stays well below 100%.
  const spread = 0.35;
  const examples: TrainingExample[] = [];
  centers.forEach((center, conceptIndex) => {
    for (let i = 0; i < perConcept; i += 1) {
      examples.push({
        vector: l2Normalize(center.map((value) => value + spread * gaussian(random))),
        positives: new Set([conceptIds[conceptIndex]!]),
        negatives: new Set<string>(),
      });
    }
  });
  return { conceptIds, examples };
}

function timeRuns(runs: number, call: () => unknown): number {
  const times: number[] = [];
  for (let run = 0; run < runs; run += 1) {
    const started = performance.now();
    call();
    times.push(performance.now() - started);
  }
  return median(times);
}

function trainingTimeBenchmark(): void {
  const random = seededRandom(SEED - 1);
  console.log(
    '\n| data | trainScorers, median (ms) | runs | crossValidate (5 folds), median (ms) | runs | crossValidate top-1 (%) |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const size of SYNTHETIC_SIZES) {
    const { conceptIds, examples } = syntheticExamples(size.perConcept, random);
    trainScorers(conceptIds, examples.slice(0, 100));
    const trainMs = timeRuns(size.trainRuns, () => trainScorers(conceptIds, examples));
    let top1 = 0;
    const crossValidateMs = timeRuns(size.crossValidateRuns, () => {
      top1 = crossValidate(conceptIds, examples, FOLDS)?.top1_accuracy ?? Number.NaN;
    });
    console.log(
      `| ${SYNTHETIC_CONCEPTS} x ${size.perConcept}, synthetic ${SYNTHETIC_DIMENSIONS}-d | ${trainMs.toFixed(0)} | ${size.trainRuns} | ` +
        `${crossValidateMs.toFixed(0)} | ${size.crossValidateRuns} | ${(100 * top1).toFixed(1)} |`,
    );
  }
}

const started = performance.now();
console.log(`Node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${new Date().toISOString()}`);
await accuracyBenchmark();
trainingTimeBenchmark();
console.log(`\nTotal run time ${((performance.now() - started) / 1000).toFixed(0)} s.`);
