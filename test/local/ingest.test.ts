import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Event } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { IMAGES_DIR, callApi, imageBase64, localS3Client, waitForInput } from './helpers.ts';

let stack: LocalStack;
let s3: S3Client;

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  s3 = localS3Client(stack);
});

afterAll(async () => {
  s3?.destroy();
  await stack?.stop();
});

async function uploadToBucket(key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: stack.bucketName, Key: key, Body: body }));
}

function annotationsByModel(annotations: any[]): Record<string, any> {
  return Object.fromEntries(annotations.map((annotation) => [annotation.worker.model.id, annotation]));
}

describe('POST /v2/inputs', () => {
  it('stores the image and annotates it through the workflow', async () => {
    const created = await callApi(stack, 'POST', '/v2/inputs', {
      inputs: [{ id: 'scanned-page', data: { image: { base64: imageBase64('page.png') }, metadata: { source: 'test' } } }],
    });

    expect(created.httpStatus).toBe(200);
    expect(created.body.inputs[0].id).toBe('scanned-page');
    expect(created.body.inputs[0].status.code).toBe(30001);

    const input = await waitForInput(stack, 'scanned-page');
    expect(input.status.code).toBe(30000);
    expect(input.data.metadata).toEqual({ source: 'test' });
    expect(input.data.image.image_info).toMatchObject({ width: 384, height: 191 });

    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/inputs/scanned-page/annotations');
    expect(httpStatus).toBe(200);
    const byModel = annotationsByModel(body.annotations);
    expect(byModel['ocr-text-detector'].data.regions.length).toBeGreaterThanOrEqual(5);
    expect(byModel['ocr-text-detector'].input_id).toBe('scanned-page');
    expect(byModel['ocr-text-orientation'].data.concepts.length).toBe(2);
    expect(byModel['ocr-text-orientation'].status.code).toBe(24150);
    expect(byModel['general-image-embedding'].data.embeddings[0].vector).toHaveLength(120);

    const completion = stack.events().find((event) => event.detail.input_id === 'scanned-page');
    expect(completion).toMatchObject({
      source: 'percept',
      'detail-type': 'Workflow Execution Completed',
      detail: { app_id: 'main', workflow_id: 'default', status: 'SUCCEEDED' },
    });
    expect([...(completion?.detail.annotation_ids as string[])].sort()).toEqual(
      body.annotations.map((annotation: any) => annotation.id).sort(),
    );
  });

  it('lists and deletes inputs', async () => {
    await callApi(stack, 'POST', '/v2/inputs', { inputs: [{ id: 'to-delete', data: { image: { base64: imageBase64('text.png') } } }] });
    await waitForInput(stack, 'to-delete');

    const listed = await callApi(stack, 'GET', '/v2/inputs?per_page=1000');
    expect(listed.body.inputs.map((input: any) => input.id)).toContain('to-delete');

    const deleted = await callApi(stack, 'DELETE', '/v2/inputs/to-delete');
    expect(deleted.httpStatus).toBe(200);

    const after = await callApi(stack, 'GET', '/v2/inputs/to-delete');
    expect(after.httpStatus).toBe(404);
    expect(after.body.status.error_code).toBe('INPUT_NOT_FOUND');
    const annotations = await callApi(stack, 'GET', '/v2/inputs/to-delete/annotations');
    expect(annotations.httpStatus).toBe(404);
    await expect(s3.send(new HeadObjectCommand({ Bucket: stack.bucketName, Key: 'uploads/main/to-delete' }))).rejects.toThrow();
  });

  it('rejects a duplicate id', async () => {
    const body = { inputs: [{ id: 'twice', data: { image: { base64: imageBase64('text.png') } } }] };
    await callApi(stack, 'POST', '/v2/inputs', body);

    const { httpStatus, body: response } = await callApi(stack, 'POST', '/v2/inputs', body);

    expect(httpStatus).toBe(400);
    expect(response.status.error_code).toBe('INPUT_DUPLICATE');
    expect(response.status.details).toContain('"twice"');
  });

  it('stores nothing when one input is bad', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/inputs', {
      inputs: [
        { id: 'good-one', data: { image: { base64: imageBase64('text.png') } } },
        { id: 'bad-one', data: { image: { base64: Buffer.from('plain text').toString('base64') } } },
      ],
    });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('NOT_AN_IMAGE');
    expect(body.status.details).toContain('inputs[1]');
    expect((await callApi(stack, 'GET', '/v2/inputs/good-one')).httpStatus).toBe(404);
  });

  it('rejects an invalid id', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/inputs', {
      inputs: [{ id: 'has space', data: { image: { base64: imageBase64('text.png') } } }],
    });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_ID');
  });
});

describe('bucket uploads', () => {
  it('annotate an image uploaded straight to S3', async () => {
    await uploadToBucket('uploads/main/rocket.jpg', readFileSync(path.join(IMAGES_DIR, 'rocket.jpg')));

    const input = await waitForInput(stack, 'rocket.jpg');

    expect(input.status.code).toBe(30000);
    expect(input.data.image.image_info).toMatchObject({ width: 640, height: 427, format: 'jpeg' });
    const { body } = await callApi(stack, 'GET', '/v2/inputs/rocket.jpg/annotations');
    expect(Object.keys(annotationsByModel(body.annotations)).sort()).toEqual([
      'general-image-embedding',
      'general-object-detection',
      'ocr-text-detector',
      'ocr-text-orientation',
    ]);
  });

  it('mark a non-image FAILED and keep the object', async () => {
    const bytes = Buffer.from('name,value\na,1\n');
    await uploadToBucket('uploads/main/notes.csv', bytes);

    const input = await waitForInput(stack, 'notes.csv');

    expect(input.status.code).toBe(30002);
    expect(input.status.error_code).toBe('NOT_AN_IMAGE');
    expect(input.status.details).toMatch(/^Node "[a-z-]+" \(model [a-z-]+\) failed: .*not .*image/i);
    const completion = stack.events().find((event) => event.detail.input_id === 'notes.csv');
    expect(completion?.detail).toMatchObject({ workflow_id: 'default', status: 'FAILED', error_code: 'NOT_AN_IMAGE' });
    expect(['object-detection', 'image-embedding', 'text-detection', 'text-orientation']).toContain(completion?.detail.node_id);
    const kept = await s3.send(new GetObjectCommand({ Bucket: stack.bucketName, Key: 'uploads/main/notes.csv' }));
    expect(Buffer.from(await kept.Body!.transformToByteArray())).toEqual(bytes);
  });

  it('mark a truncated JPEG FAILED', async () => {
    const truncated = readFileSync(path.join(IMAGES_DIR, 'rocket.jpg')).subarray(0, 20_000);
    await uploadToBucket('uploads/main/cut.jpg', truncated);

    const input = await waitForInput(stack, 'cut.jpg');

    expect(input.status.code).toBe(30002);
    expect(input.status.error_code).toBe('IMAGE_TRUNCATED');
  });

  it('mark an SVG FAILED as unsupported', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>');
    await uploadToBucket('uploads/main/drawing.svg', svg);

    const input = await waitForInput(stack, 'drawing.svg');

    expect(input.status.code).toBe(30002);
    expect(input.status.error_code).toBe('UNSUPPORTED_IMAGE_FORMAT');
  });

  it('mark a file over the size cap FAILED', async () => {
    process.env.IMAGE_MAX_BYTES = '1000';
    try {
      await uploadToBucket('uploads/main/big.png', readFileSync(path.join(IMAGES_DIR, 'page.png')));
      const input = await waitForInput(stack, 'big.png');

      expect(input.status.code).toBe(30002);
      expect(input.status.error_code).toBe('FILE_TOO_LARGE');
      expect(input.status.details).toContain('uploads/main/big.png');
    } finally {
      delete process.env.IMAGE_MAX_BYTES;
    }
  });

  it('annotate an upload to an external bucket', async () => {
    await s3.send(
      new PutObjectCommand({
        Bucket: stack.externalBucketName,
        Key: 'uploads/main/outside.jpg',
        Body: readFileSync(path.join(IMAGES_DIR, 'chelsea.jpg')),
      }),
    );

    const input = await waitForInput(stack, 'outside.jpg');

    expect(input.status.code).toBe(30000);
    const { body } = await callApi(stack, 'GET', '/v2/inputs/outside.jpg/annotations');
    const byModel = annotationsByModel(body.annotations);
    expect(byModel['general-object-detection'].data.regions[0].data.concepts[0].id).toBe('cat');
    expect(byModel['general-image-embedding'].data.embeddings[0].vector).toHaveLength(120);
    // The embedder stores its vector in the Percept bucket, as it may only read the external one.
    const vectorKey = 'derived/uploads/main/outside.jpg/image-embedding/embedding-0.f32';
    const vector = await s3.send(new HeadObjectCommand({ Bucket: stack.bucketName, Key: vectorKey }));
    expect(vector.ContentLength).toBe(120 * 4);
    await expect(s3.send(new HeadObjectCommand({ Bucket: stack.externalBucketName, Key: vectorKey }))).rejects.toThrow(
      expect.objectContaining({ name: 'NotFound' }),
    );
  });

  it('put a key without an app folder in the default app', async () => {
    await uploadToBucket('uploads/chelsea.jpg', readFileSync(path.join(IMAGES_DIR, 'chelsea.jpg')));

    const input = await waitForInput(stack, 'chelsea.jpg');

    expect(input.status.code).toBe(30000);
  });

  it('ignore objects outside the uploads prefix', async () => {
    const before = stack.executions().length;
    await uploadToBucket('other/page.png', readFileSync(path.join(IMAGES_DIR, 'page.png')));
    await stack.idle();

    expect(stack.executions().length).toBe(before);
  });

  it('process a duplicate S3 event once', async () => {
    await uploadToBucket('uploads/main/once.png', readFileSync(path.join(IMAGES_DIR, 'text.png')));
    await waitForInput(stack, 'once.png');
    const before = stack.executions().length;
    const { handler } = await import('../../functions/ingest/handler.ts');
    const event = {
      Records: [
        {
          eventName: 'ObjectCreated:Put',
          s3: { bucket: { name: stack.bucketName }, object: { key: 'uploads/main/dup.png', eTag: 'abc', sequencer: '01' } },
        },
      ],
    } as unknown as S3Event;
    await uploadToBucket('uploads/main/dup.png', readFileSync(path.join(IMAGES_DIR, 'text.png')));
    await stack.idle();
    const afterUpload = stack.executions().length;

    await handler(event);
    await handler(event);
    await stack.idle();

    expect(afterUpload).toBe(before + 1);
    expect(stack.executions().length).toBe(afterUpload + 1);
    expect((await waitForInput(stack, 'dup.png')).status.code).toBe(30000);
  });
});
