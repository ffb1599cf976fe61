import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { callApi, imageBase64, localS3Client, useLocalStack, waitForInput } from './helpers.ts';
import {
  BERLIN,
  PARIS,
  PHOTOS,
  addPhotos,
  alteredCopy,
  hitIds,
  imageRank,
  searchBody,
} from './search-helpers.ts';

const local = useLocalStack(addPhotos);

const ALL_IDS = PHOTOS.map((photo) => photo.id);

async function search(query: Record<string, unknown>, pagination?: { page?: number; per_page?: number }) {
  const response = await callApi(local.stack, 'POST', '/v2/annotations/searches', searchBody(query, pagination));
  expect(response.httpStatus, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

/** Ids of the inputs that a filter-only search returns, sorted. */
async function filtered(...filters: Array<Record<string, unknown>>): Promise<string[]> {
  return hitIds(await search({ filters })).sort();
}

describe('search by image', () => {
  it('ranks the original of an altered photo first', async () => {
    for (const photo of PHOTOS) {
      const body = await search({ ranks: [imageRank(await alteredCopy(photo.file))] });

      expect(hitIds(body)[0], `altered ${photo.file}`).toBe(photo.id);
      expect(body.hits[0].score, `altered ${photo.file}`).toBeGreaterThan(0.8);
    }
  });

  it('returns every input best first', async () => {
    const body = await search({ ranks: [imageRank(imageBase64('chelsea.jpg'))] });
    const scores = body.hits.map((hit: any) => hit.score);

    expect(hitIds(body).sort()).toEqual([...ALL_IDS].sort());
    expect(scores).toEqual([...scores].sort((a: number, b: number) => b - a));
    expect(scores[0]).toBeCloseTo(1, 3);
  });

  it('returns hits in Clarifai shape', async () => {
    const body = await search({ ranks: [imageRank(await alteredCopy('rocket.jpg'))] }, { per_page: 1 });
    const [hit] = body.hits;

    expect(body.status.code).toBe(10000);
    expect(body.searches).toHaveLength(1);
    expect(body.searches[0].query).toEqual({ ranks: [{ annotation: { data: { image: {} } } }] });
    expect(hit.input.id).toBe('rocket');
    expect(hit.input.data.metadata).toEqual(PHOTOS[1]?.metadata);
    expect(hit.input.data.geo).toEqual({ geo_point: PHOTOS[1]?.geo });
    expect(hit.annotation.input_id).toBe('rocket');
    expect(hit.annotation.worker.model.id).toBe('general-image-embedding');
    expect(hit.annotation.data.embeddings[0].num_dimensions).toBe(120);
  });

  it('works on the inputs route', async () => {
    const response = await callApi(local.stack, 'POST', '/v2/inputs/searches', {
      searches: [{ query: { ranks: [{ input: { data: { image: { base64: await alteredCopy('coffee.jpg') } } } }] } }],
    });

    expect(response.httpStatus, JSON.stringify(response.body)).toBe(200);
    expect(hitIds(response.body)[0]).toBe('coffee');
  });
});

describe('search by input id', () => {
  it('ranks the input itself first', async () => {
    const body = await search({ ranks: [{ annotation: { input_id: 'astronaut' } }] });

    expect(hitIds(body)[0]).toBe('astronaut');
    expect(body.hits[0].score).toBeCloseTo(1, 5);
    expect(hitIds(body)).toHaveLength(ALL_IDS.length);
  });

  it('ranks as the image of the input does', async () => {
    const byId = await search({ ranks: [{ input: { id: 'page' } }] });
    const byImage = await search({ ranks: [imageRank(imageBase64('page.png'))] });

    expect(hitIds(byId)).toEqual(hitIds(byImage));
  });
});

describe('search by concept', () => {
  it('ranks by the predicted value', async () => {
    const body = await search({ ranks: [{ annotation: { data: { concepts: [{ id: 'cat', value: 1 }] } } }] });

    // The object detector finds a cat only in chelsea.jpg.
    expect(hitIds(body)).toEqual(['cat']);
    expect(body.hits[0].score).toBeGreaterThan(0.3);
    expect(body.hits[0].annotation.worker.model.id).toBe('general-object-detection');
  });

  it('ranks people', async () => {
    const body = await search({ ranks: [{ annotation: { data: { concepts: [{ name: 'person' }] } } }] });

    expect(hitIds(body).sort()).toEqual(['astronaut', 'camera']);
  });

  it('ranks inputs without the concept first for value 0', async () => {
    const body = await search({ ranks: [{ annotation: { data: { concepts: [{ id: 'cat', value: 0 }] } } }] });

    expect(hitIds(body)).toHaveLength(ALL_IDS.length);
    expect(hitIds(body).at(-1)).toBe('cat');
    expect(body.hits[0].score).toBe(1);
  });
});

describe('search filters', () => {
  it('filters by labelled concept', async () => {
    expect(await filtered({ annotation: { data: { concepts: [{ id: 'person', value: 1 }] } } })).toEqual(['astronaut', 'camera']);
    expect(await filtered({ input: { data: { concepts: [{ id: 'pet', value: 0 }] } } })).toEqual(['rocket']);
    expect(await filtered({ annotation: { data: { concepts: [{ id: 'pet' }, { id: 'drink' }] } } })).toEqual(['cat', 'coffee']);
  });

  it('filters by nested input metadata', async () => {
    expect(await filtered({ input: { data: { metadata: { kind: 'scan' } } } })).toEqual(['page', 'text']);
    expect(await filtered({ input: { data: { metadata: { shop: { open: true, id: 1 } } } } })).toEqual(['cat', 'coffee']);
    expect(await filtered({ input: { data: { metadata: { sizes: ['M'] } } } })).toEqual(['cat', 'coffee']);
    expect(await filtered({ input: { data: { metadata: { shop: { id: '1' } } } } })).toEqual([]);
  });

  it('filters by annotation metadata', async () => {
    expect(await filtered({ annotation: { data: { metadata: { shop: { id: 2 } } } } })).toEqual(['camera', 'rocket']);
  });

  it('filters by geo radius', async () => {
    const nearBerlin = (type: string, value: number) => ({
      input: { data: { geo: { geo_point: BERLIN, geo_limit: { type, value } } } },
    });

    expect(await filtered(nearBerlin('withinKilometers', 10))).toEqual(['cat']);
    expect(await filtered(nearBerlin('withinKilometers', 50))).toEqual(['camera', 'cat']);
    expect(await filtered(nearBerlin('withinMiles', 600))).toEqual(['camera', 'cat', 'coffee']);
    expect(await filtered(nearBerlin('withinDegrees', 1))).toEqual(['camera', 'cat']);
  });

  it('filters by geo box', async () => {
    const box = { geo_box: [{ geo_point: { longitude: -100, latitude: 25 } }, { geo_point: { longitude: -75, latitude: 35 } }] };

    expect(await filtered({ annotation: { data: { geo: box } } })).toEqual(['astronaut', 'rocket']);
  });

  it('filters by annotation status', async () => {
    expect(await filtered({ annotation: { status: { code: 24150 } } })).toEqual([...ALL_IDS].sort());
    expect(await filtered({ annotation: { status: { code: 24151 } } })).toEqual([]);
  });

  it('negates and combines filters', async () => {
    const photos = { input: { data: { metadata: { kind: 'photo' } } } };
    const nearParis = { input: { data: { geo: { geo_point: PARIS, geo_limit: { type: 'withinKilometers', value: 1000 } } } } };

    expect(await filtered(photos, nearParis)).toEqual(['camera', 'cat', 'coffee']);
    expect(await filtered(photos, { ...nearParis, negate: true })).toEqual(['astronaut', 'rocket']);
  });

  it('filters the hits of a visual rank', async () => {
    const body = await search({
      ranks: [imageRank(await alteredCopy('chelsea.jpg'))],
      filters: [{ input: { data: { metadata: { kind: 'scan' } } } }],
    });

    expect(hitIds(body).sort()).toEqual(['page', 'text']);
    expect(body.hits[0].score).toBeGreaterThan(body.hits[1].score);
  });

  it('filters the hits of a concept rank', async () => {
    const body = await search({
      ranks: [{ annotation: { data: { concepts: [{ id: 'person' }] } } }],
      filters: [{ input: { data: { geo: { geo_point: BERLIN, geo_limit: { type: 'withinKilometers', value: 50 } } } } }],
    });

    expect(hitIds(body)).toEqual(['camera']);
  });
});

describe('search paging', () => {
  it('splits the ranking into pages', async () => {
    const rank = [imageRank(imageBase64('coffee.jpg'))];
    const all = hitIds(await search({ ranks: rank }));
    const pages: string[] = [];
    for (let page = 1; page <= 4; page += 1) {
      pages.push(...hitIds(await search({ ranks: rank }, { page, per_page: 2 })));
    }

    expect(pages).toEqual(all);
    expect(hitIds(await search({ ranks: rank }, { page: 5, per_page: 2 }))).toEqual([]);
  });

  it('pages a filter-only search in input id order', async () => {
    const first = hitIds(await search({}, { page: 1, per_page: 3 }));
    const second = hitIds(await search({}, { page: 2, per_page: 3 }));

    expect([...first, ...second]).toEqual([...ALL_IDS].sort().slice(0, 6));
  });
});

describe('legacy search', () => {
  it('searches by image and metadata', async () => {
    const response = await callApi(local.stack, 'POST', '/v2/searches', {
      query: {
        ands: [
          { output: { input: { data: { image: { base64: await alteredCopy('camera.jpg') } } } } },
          { input: { data: { metadata: { kind: 'photo' } } } },
        ],
      },
      pagination: { page: 1, per_page: 3 },
    });

    expect(response.httpStatus, JSON.stringify(response.body)).toBe(200);
    expect(response.body.id).toMatch(/^[0-9a-f]{32}$/);
    expect(response.body.hits).toHaveLength(3);
    expect(response.body.hits[0].input.id).toBe('camera');
    expect(Object.keys(response.body.hits[0]).sort()).toEqual(['input', 'score']);
    for (const hit of response.body.hits) {
      expect(hit.input.data.metadata.kind).toBe('photo');
    }
  });

  it('searches by predicted concept and labels', async () => {
    const response = await callApi(local.stack, 'POST', '/v2/searches', {
      query: {
        ands: [
          { output: { data: { concepts: [{ name: 'person' }] } } },
          { input: { data: { concepts: [{ name: 'person', value: 1 }] } } },
          { input: { data: { geo: { geo_point: BERLIN, geo_limit: { type: 'withinKilometers', value: 100 } } } }, negate: true },
        ],
      },
    });

    expect(response.httpStatus, JSON.stringify(response.body)).toBe(200);
    expect(response.body.hits.map((hit: any) => hit.input.id)).toEqual(['astronaut']);
  });
});

describe('search index upkeep', () => {
  it('drops a deleted input from the results', async () => {
    const added = await callApi(local.stack, 'POST', '/v2/inputs', {
      inputs: [{ id: 'cat-copy', data: { image: { base64: imageBase64('chelsea.jpg') }, metadata: { kind: 'copy' } } }],
    });
    expect(added.httpStatus).toBe(200);
    await waitForInput(local.stack, 'cat-copy');
    const before = await search({ ranks: [{ annotation: { input_id: 'cat' } }] }, { per_page: 2 });

    const deleted = await callApi(local.stack, 'DELETE', '/v2/inputs/cat-copy');
    const after = await search({ ranks: [{ annotation: { input_id: 'cat' } }] });
    const byConcept = await search({ ranks: [{ annotation: { data: { concepts: [{ id: 'cat' }] } } }] });

    expect(hitIds(before).sort()).toEqual(['cat', 'cat-copy']);
    expect(deleted.httpStatus).toBe(200);
    expect(hitIds(after)).not.toContain('cat-copy');
    expect(hitIds(after)).toHaveLength(ALL_IDS.length);
    expect(hitIds(byConcept)).toEqual(['cat']);
  });
});

describe('search errors', () => {
  const cases: Array<{ name: string; route: string; body: unknown; httpStatus: number; code: string; message: RegExp }> = [
    {
      name: 'missing searches',
      route: '/v2/annotations/searches',
      body: { query: {} },
      httpStatus: 400,
      code: 'SEARCH_QUERY_MISSING',
      message: /The request has no searches/,
    },
    {
      name: 'image url',
      route: '/v2/inputs/searches',
      body: searchBody({ ranks: [{ input: { data: { image: { url: 'https://example.com/cat.jpg' } } } }] }),
      httpStatus: 400,
      code: 'IMAGE_URL_NOT_SUPPORTED',
      message: /searches\[0\]\.query\.ranks\[0\]\.input\.data\.image\.url "https:\/\/example\.com\/cat\.jpg" was not fetched/,
    },
    {
      name: 'not an image',
      route: '/v2/annotations/searches',
      body: searchBody({ ranks: [imageRank(Buffer.from('plain text, not an image').toString('base64'))] }),
      httpStatus: 400,
      code: 'NOT_AN_IMAGE',
      message: /^searches\[0\]\.query\.ranks\[0\]\.annotation\.data\.image: /,
    },
    {
      name: 'unknown input id',
      route: '/v2/annotations/searches',
      body: searchBody({ ranks: [{ annotation: { input_id: 'no-such-input' } }] }),
      httpStatus: 404,
      code: 'INPUT_NOT_FOUND',
      message: /annotation\.input_id "no-such-input" is not an input of app "main"/,
    },
    {
      name: 'bad geo unit',
      route: '/v2/annotations/searches',
      body: searchBody({ filters: [{ input: { data: { geo: { geo_point: BERLIN, geo_limit: { type: 'withinYards', value: 1 } } } } }] }),
      httpStatus: 400,
      code: 'INVALID_GEO_FILTER',
      message: /geo_limit\.type "withinYards" is not a unit Percept knows/,
    },
    {
      name: 'bad legacy term',
      route: '/v2/searches',
      body: { query: { ands: [{ input: { data: { video: { url: 'x' } } } }] } },
      httpStatus: 400,
      code: 'SEARCH_FILTER_NOT_SUPPORTED',
      message: /query\.ands\[0\]\.input\.data\.video \(\{"url":"x"\}\) is not supported here/,
    },
  ];

  for (const { name, route, body, httpStatus, code, message } of cases) {
    it(`rejects ${name}`, async () => {
      const response = await callApi(local.stack, 'POST', route, body);

      expect(response.httpStatus).toBe(httpStatus);
      expect(response.body.status.error_code).toBe(code);
      expect(response.body.status.details).toMatch(message);
    });
  }

  it('rejects an input without an embedding', async () => {
    // An uploaded object that is not an image fails ingest, so no embedding is stored for it.
    await localS3Client(local.stack).send(
      new PutObjectCommand({ Bucket: local.stack.bucketName, Key: 'uploads/main/notes.txt', Body: 'plain text, not an image' }),
    );
    const input = await waitForInput(local.stack, 'notes.txt');

    const response = await callApi(local.stack, 'POST', '/v2/annotations/searches', searchBody({ ranks: [{ annotation: { input_id: 'notes.txt' } }] }));

    expect(input.status.code).toBe(30002);
    expect(response.httpStatus).toBe(400);
    expect(response.body.status.error_code).toBe('INPUT_NOT_INDEXED');
    expect(response.body.status.details).toMatch(/"notes\.txt" has no general-image-embedding embedding \(input status 30002: Download failed\)/);
  });
});
