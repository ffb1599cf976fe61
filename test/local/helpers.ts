/**
 * Helpers for tests that run against the local stack over HTTP, as a Clarifai client would.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';

export const IMAGES_DIR = path.resolve('test/fixtures/images');

export function imageBase64(name: string): string {
  return readFileSync(path.join(IMAGES_DIR, name)).toString('base64');
}

export interface ApiResponse {
  httpStatus: number;
  body: Record<string, any>;
}

export async function callApi(
  stack: LocalStack,
  method: string,
  route: string,
  body?: unknown,
  /** The key to send; `null` sends no Authorization header. */
  apiKey: string | null = stack.apiKey,
): Promise<ApiResponse> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey !== null) {
    headers.authorization = `Key ${apiKey}`;
  }
  let payload: string | undefined;
  if (typeof body === 'string') {
    payload = body;
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
  }
  const response = await fetch(`${stack.apiUrl}${route}`, { method, headers, body: payload });
  return { httpStatus: response.status, body: (await response.json()) as Record<string, any> };
}

/** Polls an input until its status is no longer pending or in progress. */
export async function waitForInput(stack: LocalStack, inputId: string, timeoutMs = 60_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await stack.idle();
    const { httpStatus, body } = await callApi(stack, 'GET', `/v2/inputs/${encodeURIComponent(inputId)}`);
    const code: unknown = body.input?.status?.code;
    if (httpStatus === 200 && code !== 30001 && code !== 30003) {
      return body.input as Record<string, any>;
    }
    if (Date.now() > deadline) {
      throw new Error(`Input ${inputId} did not finish within ${timeoutMs} ms; last response: ${JSON.stringify(body)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Returns an S3 client for the local stack's s3rver, which takes only its fixed credentials. */
export function localS3Client(stack: LocalStack): S3Client {
  return new S3Client({
    endpoint: stack.s3Endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/**
 * Starts a local stack before the tests of the calling file, runs `setup` on it, and stops it
 * after them. The stack exists only once `beforeAll` has run, so read it through the returned
 * object inside hooks and tests.
 */
export function useLocalStack(setup?: (stack: LocalStack) => Promise<void>): { readonly stack: LocalStack } {
  let started: LocalStack | undefined;
  beforeAll(async () => {
    started = await startLocalStack({ port: 0 });
    await setup?.(started);
  });
  afterAll(async () => {
    await started?.stop();
  });
  return {
    get stack(): LocalStack {
      if (started === undefined) {
        throw new Error('The local stack has not started yet. Read it inside a hook or a test.');
      }
      return started;
    },
  };
}

/** Polls a model version until it is no longer queued (21103) or training (21101), and returns it. */
export async function waitForVersion(
  stack: LocalStack,
  modelId: string,
  versionId: string,
  { timeoutMs, intervalMs = 250 }: { timeoutMs: number; intervalMs?: number },
): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await callApi(stack, 'GET', `/v2/models/${modelId}/versions/${versionId}`);
    const code: unknown = body.model_version?.status?.code;
    if (code !== 21103 && code !== 21101) {
      return body.model_version as Record<string, any>;
    }
    if (Date.now() > deadline) {
      throw new Error(`Version ${versionId} did not finish within ${timeoutMs} ms; last response: ${JSON.stringify(body)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Polls a trained model version until its inference component is no longer being created or updated, and returns it. */
export async function waitForDeployment(stack: LocalStack, modelId: string, versionId: string, timeoutMs = 60_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await callApi(stack, 'GET', `/v2/models/${modelId}/versions/${versionId}`);
    const status: unknown = body.model_version?.deployment?.status;
    if (status !== 'Creating' && status !== 'Updating') {
      return body.model_version as Record<string, any>;
    }
    if (Date.now() > deadline) {
      throw new Error(`The deployment of version ${versionId} did not finish within ${timeoutMs} ms; last response: ${JSON.stringify(body)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
