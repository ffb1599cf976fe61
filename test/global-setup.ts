/**
 * Builds the models once before any test file runs, so that test files running in
 * parallel never race to write the same model cache.
 */
import { ensureModelsBuilt } from '#commons/models/build.ts';

export default async function setup(): Promise<void> {
  await ensureModelsBuilt();
}
