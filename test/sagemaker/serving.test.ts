/**
 * sagemaker/serving/server.ts as a child process on 127.0.0.1, serving a model that train.py
 * trained on a tiny dataset: the SageMaker /ping and /invocations contract, and parity of its
 * ONNX outputs with the PyTorch outputs that train.py stored in reference.json.
 */
import { copyFile, mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Concept } from '#commons/clarifai/types.ts';
import {
  CONCEPT_PHOTOS,
  type DatasetFolders,
  makeTempDir,
  runTraining,
  type ServingProcess,
  startServer,
  stopAll,
  type TrainingRun,
  waitForPing,
  writeDataset,
} from './helpers.ts';

interface ReferenceItem {
  input_id: string;
  image: string;
  input_png_base64: string;
  probabilities: number[];
}

// The reference PNGs are already at the model input size, so the serving code decodes the same
// pixels and skips resizing: both sides feed the same tensor up to float32 rounding of the
// normalization. What remains is the difference between PyTorch's and ONNX Runtime's float32
// kernels, measured below 3e-7 on these sigmoid outputs, so 1e-5 leaves a wide margin.
const SAME_TENSOR_TOLERANCE = 1e-5;

// The original JPEGs go through sharp's bilinear resize in the serving code, and PyTorch saw
// Pillow's bilinear resize. The two differ by a mean of under 1 grey level per pixel on the
// fixture photos, which moved these outputs by at most 0.005 when measured.
const RESIZED_TOLERANCE = 0.02;

const CONCEPT_IDS = Object.keys(CONCEPT_PHOTOS);

let workDir: string;
let dataset: DatasetFolders;
let run: TrainingRun;
let server: ServingProcess;
let reference: ReferenceItem[];
let pingBeforeLoad: { status: number; body: Record<string, unknown> };
let invocationBeforeLoad: { status: number; body: Record<string, unknown> };

beforeAll(async () => {
  workDir = await makeTempDir('serving');
  dataset = await writeDataset(path.join(workDir, 'dataset'));
  // resnet18, which learns the three photos within 3 epochs, so outputs differ between images.
  run = await runTraining(dataset, path.join(workDir, 'run'), [
    '--image_size', '64', '--epochs', '3', '--batch_size', '8', '--seed', '1', '--augmentation', 'light',
  ]);
  if (run.exitCode !== 0) {
    throw new Error(`train.py failed:\n${run.stdout}\n${run.stderr}`);
  }
  reference = (JSON.parse(await readFile(path.join(run.modelDir, 'reference.json'), 'utf8')) as { items: ReferenceItem[] }).items;

  // The server starts on an empty folder and loads the model once both files appear.
  const servedDir = path.join(workDir, 'served');
  server = await startServer(servedDir);
  const ping = await fetch(`${server.url}/ping`);
  pingBeforeLoad = { status: ping.status, body: (await ping.json()) as Record<string, unknown> };
  const invocation = await fetch(`${server.url}/invocations`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: 'x' });
  invocationBeforeLoad = { status: invocation.status, body: (await invocation.json()) as Record<string, unknown> };

  await mkdir(servedDir, { recursive: true });
  await copyFile(path.join(run.modelDir, 'model.onnx'), path.join(servedDir, 'model.onnx'));
  // manifest.json last and by rename, so the server never reads a half-written manifest.
  await copyFile(path.join(run.modelDir, 'manifest.json'), path.join(servedDir, 'manifest.tmp'));
  await rename(path.join(servedDir, 'manifest.tmp'), path.join(servedDir, 'manifest.json'));
});

afterAll(async () => {
  await stopAll();
  await rm(workDir, { recursive: true, force: true });
});

async function invoke(body: string | Buffer, contentType: string): Promise<{ status: number; body: Record<string, any> }> {
  const response = await fetch(`${server.url}/invocations`, { method: 'POST', headers: { 'content-type': contentType }, body });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

function valuesById(concepts: Concept[]): number[] {
  return CONCEPT_IDS.map((id) => {
    const concept = concepts.find((item) => item.id === id);
    if (concept === undefined) {
      throw new Error(`Concept ${id} missing from ${JSON.stringify(concepts)}.`);
    }
    return concept.value;
  });
}

function maxDifference(actual: number[], expected: number[]): number {
  return Math.max(...actual.map((value, index) => Math.abs(value - (expected[index] ?? NaN))));
}

describe('server.ts ping', () => {
  it('returns 503 before the model loads', () => {
    expect(pingBeforeLoad.status).toBe(503);
    expect(pingBeforeLoad.body.error_code).toBe('MODEL_NOT_LOADED');
    expect(invocationBeforeLoad.status).toBe(503);
    expect(invocationBeforeLoad.body.error_code).toBe('MODEL_NOT_LOADED');
  });

  it('returns 200 after the model loads', async () => {
    const response = await waitForPing(server);
    const body = (await response.json()) as Record<string, unknown>;

    expect(body.status).toBe('healthy');
    // No CUDA provider library here, so the default (try CUDA, then CPU) ends on the CPU.
    expect(body.execution_provider).toBe('cpu');
    expect(server.logs()).toContain('cuda execution provider unavailable, using cpu');
  });
});

describe('server.ts parity with PyTorch', () => {
  beforeAll(async () => {
    await waitForPing(server);
  });

  it('matches on the same input pixels', async () => {
    const inputs = reference.map((item) => ({ data: { image: { base64: item.input_png_base64 } } }));
    const { status, body } = await invoke(JSON.stringify({ inputs }), 'application/json');

    expect(status).toBe(200);
    expect(body.outputs).toHaveLength(reference.length);
    reference.forEach((item, index) => {
      const served = valuesById(body.outputs[index].data.concepts as Concept[]);
      expect(maxDifference(served, item.probabilities), item.input_id).toBeLessThan(SAME_TENSOR_TOLERANCE);
    });
  });

  it('matches on the original JPEGs', async () => {
    for (const item of reference) {
      const { status, body } = await invoke(await readFile(path.join(dataset.images, item.image)), 'image/jpeg');
      const served = valuesById(body.outputs[0].data.concepts as Concept[]);

      expect(status).toBe(200);
      expect(maxDifference(served, item.probabilities), item.input_id).toBeLessThan(RESIZED_TOLERANCE);
    }
  });

  it('distinguishes the concepts', () => {
    // Guards the parity checks against a model that returns the same scores for every image.
    const topConcepts = new Set(reference.map((item) => item.probabilities.indexOf(Math.max(...item.probabilities))));
    expect(topConcepts.size).toBeGreaterThan(1);
  });

  it('applies output_config', async () => {
    const first = reference[0]!;
    const request = { inputs: [{ data: { image: { base64: first.input_png_base64 } } }], output_config: { max_concepts: 1 } };
    const { status, body } = await invoke(JSON.stringify(request), 'application/json');
    const concepts = body.outputs[0].data.concepts as Concept[];

    expect(status).toBe(200);
    expect(concepts).toHaveLength(1);
    expect(concepts[0]?.value).toBeCloseTo(Math.max(...first.probabilities), 4);
  });
});

describe('server.ts bad requests', () => {
  beforeAll(async () => {
    await waitForPing(server);
  });

  it('rejects a truncated JPEG', async () => {
    const bytes = await readFile(path.join(dataset.images, 'photos/cat-0.jpg'));
    const { status, body } = await invoke(bytes.subarray(0, Math.floor(bytes.length / 2)), 'image/jpeg');

    expect(status).toBe(400);
    expect(body.error_code).toBe('IMAGE_TRUNCATED');
    expect(body.message).toContain('truncated or corrupt');
  });

  it('rejects bytes that are not an image', async () => {
    const { status, body } = await invoke('hello, not an image', 'application/octet-stream');

    expect(status).toBe(400);
    expect(body.error_code).toBe('NOT_AN_IMAGE');
    expect(body.message).toContain('is not an image');
  });

  it('rejects invalid base64', async () => {
    const request = { inputs: [{ data: { image: { base64: 'abc$def' } } }] };
    const { status, body } = await invoke(JSON.stringify(request), 'application/json');

    expect(status).toBe(400);
    expect(body.error_code).toBe('INVALID_BASE64');
    expect(body.message).toContain('inputs[0].data.image.base64 is not valid base64');
  });

  it('rejects malformed JSON', async () => {
    const { status, body } = await invoke('{"inputs": [', 'application/json');

    expect(status).toBe(400);
    expect(body.error_code).toBe('INVALID_JSON');
    expect(body.message).toContain('not valid JSON');
  });

  it('rejects a request without inputs', async () => {
    const { status, body } = await invoke('{}', 'application/json');

    expect(status).toBe(400);
    expect(body.error_code).toBe('INPUTS_MISSING');
  });

  it('rejects an unknown concept in output_config', async () => {
    const request = {
      inputs: [{ data: { image: { base64: reference[0]!.input_png_base64 } } }],
      output_config: { select_concepts: [{ id: 'horse' }] },
    };
    const { status, body } = await invoke(JSON.stringify(request), 'application/json');

    expect(status).toBe(400);
    expect(body.error_code).toBe('UNKNOWN_CONCEPT');
    expect(body.message).toContain('Concept "horse" is not a concept of model');
  });

  it('rejects an unsupported content type', async () => {
    const { status, body } = await invoke('a,b', 'text/csv');

    expect(status).toBe(400);
    expect(body.error_code).toBe('UNSUPPORTED_CONTENT_TYPE');
    expect(body.message).toContain('Content-Type "text/csv" is not accepted');
  });
});
