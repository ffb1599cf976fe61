/**
 * Chooses the app-wide vector backend from `SEARCH_BACKEND`: `ivf` (the default) keeps the
 * index in DynamoDB and S3, `s3-vectors` in Amazon S3 Vectors. One instance per container.
 */
import type { VectorBackend } from '#commons/search/backend.ts';
import { IvfBackend } from '#commons/search/backends/ivf.ts';
import { S3VectorsBackend } from '#commons/search/backends/s3-vectors.ts';

export type BackendName = VectorBackend['name'];

let backend: VectorBackend | undefined;

/** Returns the backend that `SEARCH_BACKEND` names; throws an `Error` naming the variable when it names none. */
export function searchBackendName(env: NodeJS.ProcessEnv = process.env): BackendName {
  const name = env.SEARCH_BACKEND?.trim() || 'ivf';
  if (name !== 'ivf' && name !== 's3-vectors') {
    throw new Error(`Environment variable SEARCH_BACKEND is ${JSON.stringify(name)}. Set it to "ivf" or "s3-vectors", or unset it for "ivf".`);
  }
  return name;
}

export function searchBackend(): VectorBackend {
  const name = searchBackendName();
  if (backend?.name !== name) {
    backend = name === 'ivf' ? new IvfBackend() : new S3VectorsBackend();
  }
  return backend;
}
