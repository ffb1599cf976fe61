/**
 * The bundled assets: the runtime layer's content, the function bundles, and the size
 * limit of Lambda. This file synthesizes once with bundling, as `cdk synth` does.
 */
import { App, Stack } from 'aws-cdk-lib';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RuntimeLayer, RuntimeLayerInputError } from '../../lib/constructs/runtime-layer.ts';
import { BUILT_MODELS_DIR, PROJECT_ROOT } from '../../lib/project.ts';
import { logicalIdOf, synthesizePercept } from './synthesize.ts';

/** Lambda's limit on a function's code plus all its layers, unzipped. */
const LAMBDA_UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024;

const NODE = path.join(PROJECT_ROOT, 'node_modules', '.bin', 'node');
const FIXTURE_IMAGE = path.join(PROJECT_ROOT, 'test', 'fixtures', 'images', 'chelsea.jpg');

const synthesized = synthesizePercept({ bundling: true });
const { stack, template, assembly } = synthesized;
const scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), 'percept-assets-test-'));
afterAll(() => {
  synthesized.cleanUp();
  fs.rmSync(scratchDir, { recursive: true, force: true });
});

/** Staged asset folder of a resource's code, found by the S3 key `<asset hash>.zip` in the template. */
function assetDirOf(logicalId: string, codeProperty: 'Code' | 'Content'): string {
  const resource = template.toJSON().Resources[logicalId] as { Properties: Record<string, { S3Key: string }> };
  const s3Key = resource.Properties[codeProperty]?.S3Key;
  if (s3Key === undefined) {
    throw new Error(`Resource ${logicalId} has no ${codeProperty}.S3Key.`);
  }
  return path.join(assembly.directory, `asset.${s3Key.replace(/\.zip$/, '')}`);
}

function directorySize(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      total += fs.statSync(path.join(entry.parentPath, entry.name)).size;
    }
  }
  return total;
}

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

const layerDir = assetDirOf(logicalIdOf(stack.runtimeLayer.layerVersion), 'Content');
const layerModules = path.join(layerDir, 'nodejs', 'node_modules');

const layeredFunctions = [...Object.values(stack.modelFunctions.byModelType), stack.api.apiFunction];
const plainFunctions = [
  stack.api.authorizerFunction,
  stack.ingest.ingestFunction,
  stack.workflowEngine.writeAnnotationsFunction,
  stack.workflowEngine.recordFailureFunction,
];

describe('runtime layer', () => {
  it('keeps only linux x64 binaries', () => {
    const onnxBinaries = path.join(layerModules, 'onnxruntime-node', 'bin', 'napi-v6');
    const files = filesUnder(layerDir);

    expect(fs.readdirSync(onnxBinaries)).toEqual(['linux']);
    expect(fs.readdirSync(path.join(onnxBinaries, 'linux'))).toEqual(['x64']);
    expect(fs.readdirSync(path.join(layerModules, '@img')).sort()).toEqual([
      'colour',
      'sharp-libvips-linux-x64',
      'sharp-linux-x64',
    ]);
    expect(files.filter((file) => /\.(dll|dylib)$/.test(file))).toEqual([]);
    expect(files.filter((file) => file.endsWith('.node')).sort()).toEqual([
      expect.stringMatching(/^nodejs\/node_modules\/@img\/sharp-linux-x64\/lib\/sharp-linux-x64[-.\d]*\.node$/),
      'nodejs/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
    ]);
  });

  it('contains the built models', () => {
    const builtModelIds = fs.readdirSync(BUILT_MODELS_DIR).sort();

    expect(stack.runtimeLayer.modelIds).toEqual(builtModelIds);
    expect(fs.readdirSync(path.join(layerDir, 'models')).sort()).toEqual(builtModelIds);
    for (const modelId of builtModelIds) {
      expect(fs.readdirSync(path.join(layerDir, 'models', modelId)).sort()).toEqual(['manifest.json', 'model.onnx']);
    }
  });

  it('loads sharp and onnxruntime', () => {
    const modelId = stack.runtimeLayer.modelIds[0] ?? 'no model';
    // Lambda puts /opt/nodejs/node_modules on NODE_PATH; the scratch folder has no node_modules of its own.
    const script = `
      const sharp = require('sharp');
      const ort = require('onnxruntime-node');
      (async () => {
        const metadata = await sharp(${JSON.stringify(FIXTURE_IMAGE)}).metadata();
        const session = await ort.InferenceSession.create(${JSON.stringify(path.join(layerDir, 'models', modelId, 'model.onnx'))});
        console.log(JSON.stringify({
          sharpPath: require.resolve('sharp'),
          ortPath: require.resolve('onnxruntime-node'),
          format: metadata.format,
          inputNames: session.inputNames,
        }));
      })();
    `;

    const output = execFileSync(NODE, ['-e', script], {
      cwd: scratchDir,
      env: { PATH: process.env.PATH ?? '', NODE_PATH: layerModules },
      encoding: 'utf8',
    });
    const result = JSON.parse(output) as { sharpPath: string; ortPath: string; format: string; inputNames: string[] };

    expect(result.sharpPath.startsWith(layerModules)).toBe(true);
    expect(result.ortPath.startsWith(layerModules)).toBe(true);
    expect(result.format).toBe('jpeg');
    expect(result.inputNames.length).toBeGreaterThan(0);
  });

  it('stays under the lambda size limit', () => {
    const layerBytes = directorySize(layerDir);
    const largestBundleBytes = Math.max(
      ...layeredFunctions.map((fn) => directorySize(assetDirOf(logicalIdOf(fn), 'Code'))),
    );

    expect(layerBytes + largestBundleBytes).toBeLessThan(LAMBDA_UNZIPPED_LIMIT_BYTES);
  });
});

describe('function bundles', () => {
  /** Imports a bundle from a copy of its folder, the way Lambda loads `index.mjs` from /var/task. */
  function importBundle(fn: (typeof layeredFunctions)[number], withLayer: boolean): string {
    const taskRoot = fs.mkdtempSync(path.join(scratchDir, 'task-'));
    const taskDir = path.join(taskRoot, 'task');
    fs.cpSync(assetDirOf(logicalIdOf(fn), 'Code'), taskDir, { recursive: true });
    if (withLayer) {
      // ES modules ignore NODE_PATH: a node_modules folder above the bundle takes the layer's place.
      fs.symlinkSync(layerModules, path.join(taskRoot, 'node_modules'));
    }
    const script = `const module = await import(${JSON.stringify(path.join(taskDir, 'index.mjs'))}); console.log(typeof module.handler);`;
    return execFileSync(NODE, ['--input-type=module', '-e', script], {
      cwd: taskRoot,
      env: { PATH: process.env.PATH ?? '', MODEL_DIR: path.join(layerDir, 'models') },
      encoding: 'utf8',
    }).trim();
  }

  it.each(layeredFunctions.map((fn) => [fn.node.path, fn] as const))('%s imports with the layer', (_path, fn) => {
    expect(importBundle(fn, true)).toBe('function');
  });

  it.each(plainFunctions.map((fn) => [fn.node.path, fn] as const))('%s imports without the layer', (_path, fn) => {
    const bundle = fs.readFileSync(path.join(assetDirOf(logicalIdOf(fn), 'Code'), 'index.mjs'), 'utf8');

    expect(bundle).not.toMatch(/from\s*["'](sharp|onnxruntime-node)["']/);
    expect(importBundle(fn, false)).toBe('function');
  });

  it.each([...layeredFunctions, ...plainFunctions].map((fn) => [fn.node.path, fn] as const))(
    '%s ships a source map',
    (_path, fn) => {
      const dir = assetDirOf(logicalIdOf(fn), 'Code');

      expect(fs.readdirSync(dir).sort()).toEqual(['index.mjs', 'index.mjs.map']);
      expect(fs.readFileSync(path.join(dir, 'index.mjs'), 'utf8')).toMatch(/\/\/# sourceMappingURL=index\.mjs\.map\s*$/);
    },
  );
});

describe('runtime layer inputs', () => {
  /** Returns what constructing a layer from `modelsDir` throws, or undefined when it succeeds. */
  function layerError(modelsDir: string): unknown {
    const emptyStack = new Stack(new App(), 'LayerInputs');
    try {
      new RuntimeLayer(emptyStack, 'RuntimeLayer', { modelsDir });
    } catch (error) {
      return error;
    }
    return undefined;
  }

  it('fails when models folder is missing', () => {
    const modelsDir = path.join(scratchDir, 'no-models');

    const error = layerError(modelsDir);

    expect(error).toBeInstanceOf(RuntimeLayerInputError);
    expect((error as RuntimeLayerInputError).code).toBe('MODELS_DIR_MISSING');
    expect((error as RuntimeLayerInputError).message).toBe(
      `Models folder ${modelsDir} does not exist. Run \`npm run models\` before synthesizing.`,
    );
  });

  it('fails when a model file is missing', () => {
    const modelsDir = path.join(scratchDir, 'incomplete-models');
    fs.mkdirSync(path.join(modelsDir, 'half-built'), { recursive: true });
    fs.writeFileSync(path.join(modelsDir, 'half-built', 'model.onnx'), 'not a model');

    const error = layerError(modelsDir);

    expect(error).toBeInstanceOf(RuntimeLayerInputError);
    expect((error as RuntimeLayerInputError).code).toBe('MODELS_INCOMPLETE');
    expect((error as RuntimeLayerInputError).message).toBe(
      `Models folder ${modelsDir} is incomplete (half-built/manifest.json is missing). Run \`npm run models\` to rebuild it.`,
    );
  });

  /** Returns a layer built from a folder with one model, `only`, whose model.onnx is `model bytes`. */
  function oneModelLayer(folderName: string): { layer: RuntimeLayer; modelsDir: string } {
    const modelsDir = path.join(scratchDir, folderName);
    fs.mkdirSync(path.join(modelsDir, 'only'), { recursive: true });
    fs.writeFileSync(path.join(modelsDir, 'only', 'model.onnx'), 'model bytes');
    fs.writeFileSync(path.join(modelsDir, 'only', 'manifest.json'), '{}');
    return { layer: new RuntimeLayer(new Stack(new App(), 'LayerVersions'), 'RuntimeLayer', { modelsDir }), modelsDir };
  }

  it('version id is the model file hash', () => {
    const { layer } = oneModelLayer('hashed-model');

    expect(layer.modelVersionId('only')).toBe(createHash('sha256').update('model bytes').digest('hex').slice(0, 32));
  });

  it('fails for a model not in the layer', () => {
    const { layer, modelsDir } = oneModelLayer('other-model');
    let error: unknown;
    try {
      layer.modelVersionId('absent');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RuntimeLayerInputError);
    expect((error as RuntimeLayerInputError).code).toBe('MODEL_NOT_IN_LAYER');
    expect((error as RuntimeLayerInputError).message).toBe(
      `Model absent is not in ${modelsDir}, which has only. Run \`npm run models\` to build it.`,
    );
  });
});
