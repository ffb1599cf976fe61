/**
 * Workflow overhead on the local stack: the end-to-end time of a workflow run against the
 * sum of its models' own predict times, as a ratio.
 *
 * The workflow is `ocr-text-detector` -> `image-crop` -> `ocr-text-orientation` ->
 * `concept-thresholder`, on each photo:
 *
 * - models: in-process `predict()` of the detector on the photo, plus `predict()` of the
 *   orientation classifier on each crop, one call per crop (decode and preprocessing
 *   included, as a model node does them);
 * - end to end: `POST /v2/workflows/{id}/results` with the photo through the local HTTP API,
 *   which adds the S3 round trips of the image and crops, the state machine interpreter,
 *   the operators (crop, threshold), JSON between states and the HTTP request.
 *
 * Each run times the models, then the workflow, so both see the same machine load. Prints
 * medians over `BENCH_RUNS` runs (default 10, after 2 warm-up runs) and the median of the
 * per-run ratios as a Markdown table for bench/RESULTS.md. Run with `npm run bench:workflow`.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import type { Region } from '#commons/clarifai/types.ts';
import { decodeImage } from '#commons/image/decode.ts';
import { ensureModelsBuilt } from '#commons/models/build.ts';
import { predict } from '#commons/models/index.ts';
import { startLocalStack } from '../local/stack.ts';
import { median } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? '10');
const WARMUP_RUNS = 2;
const PHOTOS = ['page.png', 'text.png', 'rocket.jpg'];

/**
 * Times the models and the workflow run alternately, so that a change in the load of the
 * shared machine affects both alike, and returns the medians and the median of the
 * per-run ratios.
 */
async function timeInterleaved(
  models: () => Promise<number>,
  workflow: () => Promise<unknown>,
): Promise<{ detector: number; classifier: number; endToEnd: number; ratio: number }> {
  const detector: number[] = [];
  const classifier: number[] = [];
  const endToEnd: number[] = [];
  const ratios: number[] = [];
  for (let run = 0; run < WARMUP_RUNS + RUNS; run += 1) {
    const started = performance.now();
    const detectorTime = await models();
    const modelsTime = performance.now() - started;
    const workflowStarted = performance.now();
    await workflow();
    const workflowTime = performance.now() - workflowStarted;
    if (run >= WARMUP_RUNS) {
      detector.push(detectorTime);
      classifier.push(modelsTime - detectorTime);
      endToEnd.push(workflowTime);
      ratios.push(workflowTime / modelsTime);
    }
  }
  return { detector: median(detector), classifier: median(classifier), endToEnd: median(endToEnd), ratio: median(ratios) };
}

// Cuts each detected region out of the photo as PNG, as the image-crop operator stores them.
async function cropsOf(bytes: Buffer, regions: readonly Region[]): Promise<Buffer[]> {
  const image = await decodeImage(bytes);
  const raw = sharp(image.pixels, { raw: { width: image.width, height: image.height, channels: 3 } });
  return Promise.all(
    regions.map((region) => {
      const box = region.region_info.bounding_box;
      const left = Math.floor(box.left_col * image.width);
      const top = Math.floor(box.top_row * image.height);
      const width = Math.max(1, Math.ceil(box.right_col * image.width) - left);
      const height = Math.max(1, Math.ceil(box.bottom_row * image.height) - top);
      return raw.clone().extract({ left, top, width: Math.min(width, image.width - left), height: Math.min(height, image.height - top) }).png().toBuffer();
    }),
  );
}

async function call(apiUrl: string, apiKey: string, method: string, route: string, body: unknown): Promise<any> {
  const response = await fetch(`${apiUrl}${route}`, {
    method,
    headers: { authorization: `Key ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as any;
  if (response.status !== 200) {
    throw new Error(`${method} ${route} returned HTTP ${response.status}: ${JSON.stringify(json)}`);
  }
  return json;
}

await ensureModelsBuilt();
const stack = await startLocalStack({ port: 0 });

const rows: string[] = [];
try {
  await call(stack.apiUrl, stack.apiKey, 'POST', '/v2/models', { model: { id: 'line-crop', model_type_id: 'image-crop' } });
  await call(stack.apiUrl, stack.apiKey, 'POST', '/v2/models', {
    model: { id: 'upright-only', model_type_id: 'concept-thresholder', output_info: { data: { concepts: [{ id: 'rotation-0', value: 0.5 }] } } },
  });
  await call(stack.apiUrl, stack.apiKey, 'POST', '/v2/workflows', {
    workflows: [
      {
        id: 'ocr-lines',
        nodes: [
          { id: 'detect', model: { id: 'ocr-text-detector' } },
          { id: 'crop', model: { id: 'line-crop' }, node_inputs: [{ node_id: 'detect' }] },
          { id: 'orient', model: { id: 'ocr-text-orientation' }, node_inputs: [{ node_id: 'crop' }] },
          { id: 'upright', model: { id: 'upright-only' }, node_inputs: [{ node_id: 'orient' }] },
        ],
      },
    ],
  });

  for (const photo of PHOTOS) {
    const bytes = readFileSync(path.join('test/fixtures/images', photo));
    const [detected] = await predict('ocr-text-detector', [await decodeImage(bytes)]);
    const crops = await cropsOf(bytes, detected?.regions ?? []);

    const body = { inputs: [{ id: 'bench', data: { image: { base64: bytes.toString('base64') } } }] };
    const timing = await timeInterleaved(
      async () => {
        const started = performance.now();
        await predict('ocr-text-detector', [await decodeImage(bytes)]);
        const detectorTime = performance.now() - started;
        for (const crop of crops) {
          await predict('ocr-text-orientation', [await decodeImage(crop)]);
        }
        return detectorTime;
      },
      async () => {
        const result = await call(stack.apiUrl, stack.apiKey, 'POST', '/v2/workflows/ocr-lines/results', body);
        if (result.results[0].status.code !== 10000) {
          throw new Error(`The workflow failed on ${photo}: ${JSON.stringify(result.results[0].status)}`);
        }
      },
    );

    rows.push(
      `| ${photo} | ${crops.length} | ${timing.detector.toFixed(1)} | ${timing.classifier.toFixed(1)} | ${timing.endToEnd.toFixed(1)} | ${timing.ratio.toFixed(2)} |`,
    );
    console.error(rows.at(-1));
  }
} finally {
  await stack.stop();
}

console.log(`Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
console.log('| photo | crops | detector predict | classifier predict, all crops | end to end (HTTP) | end to end / models |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const row of rows) {
  console.log(row);
}
