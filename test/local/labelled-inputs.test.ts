import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { callApi, imageBase64, waitForInput } from './helpers.ts';

let stack: LocalStack;
const cat = imageBase64('chelsea.jpg');

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
});

afterAll(async () => {
  await stack?.stop();
});

async function addInput(id: string, data: Record<string, unknown> = {}): Promise<void> {
  const { httpStatus, body } = await callApi(stack, 'POST', '/v2/inputs', {
    inputs: [{ id, data: { image: { base64: cat }, ...data } }],
  });
  expect(httpStatus, JSON.stringify(body)).toBe(200);
}

async function readInput(id: string): Promise<Record<string, any>> {
  const { body } = await callApi(stack, 'GET', `/v2/inputs/${id}`);
  return body.input as Record<string, any>;
}

const labels = (input: Record<string, any>): Array<[string, number]> =>
  input.data.concepts.map((concept: any) => [concept.id, concept.value]);

describe('labelled inputs', () => {
  it('stores concepts and a geo point', async () => {
    await callApi(stack, 'POST', '/v2/concepts', { concepts: [{ id: 'tabby', name: 'Tabby cat' }] });

    await addInput('labelled', {
      concepts: [{ id: 'tabby', value: 1 }, { id: 'brand-new-concept', value: 0 }],
      geo: { geo_point: { longitude: -122.42, latitude: 37.77 } },
    });
    const input = await readInput('labelled');
    const created = await callApi(stack, 'GET', '/v2/concepts/brand-new-concept');

    expect(input.data.concepts).toEqual([
      { id: 'tabby', name: 'Tabby cat', value: 1, app_id: 'main' },
      { id: 'brand-new-concept', name: 'brand-new-concept', value: 0, app_id: 'main' },
    ]);
    expect(input.data.geo).toEqual({ geo_point: { longitude: -122.42, latitude: 37.77 } });
    expect(created.httpStatus).toBe(200);
    expect(created.body.concept).toMatchObject({ id: 'brand-new-concept', name: 'brand-new-concept', language: 'en' });
  });

  it('keeps labels through the workflow', async () => {
    await addInput('labelled-workflow', { concepts: [{ id: 'tabby', value: 1 }] });
    await callApi(stack, 'PATCH', '/v2/inputs', {
      action: 'merge',
      inputs: [{ id: 'labelled-workflow', data: { concepts: [{ id: 'indoor', value: 1 }] } }],
    });

    const done = await waitForInput(stack, 'labelled-workflow');

    expect(done.status.code).toBe(30000);
    expect(labels(done)).toEqual([['tabby', 1], ['indoor', 1]]);
  });

  const badInputs: Array<{ name: string; data: unknown; code: string; words: string }> = [
    { name: 'value 0.5', data: { concepts: [{ id: 'x', value: 0.5 }] }, code: 'INVALID_CONCEPT_VALUE', words: 'inputs[0].data.concepts[0].value 0.5' },
    { name: 'missing value', data: { concepts: [{ id: 'x' }] }, code: 'INVALID_CONCEPT_VALUE', words: 'Use 1 for a positive' },
    { name: 'concepts object', data: { concepts: { id: 'x' } }, code: 'INVALID_CONCEPTS', words: 'must be an array' },
    { name: 'repeated concept', data: { concepts: [{ id: 'x', value: 1 }, { id: 'x', value: 0 }] }, code: 'CONCEPT_DUPLICATE', words: 'concepts[1].id "x"' },
    { name: 'empty concept id', data: { concepts: [{ id: '', value: 1 }] }, code: 'INVALID_CONCEPT_ID', words: 'concepts[0].id' },
    { name: 'latitude 91', data: { geo: { geo_point: { longitude: 0, latitude: 91 } } }, code: 'INVALID_GEO_POINT', words: 'geo_point.latitude 91' },
    { name: 'longitude -180.5', data: { geo: { geo_point: { longitude: -180.5, latitude: 0 } } }, code: 'INVALID_GEO_POINT', words: 'from -180 to 180' },
    { name: 'longitude string', data: { geo: { geo_point: { longitude: '1', latitude: 0 } } }, code: 'INVALID_GEO_POINT', words: 'longitude "1"' },
    { name: 'geo without point', data: { geo: {} }, code: 'INVALID_GEO_POINT', words: 'geo_point is missing' },
  ];

  for (const testCase of badInputs) {
    it(`rejects ${testCase.name}`, async () => {
      const { httpStatus, body } = await callApi(stack, 'POST', '/v2/inputs', {
        inputs: [{ id: 'never-stored', data: { image: { base64: cat }, ...(testCase.data as object) } }],
      });
      const stored = await callApi(stack, 'GET', '/v2/inputs/never-stored');

      expect(httpStatus).toBe(400);
      expect(body.status.error_code).toBe(testCase.code);
      expect(body.status.details).toContain(testCase.words);
      expect(stored.httpStatus).toBe(404);
    });
  }
});

describe('PATCH /v2/inputs', () => {
  beforeAll(async () => {
    await addInput('patch-merge', { concepts: [{ id: 'a', value: 1 }], metadata: { source: 'camera', exif: { iso: 100, lens: '35mm' } } });
    await addInput('patch-overwrite', { concepts: [{ id: 'a', value: 1 }, { id: 'b', value: 1 }], metadata: { keep: false } });
    await addInput('patch-remove', {
      concepts: [{ id: 'a', value: 1 }, { id: 'b', value: 0 }],
      metadata: { source: 'camera', exif: { iso: 100, lens: '35mm' } },
      geo: { geo_point: { longitude: 1, latitude: 2 } },
    });
  });

  it('merges concepts and metadata', async () => {
    const { httpStatus, body } = await callApi(stack, 'PATCH', '/v2/inputs', {
      action: 'merge',
      inputs: [{ id: 'patch-merge', data: { concepts: [{ id: 'a', value: 0 }, { id: 'c', value: 1 }], metadata: { exif: { iso: 200 }, rating: 5 } } }],
    });
    const input = await readInput('patch-merge');

    expect(httpStatus).toBe(200);
    expect(body.status.code).toBe(10000);
    expect(labels(body.inputs[0])).toEqual([['a', 0], ['c', 1]]);
    expect(labels(input)).toEqual([['a', 0], ['c', 1]]);
    expect(input.data.metadata).toEqual({ source: 'camera', exif: { iso: 200, lens: '35mm' }, rating: 5 });
  });

  it('overwrites concepts and metadata', async () => {
    await callApi(stack, 'PATCH', '/v2/inputs', {
      action: 'overwrite',
      inputs: [{ id: 'patch-overwrite', data: { concepts: [{ id: 'c', value: 0 }], metadata: { fresh: true } } }],
    });
    const input = await readInput('patch-overwrite');

    expect(labels(input)).toEqual([['c', 0]]);
    expect(input.data.metadata).toEqual({ fresh: true });
  });

  it('removes concepts, metadata keys and geo', async () => {
    await callApi(stack, 'PATCH', '/v2/inputs', {
      action: 'remove',
      inputs: [{ id: 'patch-remove', data: { concepts: [{ id: 'a' }], metadata: { exif: { lens: '' }, source: null }, geo: {} } }],
    });
    const input = await readInput('patch-remove');

    expect(labels(input)).toEqual([['b', 0]]);
    expect(input.data.metadata).toEqual({ exif: { iso: 100 } });
    expect(input.data.geo).toBeUndefined();
  });

  it('keeps every concurrent merge', async () => {
    await addInput('patch-concurrent', { concepts: [{ id: 'start', value: 1 }] });
    const ids = Array.from({ length: 20 }, (_, index) => `concurrent-${index}`);

    const responses = await Promise.all(
      ids.map((id, index) =>
        callApi(stack, 'PATCH', '/v2/inputs', {
          action: 'merge',
          inputs: [{ id: 'patch-concurrent', data: { concepts: [{ id, value: index % 2 }], metadata: { [id]: index } } }],
        }),
      ),
    );
    const input = await readInput('patch-concurrent');

    expect(responses.map((response) => response.httpStatus)).toEqual(ids.map(() => 200));
    const stored = new Map(labels(input));
    expect(stored.size).toBe(21);
    expect(stored.get('start')).toBe(1);
    for (const [index, id] of ids.entries()) {
      expect(stored.get(id), id).toBe(index % 2);
      expect(input.data.metadata[id], id).toBe(index);
    }
  });

  it('changes nothing when one input is unknown', async () => {
    const { httpStatus, body } = await callApi(stack, 'PATCH', '/v2/inputs', {
      action: 'merge',
      inputs: [
        { id: 'patch-overwrite', data: { concepts: [{ id: 'never', value: 1 }] } },
        { id: 'no-such-input', data: { concepts: [{ id: 'never', value: 1 }] } },
      ],
    });
    const untouched = await readInput('patch-overwrite');

    expect(httpStatus).toBe(404);
    expect(body.status.error_code).toBe('INPUT_NOT_FOUND');
    expect(body.status.details).toContain('"no-such-input"');
    expect(labels(untouched)).not.toContainEqual(['never', 1]);
  });

  const badPatches: Array<{ name: string; body: unknown; code: string; words: string }> = [
    { name: 'unknown action', body: { action: 'append', inputs: [{ id: 'patch-merge', data: { metadata: {} } }] }, code: 'INVALID_ACTION', words: '"append"' },
    { name: 'no inputs', body: { action: 'merge', inputs: [] }, code: 'INPUTS_MISSING', words: '"action": "merge"' },
    { name: 'missing id', body: { action: 'merge', inputs: [{ data: { metadata: { a: 1 } } }] }, code: 'INVALID_ID', words: 'inputs[0].id' },
    { name: 'empty data', body: { action: 'merge', inputs: [{ id: 'patch-merge', data: {} }] }, code: 'INPUT_DATA_MISSING', words: 'inputs[0].data' },
    { name: 'repeated input', body: { action: 'merge', inputs: [{ id: 'patch-merge', data: { metadata: {} } }, { id: 'patch-merge', data: { metadata: {} } }] }, code: 'INPUT_DUPLICATE', words: 'inputs[1].id' },
    { name: 'bad value', body: { action: 'overwrite', inputs: [{ id: 'patch-merge', data: { concepts: [{ id: 'a', value: 2 }] } }] }, code: 'INVALID_CONCEPT_VALUE', words: 'value 2' },
    { name: 'metadata array', body: { action: 'merge', inputs: [{ id: 'patch-merge', data: { metadata: [1] } }] }, code: 'INVALID_METADATA', words: 'inputs[0].data.metadata' },
  ];

  for (const testCase of badPatches) {
    it(`rejects ${testCase.name}`, async () => {
      const { httpStatus, body } = await callApi(stack, 'PATCH', '/v2/inputs', testCase.body);

      expect(httpStatus).toBe(400);
      expect(body.status.error_code).toBe(testCase.code);
      expect(body.status.details).toContain(testCase.words);
    });
  }
});
