import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { callApi, imageBase64 } from './helpers.ts';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
});

afterAll(async () => {
  await stack?.stop();
});

describe('authentication', () => {
  it('rejects a request without a key', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/models', undefined, null);

    expect(httpStatus).toBe(401);
    expect(body.status.code).toBe(11008);
    expect(body.status.error_code).toBe('API_KEY_MISSING');
    expect(body.status.details).toContain('Authorization: Key');
  });

  it('rejects a wrong key', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/models', undefined, 'not-a-key');

    expect(httpStatus).toBe(401);
    expect(body.status.error_code).toBe('API_KEY_INVALID');
  });

  it('rejects a header that is not "Key ..."', async () => {
    const response = await fetch(`${stack.apiUrl}/v2/models`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    const body = (await response.json()) as { status: { error_code: string; details: string } };

    expect(response.status).toBe(401);
    expect(body.status.error_code).toBe('AUTHORIZATION_HEADER_INVALID');
    expect(body.status.details).toContain('"Bearer"');
  });
});

describe('models', () => {
  it('lists the shipped models with their types', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/models');

    expect(httpStatus).toBe(200);
    expect(body.status.code).toBe(10000);
    const types = Object.fromEntries(body.models.map((model: any) => [model.id, model.model_type_id]));
    expect(types['ocr-text-detector']).toBe('visual-detector');
    expect(types['ocr-text-orientation']).toBe('visual-classifier');
  });

  it('describes one model with its version', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/models/ocr-text-orientation');

    expect(httpStatus).toBe(200);
    expect(body.model.id).toBe('ocr-text-orientation');
    expect(body.model.model_version.id).toMatch(/^[0-9a-f]{32}$/);
    expect(body.model.output_info.data.concepts.length).toBe(2);
  });

  it('returns 404 for an unknown model', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/models/no-such-model');

    expect(httpStatus).toBe(404);
    expect(body.status.code).toBe(21200);
    expect(body.status.error_code).toBe('MODEL_NOT_FOUND');
    expect(body.status.details).toContain('ocr-text-detector');
  });

  it('returns 404 for an unknown route', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', '/v2/nothing-here');

    expect(httpStatus).toBe(404);
    expect(body.status.error_code).toBe('ROUTE_NOT_FOUND');
  });
});

describe('predict', () => {
  it('finds text regions on a scanned page', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models/ocr-text-detector/outputs', {
      inputs: [{ id: 'page', data: { image: { base64: imageBase64('page.png') } } }],
    });

    expect(httpStatus).toBe(200);
    expect(body.status.code).toBe(10000);
    const [output] = body.outputs;
    expect(output.input.id).toBe('page');
    expect(output.model.id).toBe('ocr-text-detector');
    expect(output.data.regions.length).toBeGreaterThanOrEqual(5);
    for (const region of output.data.regions) {
      const box = region.region_info.bounding_box;
      expect(box.top_row).toBeGreaterThanOrEqual(0);
      expect(box.left_col).toBeGreaterThanOrEqual(0);
      expect(box.bottom_row).toBeLessThanOrEqual(1);
      expect(box.right_col).toBeLessThanOrEqual(1);
      expect(box.top_row).toBeLessThan(box.bottom_row);
      expect(box.left_col).toBeLessThan(box.right_col);
      expect(region.data.concepts[0].id).toBe('text');
    }
  });

  it('classifies several inputs in order', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models/ocr-text-orientation/outputs', {
      inputs: [
        { data: { image: { base64: imageBase64('text.png') } } },
        { data: { image: { base64: imageBase64('page.png') } } },
      ],
      model: { output_info: { output_config: { max_concepts: 1 } } },
    });

    expect(httpStatus).toBe(200);
    expect(body.outputs.length).toBe(2);
    for (const output of body.outputs) {
      expect(output.data.concepts.length).toBe(1);
      expect(output.data.concepts[0].value).toBeGreaterThan(0);
      expect(output.data.concepts[0].value).toBeLessThanOrEqual(1);
    }
  });

  it('accepts the current version in the path', async () => {
    const model = await callApi(stack, 'GET', '/v2/models/ocr-text-orientation');
    const version: string = model.body.model.model_version.id;

    const { httpStatus } = await callApi(stack, 'POST', `/v2/models/ocr-text-orientation/versions/${version}/outputs`, {
      inputs: [{ data: { image: { base64: imageBase64('text.png') } } }],
    });
    const wrong = await callApi(stack, 'POST', '/v2/models/ocr-text-orientation/versions/0123/outputs', {
      inputs: [{ data: { image: { base64: imageBase64('text.png') } } }],
    });

    expect(httpStatus).toBe(200);
    expect(wrong.httpStatus).toBe(404);
    expect(wrong.body.status.error_code).toBe('MODEL_VERSION_NOT_FOUND');
  });
});

describe('bad input', () => {
  const png = imageBase64('page.png');
  const truncatedPng = Buffer.from(png, 'base64').subarray(0, 4000).toString('base64');
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>').toString('base64');
  const cases: Array<{ name: string; body: unknown; code: string; words: string }> = [
    { name: 'empty image', body: { inputs: [{ data: { image: { base64: '' } } }] }, code: 'INVALID_BASE64', words: 'base64' },
    { name: 'invalid base64', body: { inputs: [{ data: { image: { base64: 'abc$%^' } } }] }, code: 'INVALID_BASE64', words: 'inputs[0]' },
    { name: 'not an image', body: { inputs: [{ data: { image: { base64: Buffer.from('{"hello": "world"}').toString('base64') } } }] }, code: 'NOT_AN_IMAGE', words: 'inputs[0]' },
    { name: 'truncated image', body: { inputs: [{ data: { image: { base64: truncatedPng } } }] }, code: 'IMAGE_TRUNCATED', words: 'inputs[0]' },
    { name: 'SVG image', body: { inputs: [{ data: { image: { base64: svg } } }] }, code: 'UNSUPPORTED_IMAGE_FORMAT', words: 'SVG' },
    { name: 'image URL', body: { inputs: [{ data: { image: { url: 'https://example.com/cat.jpg' } } }] }, code: 'IMAGE_URL_NOT_SUPPORTED', words: 'base64' },
    { name: 'missing image', body: { inputs: [{ data: {} }] }, code: 'IMAGE_MISSING', words: 'inputs[0].data.image.base64' },
    { name: 'no inputs', body: { inputs: [] }, code: 'INPUTS_MISSING', words: 'inputs' },
    { name: 'too many inputs', body: { inputs: Array.from({ length: 129 }, () => ({ data: { image: { base64: 'AA==' } } })) }, code: 'TOO_MANY_INPUTS', words: '128' },
    { name: 'second input bad', body: { inputs: [{ data: { image: { base64: png } } }, { data: { image: { base64: truncatedPng } } }] }, code: 'IMAGE_TRUNCATED', words: 'inputs[1]' },
    { name: 'invalid JSON', body: '{"inputs": [', code: 'INVALID_JSON', words: 'JSON' },
  ];

  for (const testCase of cases) {
    it(`rejects ${testCase.name} with 400`, async () => {
      const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models/ocr-text-detector/outputs', testCase.body);

      expect(httpStatus).toBe(400);
      expect(body.status.error_code).toBe(testCase.code);
      expect(body.status.details).toContain(testCase.words);
    });
  }

  it('keeps serving after bad input', async () => {
    const { httpStatus } = await callApi(stack, 'POST', '/v2/models/ocr-text-detector/outputs', {
      inputs: [{ data: { image: { base64: truncatedPng } } }],
    });
    const after = await callApi(stack, 'POST', '/v2/models/ocr-text-detector/outputs', {
      inputs: [{ data: { image: { base64: png } } }],
    });

    expect(httpStatus).toBe(400);
    expect(after.httpStatus).toBe(200);
    expect(after.body.outputs[0].data.regions.length).toBeGreaterThan(0);
  });

  it('rejects an empty request body', async () => {
    const response = await fetch(`${stack.apiUrl}/v2/models/ocr-text-detector/outputs`, {
      method: 'POST',
      headers: { authorization: `Key ${stack.apiKey}` },
    });
    const body = (await response.json()) as { status: { error_code: string; details: string } };

    expect(response.status).toBe(400);
    expect(body.status.error_code).toBe('INPUTS_MISSING');
    expect(body.status.details).toContain('"inputs"');
  });

  it('rejects too many pixels and too many bytes', async () => {
    const saved = { pixels: process.env.IMAGE_MAX_PIXELS, bytes: process.env.IMAGE_MAX_BYTES };
    try {
      process.env.IMAGE_MAX_PIXELS = '10000';
      const pixels = await callApi(stack, 'POST', '/v2/models/ocr-text-detector/outputs', {
        inputs: [{ data: { image: { base64: png } } }],
      });
      delete process.env.IMAGE_MAX_PIXELS;
      process.env.IMAGE_MAX_BYTES = '1000';
      const bytes = await callApi(stack, 'POST', '/v2/models/ocr-text-detector/outputs', {
        inputs: [{ data: { image: { base64: png } } }],
      });

      expect(pixels.httpStatus).toBe(400);
      expect(pixels.body.status.error_code).toBe('TOO_MANY_PIXELS');
      expect(pixels.body.status.details).toContain('384 x 191');
      expect(bytes.httpStatus).toBe(400);
      expect(bytes.body.status.error_code).toBe('FILE_TOO_LARGE');
      expect(bytes.body.status.details).toContain('1000');
    } finally {
      for (const [name, value] of [['IMAGE_MAX_PIXELS', saved.pixels], ['IMAGE_MAX_BYTES', saved.bytes]] as const) {
        if (value === undefined) {
          delete process.env[name];
        } else {
          process.env[name] = value;
        }
      }
    }
  });

  it('rejects a body over 10 MB with 413', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/models/ocr-text-detector/outputs', {
      inputs: [{ data: { image: { base64: 'A'.repeat(11 * 1024 * 1024) } } }],
    });

    expect(httpStatus).toBe(413);
    expect(body.status.error_code).toBe('REQUEST_TOO_LARGE');
  });
});
