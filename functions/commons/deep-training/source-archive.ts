/**
 * The training source archive: `sagemaker/training` packed as tar.gz, which SageMaker script
 * mode downloads from `sagemaker_submit_directory` and runs `sagemaker_program` from. The
 * CDK asset bundling and the local stack both build it with this function.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { create } from 'tar';

// Python bytecode is machine-specific and never part of the source.
function isSourceFile(relativePath: string): boolean {
  return !relativePath.split(path.sep).includes('__pycache__') && !relativePath.endsWith('.pyc');
}

/** Lists the files of `dir` to pack, relative to it, in sorted order. */
export function trainingSourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .filter(isSourceFile)
    .sort();
}

/** Writes the tar.gz of the training source folder `dir` to `file`, synchronously (CDK's local bundling is synchronous). */
export function writeTrainingSourceArchive(dir: string, file: string): void {
  const files = trainingSourceFiles(dir);
  if (files.length === 0) {
    throw new Error(`The training source folder ${dir} has no files; it must contain train.py.`);
  }
  create({ gzip: true, file, cwd: dir, sync: true, portable: true }, files);
}
