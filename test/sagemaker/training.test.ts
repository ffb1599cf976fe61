/**
 * sagemaker/training/train.py on a tiny dataset of three concepts (crops of three fixture
 * photos), run with Debian's PyTorch on the CPU, and its failures on bad data.
 */
import { existsSync } from 'node:fs';
import { appendFile, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClassifierMetrics } from '#commons/classifier/metrics.ts';
import { validateManifest } from '#commons/models/manifest.ts';
import {
  CONCEPT_PHOTOS,
  type DatasetFolders,
  makeTempDir,
  runTraining,
  stopAll,
  type TrainingRun,
  writeDataset,
} from './helpers.ts';

const IMAGE_SIZE = 64;
const TINY_RUN = ['--image_size', String(IMAGE_SIZE), '--epochs', '2', '--batch_size', '8', '--seed', '1'];
const CONCEPT_IDS = Object.keys(CONCEPT_PHOTOS);

let workDir: string;
let dataset: DatasetFolders;
let run: TrainingRun;

beforeAll(async () => {
  workDir = await makeTempDir('train');
  dataset = await writeDataset(path.join(workDir, 'dataset'));
  run = await runTraining(dataset, path.join(workDir, 'run'), [...TINY_RUN, '--backbone', 'mobilenet_v3_small', '--augmentation', 'strong']);
});

afterAll(async () => {
  await stopAll();
  await rm(workDir, { recursive: true, force: true });
});

async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

describe('train.py classifier', () => {
  it('exits 0 without a failure file', () => {
    expect(run.exitCode, run.stdout + run.stderr).toBe(0);
    expect(run.failure).toBeUndefined();
  });

  it('writes a manifest the runtime accepts', async () => {
    const manifestPath = path.join(run.modelDir, 'manifest.json');
    const manifest = validateManifest(await readJson<unknown>(manifestPath), manifestPath);

    expect(manifest.model_type_id).toBe('visual-classifier');
    expect(manifest.output).toEqual({ decoder: 'sigmoid-concepts', tensor: 'logits', scores: 'logits' });
    expect(manifest.concepts.map((concept) => concept.id)).toEqual(CONCEPT_IDS);
    expect(manifest.input.resize).toEqual({ mode: 'stretch', width: IMAGE_SIZE, height: IMAGE_SIZE });
    expect(manifest.input.layout).toBe('NCHW');
    expect(manifest.input.normalization.mean).toEqual([0.485, 0.456, 0.406]);
    expect(manifest.source.type).toBe('app-upload');
  });

  it('exports ONNX with a dynamic batch', async () => {
    const session = await InferenceSession.create(path.join(run.modelDir, 'model.onnx'));
    try {
      expect(session.inputNames).toEqual(['images']);
      expect(session.outputNames).toEqual(['logits']);
      for (const batch of [1, 3]) {
        const input = new Tensor('float32', new Float32Array(batch * 3 * IMAGE_SIZE * IMAGE_SIZE), [batch, 3, IMAGE_SIZE, IMAGE_SIZE]);
        const outputs = await session.run({ images: input });
        expect(outputs.logits?.dims).toEqual([batch, CONCEPT_IDS.length]);
      }
    } finally {
      await session.release();
    }
  });

  it('writes held-out metrics as ClassifierMetrics', async () => {
    const metrics = await readJson<ClassifierMetrics>(path.join(run.modelDir, 'metrics.json'));
    const heldOut = metrics.per_concept[0]!.positives + metrics.per_concept[0]!.negatives;

    expect(metrics.folds).toBe(1);
    expect(metrics.per_concept.map((concept) => concept.concept_id)).toEqual(CONCEPT_IDS);
    // round(8 * 0.2) = 2 held-out images of each concept.
    expect(heldOut).toBe(CONCEPT_IDS.length * 2);
    for (const concept of metrics.per_concept) {
      expect(concept.positives).toBe(2);
      expect(concept.negatives).toBe(heldOut - 2);
      for (const value of [concept.precision, concept.recall, concept.f1]) {
        expect(value).toBeGreaterThanOrEqual(0);
        expect(value).toBeLessThanOrEqual(1);
      }
      expect(concept.roc_auc).toBeTypeOf('number');
    }
    expect(Object.keys(metrics.macro).sort()).toEqual(['f1', 'precision', 'recall', 'roc_auc']);
    expect(metrics.top1_accuracy).toBeGreaterThanOrEqual(0);
    expect(metrics.top1_accuracy).toBeLessThanOrEqual(1);
    expect(metrics.confusion_matrix.labels).toEqual(CONCEPT_IDS);
    expect(metrics.confusion_matrix.matrix.flat().reduce((sum, count) => sum + count, 0)).toBe(heldOut);
  });

  it('writes reference outputs of held-out images', async () => {
    const reference = await readJson<{ image_size: number; items: Array<Record<string, unknown>> }>(
      path.join(run.modelDir, 'reference.json'),
    );

    expect(reference.image_size).toBe(IMAGE_SIZE);
    expect(reference.items).toHaveLength(3);
    for (const item of reference.items) {
      expect(item.probabilities).toHaveLength(CONCEPT_IDS.length);
      expect(item.logits).toHaveLength(CONCEPT_IDS.length);
      expect(existsSync(path.join(dataset.images, item.image as string))).toBe(true);
    }
  });
});

describe('train.py failures', () => {
  async function badDataset(name: string, change: (folders: DatasetFolders) => Promise<void>): Promise<TrainingRun> {
    const folders = await writeDataset(path.join(workDir, name, 'dataset'));
    await change(folders);
    return runTraining(folders, path.join(workDir, name, 'run'), TINY_RUN);
  }

  function expectFailure(failed: TrainingRun, ...phrases: string[]): void {
    expect(failed.exitCode).toBe(1);
    expect(failed.failure).toBeDefined();
    for (const phrase of phrases) {
      expect(failed.failure).toContain(phrase);
    }
    expect(existsSync(path.join(failed.modelDir, 'model.onnx'))).toBe(false);
  }

  it('rejects a dataset without labelled images', async () => {
    const failed = await badDataset('empty', (folders) => writeFile(path.join(folders.labels, 'dataset.jsonl'), '\n'));
    expectFailure(failed, 'contains no labelled images');
  });

  it('rejects a concept without positives', async () => {
    const failed = await badDataset('no-positives', async (folders) => {
      const concepts = [...CONCEPT_IDS, 'dog'].map((id) => ({ id, name: id }));
      await writeFile(path.join(folders.labels, 'concepts.json'), JSON.stringify(concepts));
    });
    expectFailure(failed, "'dog' has 0 positive image(s)", 'Each concept needs at least 2 positive images');
  });

  it('rejects an unreadable image', async () => {
    const failed = await badDataset('truncated', async (folders) => {
      const file = path.join(folders.images, 'photos/cat-0.jpg');
      const bytes = await readFile(file);
      await writeFile(file, bytes.subarray(0, Math.floor(bytes.length / 3)));
    });
    expectFailure(failed, '1 image(s) could not be read', 'cat-0');
  });

  it('rejects an unknown concept id', async () => {
    const failed = await badDataset('unknown-concept', (folders) =>
      appendFile(path.join(folders.labels, 'dataset.jsonl'), `${JSON.stringify({ input_id: 'x', image: 'photos/cat-0.jpg', concepts: ['horse'] })}\n`),
    );
    expectFailure(failed, "concepts that concepts.json does not list: 'horse' (line 25)");
  });

  it('rejects an unsupported backbone', async () => {
    const failed = await runTraining(dataset, path.join(workDir, 'vgg'), [...TINY_RUN, '--backbone', 'vgg16']);
    expectFailure(failed, "Backbone 'vgg16' is not supported for visual-classifier", 'resnet18', 'mobilenet_v3_small');
  });

  it('reports a failed weights download', async () => {
    // Every proxy variable points at a closed port on 127.0.0.1, so the download fails locally.
    const closedProxy = 'http://127.0.0.1:9';
    const failed = await runTraining(dataset, path.join(workDir, 'pretrained'), [...TINY_RUN, '--pretrained', 'true'], {
      TORCH_HOME: path.join(workDir, 'torch-home'),
      https_proxy: closedProxy,
      HTTPS_PROXY: closedProxy,
      http_proxy: closedProxy,
      HTTP_PROXY: closedProxy,
      no_proxy: undefined,
      NO_PROXY: undefined,
    });
    expectFailure(failed, 'Could not download the pretrained resnet18 weights', 'set pretrained to false');
  });
});
