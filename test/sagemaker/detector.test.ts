/**
 * train.py with --model_type visual-detector (SSDlite) on fixture photos pasted onto a text
 * page, and the exported detector in ONNX Runtime and in server.ts compared with PyTorch.
 */
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Region } from '#commons/clarifai/types.ts';
import type { ClassifierMetrics } from '#commons/classifier/metrics.ts';
import { decodeImage } from '#commons/image/decode.ts';
import { DECODERS } from '#commons/models/decoders/index.ts';
import { type DetectionOutputSpec, type ModelManifest, validateManifest } from '#commons/models/manifest.ts';
import { planResize, prepareInput } from '#commons/models/preprocess.ts';
import {
  DETECTION_PHOTOS,
  type DatasetFolders,
  makeTempDir,
  runTraining,
  startServer,
  stopAll,
  type TrainingRun,
  waitForPing,
  writeDetectionDataset,
} from './helpers.ts';

interface DetectorReferenceItem {
  input_id: string;
  input_png_base64: string;
  boxes: number[];
  scores: number[];
}

/** ClassifierMetrics fields with detection meanings, plus average precision. */
interface DetectorMetrics extends ClassifierMetrics {
  per_concept: Array<ClassifierMetrics['per_concept'][number] & { average_precision: number }>;
  mean_average_precision: number;
  iou_threshold: number;
  score_threshold: number;
  held_out_images: number;
}

const IMAGE_SIZE = 96;
// Boxes are in input pixels (0 to 96): float32 kernels of PyTorch and ONNX Runtime agree to
// about 1e-5 pixels on the same tensor, measured. Scores are softmax outputs from 0 to 1.
const BOX_TOLERANCE_PIXELS = 1e-3;
const SCORE_TOLERANCE = 1e-5;
// A detector trained for 2 epochs scores few anchors above the manifest's 0.3, so the served
// copy of the manifest uses this lower threshold to get regions to compare.
const SERVED_SCORE_THRESHOLD = 0.1;

let workDir: string;
let dataset: DatasetFolders;
let run: TrainingRun;
let manifest: ModelManifest;
let reference: DetectorReferenceItem[];

beforeAll(async () => {
  workDir = await makeTempDir('detector');
  dataset = await writeDetectionDataset(path.join(workDir, 'dataset'));
  run = await runTraining(dataset, path.join(workDir, 'run'), [
    '--model_type', 'visual-detector', '--image_size', String(IMAGE_SIZE), '--epochs', '2', '--batch_size', '8', '--seed', '1',
  ]);
  if (run.exitCode !== 0) {
    throw new Error(`train.py failed:\n${run.stdout}\n${run.stderr}`);
  }
  const manifestPath = path.join(run.modelDir, 'manifest.json');
  manifest = validateManifest(JSON.parse(await readFile(manifestPath, 'utf8')) as unknown, manifestPath);
  reference = (JSON.parse(await readFile(path.join(run.modelDir, 'reference.json'), 'utf8')) as { items: DetectorReferenceItem[] }).items;
});

afterAll(async () => {
  await stopAll();
  await rm(workDir, { recursive: true, force: true });
});

function maxDifference(actual: ArrayLike<number>, expected: readonly number[]): number {
  expect(actual.length).toBe(expected.length);
  let max = 0;
  for (let index = 0; index < expected.length; index++) {
    max = Math.max(max, Math.abs((actual[index] ?? NaN) - (expected[index] ?? NaN)));
  }
  return max;
}

/** Same concept, score within SCORE_TOLERANCE and box sides within BOX_TOLERANCE_PIXELS of the input. */
function sameRegion(actual: Region, expected: Region): boolean {
  const sides = ['top_row', 'left_col', 'bottom_row', 'right_col'] as const;
  const boxTolerance = BOX_TOLERANCE_PIXELS / IMAGE_SIZE;
  return (
    actual.data.concepts[0]?.id === expected.data.concepts[0]?.id &&
    Math.abs((actual.value ?? NaN) - (expected.value ?? NaN)) < SCORE_TOLERANCE &&
    sides.every((side) => Math.abs(actual.region_info.bounding_box[side] - expected.region_info.bounding_box[side]) < boxTolerance)
  );
}

describe('train.py detector', () => {
  it('writes a detection-boxes manifest', () => {
    expect(manifest.model_type_id).toBe('visual-detector');
    expect(manifest.output).toMatchObject({
      decoder: 'detection-boxes',
      tensor: 'boxes',
      scores_tensor: 'scores',
      box_format: 'xyxy',
      box_units: 'pixels',
    });
    expect(manifest.concepts.map((concept) => concept.id)).toEqual(Object.keys(DETECTION_PHOTOS));
    expect(manifest.input.resize).toEqual({ mode: 'stretch', width: IMAGE_SIZE, height: IMAGE_SIZE });
  });

  it('writes held-out detection metrics', async () => {
    const metrics = JSON.parse(await readFile(path.join(run.modelDir, 'metrics.json'), 'utf8')) as DetectorMetrics;

    const conceptIds = Object.keys(DETECTION_PHOTOS);

    expect(metrics.iou_threshold).toBe(0.5);
    expect(metrics.folds).toBe(1);
    // round(8 * 0.2) = 2 held-out images of each concept, one box each.
    expect(metrics.held_out_images).toBe(4);
    expect(metrics.per_concept.map((concept) => concept.concept_id)).toEqual(conceptIds);
    for (const concept of metrics.per_concept) {
      expect(concept.positives).toBe(2);
      expect(concept.negatives).toBe(2);
      for (const value of [concept.average_precision, concept.precision, concept.recall, concept.f1]) {
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThanOrEqual(1);
      }
    }
    expect(Object.keys(metrics.macro).sort()).toEqual(['f1', 'precision', 'recall']);
    expect(metrics.mean_average_precision).toBeCloseTo(
      metrics.per_concept.reduce((sum, concept) => sum + concept.average_precision, 0) / conceptIds.length,
      10,
    );
    expect(metrics.confusion_matrix.labels).toEqual(conceptIds);
    // An image without any detection stays out of the matrix, so it counts at most the 4 held-out images.
    expect(metrics.confusion_matrix.matrix.flat().reduce((sum, count) => sum + count, 0)).toBeLessThanOrEqual(4);
    expect(metrics.top1_accuracy).toBeGreaterThanOrEqual(0);
    expect(metrics.top1_accuracy).toBeLessThanOrEqual(1);
  });

  it('matches PyTorch on the same tensor', async () => {
    const session = await InferenceSession.create(path.join(run.modelDir, 'model.onnx'));
    try {
      expect(reference).toHaveLength(3);
      for (const item of reference) {
        const image = await decodeImage(Buffer.from(item.input_png_base64, 'base64'));
        const input = await prepareInput(manifest, image);
        const outputs = await session.run({ [manifest.input.tensor]: new Tensor('float32', input.data, input.dims) });

        expect(maxDifference(outputs.boxes!.data as Float32Array, item.boxes), item.input_id).toBeLessThan(BOX_TOLERANCE_PIXELS);
        expect(maxDifference(outputs.scores!.data as Float32Array, item.scores), item.input_id).toBeLessThan(SCORE_TOLERANCE);
      }
    } finally {
      await session.release();
    }
  });
});

describe('server.ts detector', () => {
  it('serves the regions decoded from PyTorch outputs', async () => {
    const servedDir = path.join(workDir, 'served');
    await mkdir(servedDir, { recursive: true });
    const output = { ...(manifest.output as DetectionOutputSpec), score_threshold: SERVED_SCORE_THRESHOLD };
    const served: ModelManifest = { ...manifest, output };
    await copyFile(path.join(run.modelDir, 'model.onnx'), path.join(servedDir, 'model.onnx'));
    await writeFile(path.join(servedDir, 'manifest.json'), JSON.stringify(served));
    const server = await startServer(servedDir, { PERCEPT_EXECUTION_PROVIDER: 'cpu' });
    await waitForPing(server);

    let regionCount = 0;
    for (const item of reference) {
      const response = await fetch(`${server.url}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'image/png' },
        body: Buffer.from(item.input_png_base64, 'base64'),
      });
      const body = (await response.json()) as { outputs: Array<{ data: { regions: Region[] } }> };
      const anchors = item.scores.length / served.concepts.length;
      const expected = DECODERS['detection-boxes']({
        manifest: served,
        outputs: {
          boxes: new Tensor('float32', Float32Array.from(item.boxes), [1, anchors, 4]),
          scores: new Tensor('float32', Float32Array.from(item.scores), [1, anchors, served.concepts.length]),
        },
        batchIndex: 0,
        geometry: planResize(served.input.resize, IMAGE_SIZE, IMAGE_SIZE),
      }).regions!;
      const actual = body.outputs[0]!.data.regions;

      expect(response.status).toBe(200);
      expect(actual).toHaveLength(expected.length);
      // Regions are matched regardless of order, because near-equal scores may sort either way.
      const unmatched = [...actual];
      for (const region of expected) {
        const index = unmatched.findIndex((candidate) => sameRegion(candidate, region));
        expect(index, `region ${JSON.stringify(region)} of ${item.input_id} not served`).toBeGreaterThanOrEqual(0);
        unmatched.splice(index, 1);
      }
      regionCount += expected.length;
    }
    // Guards the comparison against an empty result on both sides.
    expect(regionCount).toBeGreaterThan(0);
  });
});
