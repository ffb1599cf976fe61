/**
 * `npm start`: builds the models if needed, starts the local stack and serves the API
 * until Ctrl+C. Data is kept in `.percept/` between starts.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureModelsBuilt } from '#commons/models/build.ts';
import { startLocalStack } from './stack.ts';

const DATA_DIR = path.resolve(process.env.PERCEPT_DATA_DIR ?? '.percept');
const port = portFromEnv('PORT', 8080);
const s3Port = portFromEnv('S3_PORT', 4569);

await ensureModelsBuilt();
await mkdir(DATA_DIR, { recursive: true });
const apiKey = process.env.PERCEPT_API_KEY ?? (await savedApiKey());
const stack = await startLocalStack({ port, s3Port, dataDir: DATA_DIR, apiKey });
if (process.env.PERCEPT_API_KEY === undefined) {
  await writeFile(path.join(DATA_DIR, 'api-key'), `${stack.apiKey}\n`, { mode: 0o600 });
}

console.log(`
Percept is running.

  API       ${stack.apiUrl}   (Clarifai v2 routes under /v2)
  API key   ${stack.apiKey}
  Bucket    s3://${stack.bucketName} at ${stack.s3Endpoint}  (uploads/ starts the default workflow;
            credentials S3RVER / S3RVER, region us-east-1, path-style addressing)
  Data      ${DATA_DIR}

Try it:
  curl -s -H "Authorization: Key ${stack.apiKey}" ${stack.apiUrl}/v2/models

Press Ctrl+C to stop.
`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.log('Stopping: waiting for running workflows to finish.');
    void stack
      .idle()
      .then(() => stack.stop())
      .then(() => process.exit(0));
  });
}

function portFromEnv(name: string, fallback: number): number {
  const value = process.env[name];
  const port = Number(value ?? fallback);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`${name}=${JSON.stringify(value)} is not a valid port. Use a number from 0 to 65535.`);
    process.exit(1);
  }
  return port;
}

async function savedApiKey(): Promise<string | undefined> {
  const file = path.join(DATA_DIR, 'api-key');
  return existsSync(file) ? (await readFile(file, 'utf8')).trim() : undefined;
}
