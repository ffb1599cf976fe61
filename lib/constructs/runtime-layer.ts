import { AssetHashType, DockerImage, FileSystem } from 'aws-cdk-lib';
import { Architecture, Code, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { versionIdOf } from '#commons/models/manifest.ts';
import { BUILT_MODELS_DIR, PROJECT_ROOT } from '../project.ts';

/** A package copied into the layer, with the dependencies that it needs only to install. */
interface LayerPackage {
  name: string;
  installOnlyDependencies?: readonly string[];
}

/**
 * Packages the layer provides, for Lambda on linux x64 with glibc. sharp selects its
 * native build through `optionalDependencies`, so the linux-x64 builds are listed here.
 * onnxruntime-node requires only `onnxruntime-common` at run time; its postinstall
 * script alone uses `adm-zip` and `global-agent`.
 */
const LAYER_PACKAGES: readonly LayerPackage[] = [
  { name: 'onnxruntime-node', installOnlyDependencies: ['adm-zip', 'global-agent'] },
  { name: 'sharp' },
  { name: '@img/sharp-linux-x64' },
  { name: '@img/sharp-libvips-linux-x64' },
];

/** Folder of onnxruntime-node's prebuilt binaries, one sub-folder per `<platform>/<arch>`. */
const ONNXRUNTIME_BINARIES = path.join('onnxruntime-node', 'bin', 'napi-v6');
const ONNXRUNTIME_KEPT_PLATFORM = path.join(ONNXRUNTIME_BINARIES, 'linux', 'x64');

/** Stable codes of `RuntimeLayerInputError`. */
export type RuntimeLayerInputErrorCode =
  | 'MODELS_DIR_MISSING'
  | 'MODELS_INCOMPLETE'
  | 'MODEL_NOT_IN_LAYER'
  | 'LAYER_PACKAGE_MISSING';

/** Raised at synth time when the built models or an installed package that the layer copies is missing. */
export class RuntimeLayerInputError extends Error {
  public readonly code: RuntimeLayerInputErrorCode;

  constructor(code: RuntimeLayerInputErrorCode, message: string) {
    super(message);
    this.name = 'RuntimeLayerInputError';
    this.code = code;
  }
}

/** Files each built model folder must contain. */
const MODEL_FILES = ['model.onnx', 'manifest.json'] as const;

export interface RuntimeLayerProps {
  /**
   * Folder of built models, one sub-folder per model id holding `model.onnx` and `manifest.json`.
   * @default - `.cache/models` in the repository, as `npm run models` writes it
   */
  readonly modelsDir?: string;

  /**
   * `node_modules` folder that the native packages are copied from.
   * @default - the repository's `node_modules`
   */
  readonly nodeModulesDir?: string;
}

/**
 * Lambda layer with the native packages for model inference (onnxruntime-node, sharp and
 * sharp's libvips, linux x64 builds only) under `nodejs/node_modules/`, and the built
 * models under `models/`, so functions read them from `/opt/models`.
 *
 * The layer is assembled at synth time by copying from `node_modules`, without Docker.
 * Its asset hash covers the copied package versions and the model files, so an unchanged
 * layer is not copied again on the next synth.
 */
export class RuntimeLayer extends Construct {
  /** The layer version to attach to functions. */
  public readonly layerVersion: LayerVersion;

  /** Folder of the built models inside a function that uses the layer. */
  public readonly modelDir = '/opt/models';

  /** Ids of the models the layer contains, in the order `fs.readdirSync` lists them. */
  public readonly modelIds: readonly string[];

  /** Folder on the synthesizing machine that the built models are copied from. */
  public readonly sourceModelsDir: string;

  private readonly versionIds = new Map<string, string>();

  constructor(scope: Construct, id: string, props: RuntimeLayerProps = {}) {
    super(scope, id);

    const modelsDir = props.modelsDir ?? BUILT_MODELS_DIR;
    const nodeModulesDir = props.nodeModulesDir ?? path.join(PROJECT_ROOT, 'node_modules');
    this.sourceModelsDir = modelsDir;

    this.modelIds = listModelIds(modelsDir);
    const packageDirs = resolvePackageClosure(nodeModulesDir);

    this.layerVersion = new LayerVersion(this, 'LayerVersion', {
      description: `onnxruntime-node, sharp (linux x64) and models: ${this.modelIds.join(', ')}`,
      compatibleRuntimes: [Runtime.NODEJS_24_X],
      compatibleArchitectures: [Architecture.X86_64],
      code: Code.fromAsset(modelsDir, {
        assetHashType: AssetHashType.CUSTOM,
        assetHash: hashLayerInputs(modelsDir, nodeModulesDir, packageDirs),
        bundling: {
          // Required by the type but never pulled, because `tryBundle` returns true or throws.
          image: DockerImage.fromRegistry('scratch'),
          local: {
            tryBundle: (outputDir: string): boolean => {
              copyPackages(nodeModulesDir, packageDirs, path.join(outputDir, 'nodejs', 'node_modules'));
              copyModels(modelsDir, this.modelIds, path.join(outputDir, 'models'));
              return true;
            },
          },
        },
      }),
    });
  }

  /**
   * Returns the version id of a model in the layer: the first 32 hex digits of the SHA-256
   * of its model.onnx, which is what the model runtime reports for the same file.
   */
  public modelVersionId(modelId: string): string {
    const known = this.versionIds.get(modelId);
    if (known !== undefined) {
      return known;
    }
    if (!this.modelIds.includes(modelId)) {
      throw new RuntimeLayerInputError(
        'MODEL_NOT_IN_LAYER',
        `Model ${modelId} is not in ${this.sourceModelsDir}, which has ${this.modelIds.join(', ')}. Run \`npm run models\` to build it.`,
      );
    }
    const sha256 = createHash('sha256')
      .update(fs.readFileSync(path.join(this.sourceModelsDir, modelId, 'model.onnx')))
      .digest('hex');
    const versionId = versionIdOf(sha256);
    this.versionIds.set(modelId, versionId);
    return versionId;
  }
}

function listModelIds(modelsDir: string): string[] {
  if (!fs.existsSync(modelsDir)) {
    throw new RuntimeLayerInputError(
      'MODELS_DIR_MISSING',
      `Models folder ${modelsDir} does not exist. Run \`npm run models\` before synthesizing.`,
    );
  }

  const modelIds = fs
    .readdirSync(modelsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();

  const problems: string[] = [];
  for (const modelId of modelIds) {
    for (const file of MODEL_FILES) {
      if (!fs.existsSync(path.join(modelsDir, modelId, file))) {
        problems.push(`${modelId}/${file} is missing`);
      }
    }
  }
  if (modelIds.length === 0) {
    problems.push('no model folder found');
  }
  if (problems.length > 0) {
    throw new RuntimeLayerInputError(
      'MODELS_INCOMPLETE',
      `Models folder ${modelsDir} is incomplete (${problems.join('; ')}). Run \`npm run models\` to rebuild it.`,
    );
  }

  return modelIds;
}

/**
 * Returns the folders, relative to `nodeModulesDir`, of the layer packages and of every
 * package that they depend on at run time. A dependency installed in a nested
 * `node_modules` of its dependent is copied along with the dependent.
 */
function resolvePackageClosure(nodeModulesDir: string): string[] {
  const found = new Set<string>();
  const queue: Array<{ name: string; skip: readonly string[] }> = LAYER_PACKAGES.map((layerPackage) => ({
    name: layerPackage.name,
    skip: layerPackage.installOnlyDependencies ?? [],
  }));

  while (queue.length > 0) {
    const next = queue.shift()!;
    if (found.has(next.name)) {
      continue;
    }

    const manifestPath = path.join(nodeModulesDir, next.name, 'package.json');
    if (!fs.existsSync(manifestPath)) {
      throw new RuntimeLayerInputError(
        'LAYER_PACKAGE_MISSING',
        `Package ${next.name} is not installed in ${nodeModulesDir}. Run \`npm ci\` in the repository.`,
      );
    }
    found.add(next.name);

    const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as { dependencies?: Record<string, string> };
    for (const dependency of Object.keys(manifest.dependencies ?? {})) {
      const nested = path.join(nodeModulesDir, next.name, 'node_modules', dependency);
      if (next.skip.includes(dependency) || fs.existsSync(nested)) {
        continue;
      }
      queue.push({ name: dependency, skip: [] });
    }
  }

  return [...found].sort();
}

function hashLayerInputs(modelsDir: string, nodeModulesDir: string, packageDirs: readonly string[]): string {
  const hash = createHash('sha256');
  hash.update(FileSystem.fingerprint(modelsDir));
  for (const packageDir of packageDirs) {
    const manifest = JSON.parse(fs.readFileSync(path.join(nodeModulesDir, packageDir, 'package.json'), 'utf8')) as {
      version: string;
    };
    hash.update(`${packageDir}@${manifest.version}\n`);
  }
  // The copy rules below also shape the output: change this tag when changing them.
  hash.update('layer-layout-1');
  return hash.digest('hex');
}

/** Keeps onnxruntime-node's linux x64 binaries and drops those of other platforms. */
function isCopiedFile(relativePath: string): boolean {
  if (!relativePath.startsWith(ONNXRUNTIME_BINARIES + path.sep)) {
    return true;
  }
  return (
    relativePath === ONNXRUNTIME_KEPT_PLATFORM ||
    relativePath.startsWith(ONNXRUNTIME_KEPT_PLATFORM + path.sep) ||
    ONNXRUNTIME_KEPT_PLATFORM.startsWith(relativePath + path.sep)
  );
}

function copyPackages(nodeModulesDir: string, packageDirs: readonly string[], targetDir: string): void {
  for (const packageDir of packageDirs) {
    fs.cpSync(path.join(nodeModulesDir, packageDir), path.join(targetDir, packageDir), {
      recursive: true,
      filter: (source) => isCopiedFile(path.relative(nodeModulesDir, source)),
    });
  }
}

function copyModels(modelsDir: string, modelIds: readonly string[], targetDir: string): void {
  for (const modelId of modelIds) {
    fs.mkdirSync(path.join(targetDir, modelId), { recursive: true });
    for (const file of MODEL_FILES) {
      fs.copyFileSync(path.join(modelsDir, modelId, file), path.join(targetDir, modelId, file));
    }
  }
}
