/**
 * Helpers for the operator tests: local S3 and DynamoDB stand-ins, fixture images in the
 * bucket, real model outputs, and node events as the workflow engine builds them.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createTable } from '../../local/stack.ts';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import sharp from 'sharp';
import type { OutputData } from '#commons/clarifai/types.ts';
import type { DecodedImage } from '#commons/image/types.ts';
import { modelVersionId, predict } from '#commons/models/index.ts';
import { putImage } from '#commons/storage/images.ts';
import type { NodeOutput, NodeTaskEvent, RawModelParams, S3Ref } from '#commons/workflows/node-data.ts';
import type { Operator } from '#commons/workflows/operator.ts';

export const FIXTURES = path.resolve('test/fixtures/images');
const HOST = '127.0.0.1';
const REGION = 'us-east-1';

export interface LocalServices {
  bucket: string;
  stop(): Promise<void>;
}

/**
 * Starts s3rver with one bucket and, when `table` is set, dynalite with the Percept table,
 * both on 127.0.0.1 and free ports, and points the SDK clients of this process at them.
 */
export async function startServices(options: { table?: boolean } = {}): Promise<LocalServices> {
  const bucket = 'operators-test';
  const directory = await mkdtemp(path.join(os.tmpdir(), 'percept-operators-s3-'));
  const s3 = new S3rver({ address: HOST, port: 0, directory, silent: true, configureBuckets: [{ name: bucket, configs: [] }] });
  const s3Address = await s3.run();
  Object.assign(process.env, {
    AWS_REGION: REGION,
    // s3rver accepts only its own fixed credentials; dynalite accepts any.
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_S3: `http://${HOST}:${s3Address.port}`,
    S3_FORCE_PATH_STYLE: 'true',
    BUCKET_NAME: bucket,
  });
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;

  let stopTable = async (): Promise<void> => undefined;
  if (options.table === true) {
    const server = dynalite({ createTableMs: 0 });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, HOST, () => resolve());
    });
    const endpoint = `http://${HOST}:${(server.address() as AddressInfo).port}`;
    process.env.AWS_ENDPOINT_URL_DYNAMODB = endpoint;
    process.env.TABLE_NAME = 'percept';
    await createTable('percept', endpoint);
    stopTable = () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  }

  return {
    bucket,
    stop: async () => {
      await stopTable();
      await s3.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Uploads a fixture (or given bytes) to the bucket as an input image and returns its reference. */
export async function uploadImage(bucket: string, key: string, bytes: Buffer): Promise<S3Ref> {
  const ref = { bucket, key };
  await putImage(ref, bytes);
  return ref;
}

export function readFixture(name: string): Promise<Buffer> {
  return readFile(path.join(FIXTURES, name));
}

/** Decodes encoded image bytes as the models see them: 3-channel sRGB pixels. */
export async function decodeForModel(bytes: Buffer): Promise<DecodedImage> {
  const { data, info } = await sharp(bytes).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { pixels: data, width: info.width, height: info.height, format: info.format };
}

/** Runs a real model on encoded image bytes and returns its output as a workflow node would. */
export async function modelOutput(nodeId: string, modelId: string, bytes: Buffer): Promise<NodeOutput> {
  const [data] = await predict(modelId, [await decodeForModel(bytes)]);
  const modelTypeId = modelId === 'ocr-text-detector' ? 'visual-detector' : 'visual-classifier';
  return {
    node_id: nodeId,
    model: { id: modelId, model_type_id: modelTypeId, model_version: { id: await modelVersionId(modelId) } },
    data: data ?? ({} as OutputData),
  };
}

/** Cuts a pixel rectangle out of a fixture, optionally turned upside down, as PNG bytes. */
export async function cropFixture(
  name: string,
  area: { left: number; top: number; width: number; height: number },
  rotate180 = false,
): Promise<Buffer> {
  const cropped = await sharp(path.join(FIXTURES, name)).extract(area).png().toBuffer();
  return rotate180 ? sharp(cropped).rotate(180).png().toBuffer() : cropped;
}

export interface EventOptions {
  upstream?: NodeOutput[];
  image?: S3Ref;
  inputId?: string;
  metadata?: Record<string, unknown>;
  downstream?: string[];
  crop?: NodeTaskEvent['crop'];
  nodeId?: string;
}

/** Builds the event the engine sends to an operator node. */
export function nodeEvent(operator: Operator, options: EventOptions = {}): NodeTaskEvent {
  return {
    input: {
      app_id: 'main',
      id: options.inputId ?? 'page.png',
      image: options.image ?? { bucket: 'unused', key: 'uploads/main/page.png' },
      ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
    },
    node: {
      id: options.nodeId ?? `${operator.typeId}-node`,
      model: { id: `my-${operator.typeId}`, model_type_id: operator.typeId, model_version: { id: 'v1' } },
      params: { concepts: [], model_metadata: {} },
      downstream: options.downstream ?? [],
    },
    upstream: options.upstream ?? [],
    ...(options.crop === undefined ? {} : { crop: options.crop }),
  };
}

/** Validates `params` with the operator, then runs it on `event`, as the engine does. */
export async function runOperator<Params>(
  operator: Operator<Params>,
  params: Partial<RawModelParams>,
  event: NodeTaskEvent,
): Promise<NodeOutput> {
  const raw: RawModelParams = { concepts: params.concepts ?? [], model_metadata: params.model_metadata ?? {} };
  return operator.run({ ...event, node: { ...event.node, params: raw } }, operator.validateParams(raw));
}

/** The pixel rectangles of the printed page's text lines, from the OCR tests. */
export const PAGE_LINES = {
  'paragraph words': { left: 3, top: 64, width: 120, height: 22 },
  'heading words': { left: 7, top: 13, width: 130, height: 21 },
};
