/**
 * Paths of the repository that the constructs build from. They are resolved from this
 * file's location, so `cdk synth` and the tests work from any working directory.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root: the folder holding `package.json` and `package-lock.json`. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Folder that `npm run models` writes the built models to, one sub-folder per model. */
export const BUILT_MODELS_DIR = path.join(PROJECT_ROOT, '.cache', 'models');

/** Absolute path of a handler module, given relative to `functions/`. */
export function functionEntry(relativePath: string): string {
  return path.join(PROJECT_ROOT, 'functions', relativePath);
}
