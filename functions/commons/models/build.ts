/**
 * The model build step: copies each model's ONNX file out of its npm package into
 * `<modelDir>/<id>/model.onnx`, with `manifest.json` beside it, and verifies the SHA-256.
 * `npm run models` calls it for every built-in model. The runtime calls it for one model on
 * first use, which copies the file only when the folder is missing or its file is wrong.
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
import { type ModelManifest, versionIdOf } from '#commons/models/manifest.ts';

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
  /** `built` when the file was copied now, `skipped` when a verified copy was already there. */
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

/** Builds one model unless its folder already contains a file with the expected SHA-256. */
export async function ensureModelBuilt(manifest: ModelManifest, options: BuildOptions = {}): Promise<BuiltModel> {
  const modelDir = path.join(options.modelDir ?? config.modelDir, manifest.id);
  const modelPath = path.join(modelDir, MODEL_FILE_NAME);
  const expected = manifest.source.sha256;

  const existing = await hashIfExists(modelPath);
  if (existing !== undefined && existing.sha256 === expected) {
    await refreshManifest(modelDir, manifest);
    const model = builtModel(manifest, modelPath, existing.sizeBytes, 'skipped');
    options.onEvent?.({ type: 'done', model });
    return model;
  }

  const source = await resolveSourceFile(manifest, options.searchFrom ?? process.cwd());
  await mkdir(modelDir, { recursive: true });
  const copy = await copyToTemporaryFile(source.file, modelPath, manifest.id, options.onEvent);
  try {
    if (copy.sha256 !== expected) {
      throw new ModelBuildError(
        'MODEL_CHECKSUM_MISMATCH',
        `Checksum mismatch for model ${manifest.id}: ${manifest.source.path} in ` +
          `${manifest.source.package}@${source.version} has SHA-256 ${copy.sha256}, but the manifest ` +
          `expects ${expected}. Reinstall the package, or update source.sha256 if the new file is intended.`,
      );
    }
    await rename(copy.temporaryPath, modelPath);
  } finally {
    await rm(copy.temporaryPath, { force: true });
  }
  await writeManifestIfChanged(modelDir, manifest);

  const model = builtModel(manifest, modelPath, copy.sizeBytes, 'built');
  options.onEvent?.({ type: 'done', model });
  return model;
}

function builtModel(manifest: ModelManifest, modelPath: string, sizeBytes: number, status: BuiltModel['status']): BuiltModel {
  const sha256 = manifest.source.sha256;
  return { id: manifest.id, modelPath, sha256, versionId: versionIdOf(sha256), sizeBytes, status };
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
  const { package: packageName, version: range, path: filePath } = manifest.source;
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
