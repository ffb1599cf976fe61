/**
 * Predict latency for each shipped model on real photos, in one run:
 *
 * - decode+resize: `decodeImage` plus the model's preprocessing (sharp resize, tensor fill);
 * - session.run: the bare onnxruntime call on ready-made feeds;
 * - end to end: `POST /v2/models/{id}/outputs` through the local HTTP API, which adds base64,
 *   JSON, the authorizer's key lookup, post-processing and the HTTP round trip.
 *
 * Prints medians over `BENCH_RUNS` repeats (default 30, after 3 warm-up runs) as a Markdown
 * table for bench/RESULTS.md. Run with `npm run bench`.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeImage } from '#commons/image/decode.ts';
import { ensureModelsBuilt } from '#commons/models/build.ts';
import { getModel, listModels, preprocess, runSession } from '#commons/models/index.ts';
import { startLocalStack } from '../local/stack.ts';
import { median } from './stats.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? '30');
const WARMUP_RUNS = 3;
const PHOTOS = ['page.png', 'text.png', 'rocket.jpg', 'chelsea.jpg'];

async function timeMedian(action: () => Promise<unknown>): Promise<number> {
  for (let run = 0; run < WARMUP_RUNS; run += 1) {
    await action();
  }
  const durations: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    const started = performance.now();
    await action();
    durations.push(performance.now() - started);
  }
  return median(durations);
}

await ensureModelsBuilt();
const stack = await startLocalStack({ port: 0 });

const rows: string[] = [];
try {
  for (const manifest of listModels()) {
    for (const photo of PHOTOS) {
      const bytes = readFileSync(path.join('test/fixtures/images', photo));
      const body = JSON.stringify({ inputs: [{ data: { image: { base64: bytes.toString('base64') } } }] });
      const model = getModel(manifest.id);
      const feeds = await preprocess(model, await decodeImage(bytes));

      const decodeResize = await timeMedian(async () => preprocess(model, await decodeImage(bytes)));
      const sessionRun = await timeMedian(() => runSession(manifest.id, feeds));
      const endToEnd = await timeMedian(async () => {
        const response = await fetch(`${stack.apiUrl}/v2/models/${manifest.id}/outputs`, {
          method: 'POST',
          headers: { authorization: `Key ${stack.apiKey}`, 'content-type': 'application/json' },
          body,
        });
        if (response.status !== 200) {
          throw new Error(`Predict on ${photo} returned HTTP ${response.status}: ${await response.text()}`);
        }
        await response.json();
      });

      const ratio = endToEnd / (decodeResize + sessionRun);
      rows.push(
        `| ${manifest.id} | ${photo} | ${decodeResize.toFixed(1)} | ${sessionRun.toFixed(1)} | ${endToEnd.toFixed(1)} | ${ratio.toFixed(2)} |`,
      );
      console.error(rows.at(-1));
    }
  }
} finally {
  await stack.stop();
}

console.log(`Machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);
console.log(`Medians of ${RUNS} runs after ${WARMUP_RUNS} warm-up runs, in milliseconds.\n`);
console.log('| model | photo | decode+resize | session.run | end to end (HTTP) | end to end / (decode+resize + run) |');
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
console.log(rows.join('\n'));
