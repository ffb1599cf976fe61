import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from '#commons/config.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { callApi, imageBase64, localS3Client } from './helpers.ts';

let stack: LocalStack;

// The orientation classifier's ONNX file and manifest stand in for a model a user trained.
const BUILTIN_MANIFEST = JSON.parse(readFileSync('models/builtin/ocr-text-orientation.json', 'utf8')) as {
  input: unknown;
  output: { tensor: string };
  concepts: Array<{ id: string; name: string }>;
};
let onnxBytes: Buffer;

function newModel(id: string, changes: Record<string, unknown> = {}, version: Record<string, unknown> = {}): unknown {
  return {
    model: {
      id,
      model_type_id: 'visual-classifier',
      output_info: { data: { concepts: BUILTIN_MANIFEST.concepts } },
      model_version: {
        onnx: { base64: onnxBytes.toString('base64') },
        manifest: { input: BUILTIN_MANIFEST.input, output: BUILTIN_MANIFEST.output },
        ...version,
      },
      ...changes,
    },
  };
}

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  onnxBytes = readFileSync(path.join(config.modelDir, 'ocr-text-orientation', 'model.onnx'));
});

afterAll(async () => {
  await stack?.stop();
});

describe('app ONNX models', () => {
  it('register and predict like the original', async () => {
    const created = await callApi(stack, 'POST', '/v2/models', newModel('my-orientation'));

    expect(created.body.status.details).toBeUndefined();
    expect(created.httpStatus).toBe(200);
    expect(created.body.model.model_type_id).toBe('visual-classifier');
    expect(created.body.model.model_version.id).toMatch(/^[0-9a-f]{32}$/);

    const request = { inputs: [{ data: { image: { base64: imageBase64('text.png') } } }] };
    const mine = await callApi(stack, 'POST', '/v2/models/my-orientation/outputs', request);
    const original = await callApi(stack, 'POST', '/v2/models/ocr-text-orientation/outputs', request);

    expect(mine.httpStatus).toBe(200);
    expect(mine.body.outputs[0].model.id).toBe('my-orientation');
    expect(mine.body.outputs[0].data.concepts).toEqual(original.body.outputs[0].data.concepts);
    const listed = await callApi(stack, 'GET', '/v2/models');
    expect(listed.body.models.map((model: { id: string }) => model.id)).toContain('my-orientation');
  });

  it('register from a file in the bucket', async () => {
    const s3 = localS3Client(stack);
    await s3.send(new PutObjectCommand({ Bucket: stack.bucketName, Key: 'models/main/upload.onnx', Body: onnxBytes }));
    s3.destroy();

    const created = await callApi(stack, 'POST', '/v2/models', newModel('from-bucket', {}, { onnx: { s3_key: 'models/main/upload.onnx' } }));
    const predicted = await callApi(stack, 'POST', '/v2/models/from-bucket/outputs', {
      inputs: [{ data: { image: { base64: imageBase64('text.png') } } }],
    });

    expect(created.httpStatus).toBe(200);
    expect(predicted.httpStatus).toBe(200);
    expect(predicted.body.outputs[0].data.concepts.length).toBe(2);
  });

  it('run as a workflow node', async () => {
    await callApi(stack, 'POST', '/v2/models', newModel('node-orientation'));
    const workflow = await callApi(stack, 'POST', '/v2/workflows', {
      workflows: [{ id: 'mine', nodes: [{ id: 'orient', model: { id: 'node-orientation' } }] }],
    });

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/workflows/mine/results', {
      inputs: [{ id: 't', data: { image: { base64: imageBase64('text.png') } } }],
    });

    expect(workflow.httpStatus).toBe(200);
    expect(httpStatus).toBe(200);
    const [output] = body.results[0].outputs;
    expect(output.model.id).toBe('node-orientation');
    expect(output.data.concepts.length).toBe(2);
  });

  const badCases: Array<{ name: string; body: () => unknown; code: string; words: string }> = [
    {
      name: 'bytes that are not ONNX',
      body: () => newModel('not-onnx', {}, { onnx: { base64: Buffer.from('not a model').toString('base64') } }),
      code: 'INVALID_ONNX_MODEL',
      words: 'could not be loaded',
    },
    {
      name: 'a wrong tensor name',
      body: () => newModel('wrong-tensor', {}, { manifest: { input: BUILTIN_MANIFEST.input, output: { ...BUILTIN_MANIFEST.output, tensor: 'no_such_output' } } }),
      code: 'MODEL_TENSOR_MISMATCH',
      words: 'no_such_output',
    },
    {
      name: 'a missing manifest',
      body: () => newModel('no-manifest', {}, { manifest: undefined }),
      code: 'INVALID_MODEL_MANIFEST',
      words: 'model.model_version.manifest',
    },
    {
      name: 'a decoder of another type',
      body: () => newModel('wrong-decoder', {}, { manifest: { input: BUILTIN_MANIFEST.input, output: { decoder: 'embedding', tensor: BUILTIN_MANIFEST.output.tensor } } }),
      code: 'INVALID_MODEL_MANIFEST',
      words: 'visual-classifier',
    },
    {
      name: 'a missing file',
      body: () => newModel('no-file', {}, { onnx: undefined }),
      code: 'MODEL_FILE_MISSING',
      words: 'model.model_version.onnx',
    },
    {
      name: 'an upper-case id',
      body: () => newModel('MyModel'),
      code: 'INVALID_ID',
      words: '"MyModel"',
    },
  ];

  for (const testCase of badCases) {
    it(`rejects ${testCase.name}`, async () => {
      const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models', testCase.body());

      expect(httpStatus).toBe(400);
      expect(body.status.error_code).toBe(testCase.code);
      expect(body.status.details).toContain(testCase.words);
    });
  }
});
