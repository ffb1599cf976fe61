import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PerceptError } from '#commons/errors.ts';
import { parseLegacySearchBody } from '#commons/search/legacy-query.ts';
import { parseSearchBody } from '#commons/search/query.ts';

const PHOTO_BASE64 = readFileSync(path.resolve('test/fixtures/images/rocket.jpg')).toString('base64');

/** Returns the error that `parse` throws, so that each test can check its code and message. */
function errorOf(parse: () => unknown): PerceptError {
  try {
    parse();
  } catch (error) {
    if (error instanceof PerceptError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected the body to be rejected, but it was parsed');
}

const search = (query: unknown, pagination?: unknown): unknown => ({ searches: [{ query }], ...(pagination === undefined ? {} : { pagination }) });

describe('search body', () => {
  it('parses a rank by image and filters', () => {
    const parsed = parseSearchBody(
      search({
        ranks: [{ annotation: { data: { image: { base64: PHOTO_BASE64 } } } }],
        filters: [
          { input: { data: { metadata: { color: 'red' } } } },
          { annotation: { data: { concepts: [{ id: 'cat' }, { name: 'Dog', value: 0 }] } }, negate: true },
        ],
      }),
    );

    expect(parsed.rank?.kind).toBe('image');
    const bytes = parsed.rank?.kind === 'image' ? parsed.rank.bytes : undefined;
    expect(bytes?.equals(Buffer.from(PHOTO_BASE64, 'base64'))).toBe(true);
    expect(parsed.filters).toEqual([
      { field: 'searches[0].query.filters[0]', negate: false, conditions: [{ kind: 'input-metadata', metadata: { color: 'red' } }] },
      {
        field: 'searches[0].query.filters[1]',
        negate: true,
        conditions: [{ kind: 'labels', anyOf: [{ id: 'cat', value: 1 }, { name: 'Dog', value: 0 }] }],
      },
    ]);
    expect(parsed.page).toBe(1);
    expect(parsed.perPage).toBe(128);
  });

  it('echoes the query without image bytes', () => {
    const parsed = parseSearchBody(search({ ranks: [{ input: { data: { image: { base64: PHOTO_BASE64 } } } }] }));

    expect(parsed.echo).toEqual({ ranks: [{ input: { data: { image: {} } } }] });
  });

  it('parses ranks by input id and by concept', () => {
    expect(parseSearchBody(search({ ranks: [{ annotation: { input_id: 'cat-1' } }] })).rank).toEqual({
      kind: 'input',
      inputId: 'cat-1',
      field: 'searches[0].query.ranks[0].annotation.input_id',
    });
    expect(parseSearchBody(search({ ranks: [{ input: { id: 'cat-1' } }] })).rank?.kind).toBe('input');
    expect(parseSearchBody(search({ ranks: [{ annotation: { data: { concepts: [{ id: 'cat', value: 1 }] } } }] })).rank).toEqual({
      kind: 'concept',
      concept: { id: 'cat', value: 1 },
      field: 'searches[0].query.ranks[0].annotation.data.concepts',
    });
  });

  it('parses geo, status and input id filters', () => {
    const parsed = parseSearchBody(
      search({
        filters: [
          {
            input: {
              data: {
                geo: { geo_point: { longitude: 13.4, latitude: 52.5 }, geo_limit: { type: 'withinKilometers', value: 10 } },
              },
            },
          },
          {
            annotation: {
              data: { geo: { geo_box: [{ geo_point: { longitude: 13, latitude: 52 } }, { geo_point: { longitude: 14, latitude: 53 } }] } },
            },
          },
          { annotation: { status: { code: 24150 }, data: { metadata: { reviewed: true } } } },
          { input: { status: { code: 30000 }, id: 'cat-1' } },
        ],
      }),
    );

    expect(parsed.filters.map((filter) => filter.conditions)).toEqual([
      [{ kind: 'geo', area: { kind: 'circle', center: { longitude: 13.4, latitude: 52.5 }, radiusRadians: 10 / 6371.0088 } }],
      [{ kind: 'geo', area: { kind: 'box', minLatitude: 52, maxLatitude: 53, minLongitude: 13, maxLongitude: 14 } }],
      [{ kind: 'annotation', statusCode: 24150, metadata: { reviewed: true } }],
      [
        { kind: 'input-status', code: 30000 },
        { kind: 'input-id', inputId: 'cat-1' },
      ],
    ]);
  });

  it('ignores fields that protobuf clients send unset', () => {
    const parsed = parseSearchBody(
      search({
        ranks: [{ negate: false, annotation: { input_id: 'cat-1', data: { concepts: [], metadata: null, image: {} } } }],
        filters: [],
      }),
    );

    expect(parsed.rank?.kind).toBe('input');
    expect(parsed.filters).toEqual([]);
  });

  it('reads pagination', () => {
    const parsed = parseSearchBody(search({}, { page: 3, per_page: 20 }));

    expect(parsed.page).toBe(3);
    expect(parsed.perPage).toBe(20);
  });

  it('reads the ands form in searches', () => {
    const parsed = parseSearchBody(search({ ands: [{ input: { data: { metadata: { color: 'red' } } } }] }));

    expect(parsed.filters[0]?.conditions).toEqual([{ kind: 'input-metadata', metadata: { color: 'red' } }]);
  });
});

describe('search body errors', () => {
  const cases: Array<{ name: string; body: unknown; code: string; message: RegExp }> = [
    { name: 'no searches', body: {}, code: 'SEARCH_QUERY_MISSING', message: /The request has no searches \(got undefined\)\. Send \{"searches"/ },
    { name: 'two searches', body: { searches: [{ query: {} }, { query: {} }] }, code: 'TOO_MANY_SEARCHES', message: /has 2 searches/ },
    { name: 'no query', body: { searches: [{}] }, code: 'SEARCH_QUERY_MISSING', message: /searches\[0\]\.query is missing/ },
    {
      name: 'ranks not an array',
      body: search({ ranks: { annotation: {} } }),
      code: 'INVALID_SEARCH_QUERY',
      message: /searches\[0\]\.query\.ranks must be an array, got \{"annotation":\{\}\}/,
    },
    {
      name: 'two ranks',
      body: search({ ranks: [{ annotation: { input_id: 'a' } }, { annotation: { input_id: 'b' } }] }),
      code: 'SEARCH_RANK_NOT_SUPPORTED',
      message: /has 2 ranks; Percept orders hits by one rank/,
    },
    {
      name: 'image and input id in one rank',
      body: search({ ranks: [{ annotation: { input_id: 'a', data: { image: { base64: PHOTO_BASE64 } } } }] }),
      code: 'SEARCH_RANK_NOT_SUPPORTED',
      message: /ranks by searches\[0\]\.query\.ranks\[0\]\.annotation\.input_id and searches\[0\]\.query\.ranks\[0\]\.annotation\.data\.image/,
    },
    {
      name: 'negated rank',
      body: search({ ranks: [{ negate: true, annotation: { input_id: 'a' } }] }),
      code: 'SEARCH_RANK_NOT_SUPPORTED',
      message: /negate is true; Percept cannot rank by dissimilarity/,
    },
    {
      name: 'rank by text',
      body: search({ ranks: [{ annotation: { data: { text: { raw: 'cat' } } } }] }),
      code: 'SEARCH_RANK_NOT_SUPPORTED',
      message: /searches\[0\]\.query\.ranks\[0\]\.annotation\.data\.text \(\{"raw":"cat"\}\) is not supported here\. Use annotation\.data\.image\.base64/,
    },
    {
      name: 'image url',
      body: search({ ranks: [{ annotation: { data: { image: { url: 'https://example.com/cat.jpg' } } } }] }),
      code: 'IMAGE_URL_NOT_SUPPORTED',
      message: /annotation\.data\.image\.url "https:\/\/example\.com\/cat\.jpg" was not fetched/,
    },
    {
      name: 'bad base64',
      body: search({ ranks: [{ annotation: { data: { image: { base64: 'abc$def' } } } }] }),
      code: 'INVALID_BASE64',
      message: /annotation\.data\.image\.base64/,
    },
    {
      name: 'bad input id',
      body: search({ ranks: [{ annotation: { input_id: 'a#b' } }] }),
      code: 'INVALID_ID',
      message: /searches\[0\]\.query\.ranks\[0\]\.annotation\.input_id "a#b" is not a valid id/,
    },
    {
      name: 'concept value',
      body: search({ filters: [{ annotation: { data: { concepts: [{ id: 'cat', value: 0.5 }] } } }] }),
      code: 'INVALID_SEARCH_CONCEPT',
      message: /filters\[0\]\.annotation\.data\.concepts\[0\]\.value 0\.5 is invalid\. Use 1 for inputs with the concept or 0/,
    },
    {
      name: 'concept without id or name',
      body: search({ filters: [{ annotation: { data: { concepts: [{ value: 1 }] } } }] }),
      code: 'INVALID_SEARCH_CONCEPT',
      message: /concepts\[0\] has neither an id nor a name \(got \{"value":1\}\)/,
    },
    {
      name: 'metadata not an object',
      body: search({ filters: [{ input: { data: { metadata: 'red' } } }] }),
      code: 'INVALID_METADATA_FILTER',
      message: /filters\[0\]\.input\.data\.metadata must be a JSON object, got "red"/,
    },
    {
      name: 'geo point without limit',
      body: search({ filters: [{ input: { data: { geo: { geo_point: { longitude: 1, latitude: 2 } } } } }] }),
      code: 'INVALID_GEO_FILTER',
      message: /geo\.geo_limit is missing \(got undefined\)\. A geo_point filter needs a radius/,
    },
    {
      name: 'geo limit unit',
      body: search({
        filters: [{ input: { data: { geo: { geo_point: { longitude: 1, latitude: 2 }, geo_limit: { type: 'withinFeet', value: 3 } } } } }],
      }),
      code: 'INVALID_GEO_FILTER',
      message: /geo_limit\.type "withinFeet" is not a unit Percept knows\. Use one of withinKilometers, withinMiles, withinDegrees, withinRadians/,
    },
    {
      name: 'geo limit value',
      body: search({
        filters: [{ input: { data: { geo: { geo_point: { longitude: 1, latitude: 2 }, geo_limit: { type: 'withinMiles', value: -3 } } } } }],
      }),
      code: 'INVALID_GEO_FILTER',
      message: /geo_limit\.value -3 is invalid\. Use a radius above 0/,
    },
    {
      name: 'geo latitude',
      body: search({
        filters: [{ input: { data: { geo: { geo_point: { longitude: 1, latitude: 95 }, geo_limit: { type: 'withinMiles', value: 3 } } } } }],
      }),
      code: 'INVALID_GEO_FILTER',
      message: /geo_point\.latitude 95 is invalid\. Use a number of degrees from -90 to 90/,
    },
    {
      name: 'geo box of one corner',
      body: search({ filters: [{ input: { data: { geo: { geo_box: [{ geo_point: { longitude: 1, latitude: 2 } }] } } } }] }),
      code: 'INVALID_GEO_FILTER',
      message: /geo\.geo_box must list exactly two corners/,
    },
    {
      name: 'filter by image',
      body: search({ filters: [{ input: { data: { image: { base64: PHOTO_BASE64 } } } }] }),
      code: 'SEARCH_FILTER_NOT_SUPPORTED',
      message: /filters\[0\]\.input\.data\.image \(\{"base64":"[^"]*…\) is not supported here\. Use a rank/,
    },
    {
      name: 'empty filter',
      body: search({ filters: [{ negate: true }] }),
      code: 'SEARCH_FILTER_NOT_SUPPORTED',
      message: /filters\[0\] has no condition/,
    },
    {
      name: 'status code',
      body: search({ filters: [{ annotation: { status: { code: 'done' } } }] }),
      code: 'INVALID_STATUS_FILTER',
      message: /annotation\.status\.code must be a Clarifai status code \(a positive whole number\), got "done"/,
    },
    {
      name: 'per page too large',
      body: search({}, { per_page: 5000 }),
      code: 'INVALID_PAGING',
      message: /pagination\.per_page 5000 is invalid\. Use a whole number from 1 to 1000/,
    },
    {
      name: 'page too deep',
      body: search({}, { page: 200, per_page: 100 }),
      code: 'INVALID_PAGING',
      message: /asks for hits up to number 20000 \(page 200 × per_page 100\); searches return at most the first 10000 hits/,
    },
  ];

  for (const { name, body, code, message } of cases) {
    it(`rejects ${name}`, () => {
      const error = errorOf(() => parseSearchBody(body));

      expect(error.code).toBe(code);
      expect(error.httpStatus).toBe(400);
      expect(error.message).toMatch(message);
    });
  }
});

describe('legacy search body', () => {
  it('parses an image term and input terms', () => {
    const parsed = parseLegacySearchBody({
      query: {
        ands: [
          { output: { input: { data: { image: { base64: PHOTO_BASE64 } } } } },
          { input: { data: { metadata: { color: 'red' } } } },
          { input: { data: { concepts: [{ name: 'cat', value: 1 }] } }, negate: true },
          {
            input: {
              data: { geo: { geo_point: { longitude: 13.4, latitude: 52.5 }, geo_limit: { type: 'withinMiles', value: 5 } } },
            },
          },
        ],
      },
      pagination: { page: 2, per_page: 5 },
    });

    expect(parsed.rank?.kind).toBe('image');
    expect(parsed.rank?.field).toBe('query.ands[0].output.input.data.image');
    expect(parsed.filters.map((filter) => [filter.field, filter.negate, filter.conditions[0]?.kind])).toEqual([
      ['query.ands[1]', false, 'input-metadata'],
      ['query.ands[2]', true, 'labels'],
      ['query.ands[3]', false, 'geo'],
    ]);
    expect(parsed.page).toBe(2);
    expect(parsed.perPage).toBe(5);
    expect(parsed.echo).toEqual({
      ands: [
        { output: { input: { data: { image: {} } } } },
        { input: { data: { metadata: { color: 'red' } } } },
        { input: { data: { concepts: [{ name: 'cat', value: 1 }] } }, negate: true },
        {
          input: {
            data: { geo: { geo_point: { longitude: 13.4, latitude: 52.5 }, geo_limit: { type: 'withinMiles', value: 5 } } },
          },
        },
      ],
    });
  });

  it('parses predicted concept and input id terms', () => {
    expect(parseLegacySearchBody({ query: { ands: [{ output: { data: { concepts: [{ name: 'cat' }] } } }] } }).rank).toEqual({
      kind: 'concept',
      concept: { name: 'cat', value: 1 },
      field: 'query.ands[0].output.data.concepts',
    });
    expect(parseLegacySearchBody({ query: { ands: [{ output: { input: { id: 'cat-1' } } }] } }).rank).toEqual({
      kind: 'input',
      inputId: 'cat-1',
      field: 'query.ands[0].output.input.id',
    });
  });

  const cases: Array<{ name: string; body: unknown; code: string; message: RegExp }> = [
    { name: 'no query', body: {}, code: 'SEARCH_QUERY_MISSING', message: /The request has no query\. Send \{"query": \{"ands"/ },
    { name: 'empty ands', body: { query: { ands: [] } }, code: 'SEARCH_QUERY_MISSING', message: /query\.ands is missing or empty/ },
    {
      name: 'two output terms',
      body: { query: { ands: [{ output: { input: { id: 'a' } } }, { output: { data: { concepts: [{ name: 'cat' }] } } }] } },
      code: 'SEARCH_RANK_NOT_SUPPORTED',
      message: /query\.ands has 2 output terms \(query\.ands\[0\]\.output\.input\.id, query\.ands\[1\]\.output\.data\.concepts\)/,
    },
    {
      name: 'negated output term',
      body: { query: { ands: [{ negate: true, output: { input: { id: 'a' } } }] } },
      code: 'SEARCH_RANK_NOT_SUPPORTED',
      message: /query\.ands\[0\] negates an output term/,
    },
    {
      name: 'image url',
      body: { query: { ands: [{ output: { input: { data: { image: { url: 'https://example.com/a.jpg' } } } } }] } },
      code: 'IMAGE_URL_NOT_SUPPORTED',
      message: /query\.ands\[0\]\.output\.input\.data\.image\.url "https:\/\/example\.com\/a\.jpg" was not fetched/,
    },
    {
      name: 'unknown term',
      body: { query: { ands: [{ annotation: { data: {} , id: 'x' } }] } },
      code: 'SEARCH_FILTER_NOT_SUPPORTED',
      message: /query\.ands\[0\]\.annotation \(\{"data":\{\},"id":"x"\}\) is not supported here\. Use output\.input\.data\.image\.base64/,
    },
    {
      name: 'input image term',
      body: { query: { ands: [{ input: { data: { image: { url: 'https://example.com/a.jpg' } } } }] } },
      code: 'SEARCH_FILTER_NOT_SUPPORTED',
      message: /query\.ands\[0\]\.input\.data\.image .* is not supported here\. Use output\.input\.data\.image to search by image/,
    },
  ];

  for (const { name, body, code, message } of cases) {
    it(`rejects ${name}`, () => {
      const error = errorOf(() => parseLegacySearchBody(body));

      expect(error.code).toBe(code);
      expect(error.httpStatus).toBe(400);
      expect(error.message).toMatch(message);
    });
  }
});
