import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { callApi } from './helpers.ts';

let stack: LocalStack;

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
});

afterAll(async () => {
  await stack?.stop();
});

const conceptPath = (id: string): string => `/v2/concepts/${encodeURIComponent(id)}`;

describe('concepts', () => {
  it('creates, reads and lists concepts', async () => {
    const created = await callApi(stack, 'POST', '/v2/concepts', {
      concepts: [{ id: 'cat', name: 'Cat' }, { id: 'dog' }, { id: 'hund', name: 'Hund', language: 'de' }],
    });
    const one = await callApi(stack, 'GET', conceptPath('cat'));
    const list = await callApi(stack, 'GET', '/v2/concepts');

    expect(created.httpStatus).toBe(200);
    expect(created.body.status.code).toBe(10000);
    expect(created.body.concepts.map((concept: any) => concept.id)).toEqual(['cat', 'dog', 'hund']);
    expect(created.body.concepts[1].name).toBe('dog');
    expect(created.body.concepts[2].language).toBe('de');
    expect(one.httpStatus).toBe(200);
    expect(one.body.concept).toMatchObject({ id: 'cat', name: 'Cat', language: 'en', value: 1 });
    const ids = list.body.concepts.map((concept: any) => concept.id);
    expect(ids).toContain('cat');
    expect(ids).toContain('hund');
  });

  it('rejects an existing id by name', async () => {
    await callApi(stack, 'POST', '/v2/concepts', { concepts: [{ id: 'taken' }] });

    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/concepts', {
      concepts: [{ id: 'fresh-one' }, { id: 'taken' }],
    });
    const fresh = await callApi(stack, 'GET', conceptPath('fresh-one'));

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('CONCEPT_ALREADY_EXISTS');
    expect(body.status.details).toContain('"taken"');
    expect(fresh.httpStatus).toBe(404);
  });

  it('pages through concepts', async () => {
    const ids = Array.from({ length: 5 }, (_, index) => `page-${index}`);
    await callApi(stack, 'POST', '/v2/concepts', { concepts: ids.map((id) => ({ id })) });

    const all = await callApi(stack, 'GET', '/v2/concepts?per_page=1000');
    const first = await callApi(stack, 'GET', '/v2/concepts?page=1&per_page=2');
    const second = await callApi(stack, 'GET', '/v2/concepts?page=2&per_page=2');

    const allIds = all.body.concepts.map((concept: any) => concept.id);
    expect(first.body.concepts.map((concept: any) => concept.id)).toEqual(allIds.slice(0, 2));
    expect(second.body.concepts.map((concept: any) => concept.id)).toEqual(allIds.slice(2, 4));
  });

  it('returns 404 for an unknown concept', async () => {
    const { httpStatus, body } = await callApi(stack, 'GET', conceptPath('no-such-concept'));

    expect(httpStatus).toBe(404);
    expect(body.status.error_code).toBe('CONCEPT_NOT_FOUND');
    expect(body.status.details).toContain('"no-such-concept"');
  });

  it('renames with PATCH overwrite', async () => {
    await callApi(stack, 'POST', '/v2/concepts', { concepts: [{ id: 'rename-me', name: 'Old' }] });

    const patched = await callApi(stack, 'PATCH', '/v2/concepts', {
      action: 'overwrite',
      concepts: [{ id: 'rename-me', name: 'New' }],
    });
    const read = await callApi(stack, 'GET', conceptPath('rename-me'));
    const languages = await callApi(stack, 'GET', `${conceptPath('rename-me')}/languages`);

    expect(patched.httpStatus).toBe(200);
    expect(patched.body.concepts[0].name).toBe('New');
    expect(read.body.concept.name).toBe('New');
    expect(languages.body.concept_languages).toEqual([{ id: 'en', name: 'New' }]);
  });

  it('rejects a rename of an unknown concept', async () => {
    const { httpStatus, body } = await callApi(stack, 'PATCH', '/v2/concepts', {
      action: 'overwrite',
      concepts: [{ id: 'missing-for-rename', name: 'X' }],
    });

    expect(httpStatus).toBe(404);
    expect(body.status.error_code).toBe('CONCEPT_NOT_FOUND');
    expect(body.status.details).toContain('"missing-for-rename"');
  });
});

describe('concept ids', () => {
  const unicodeIds = ['猫', 'a#b', 'a', 'café au lait', '100%', 'a/b?c', '🐈‍⬛'];

  it('stores any Unicode id', async () => {
    const created = await callApi(stack, 'POST', '/v2/concepts', { concepts: unicodeIds.map((id) => ({ id })) });

    expect(created.httpStatus).toBe(200);
    for (const id of unicodeIds) {
      const { httpStatus, body } = await callApi(stack, 'GET', conceptPath(id));
      expect(httpStatus).toBe(200);
      expect(body.concept.id).toBe(id);
    }
  });

  it('keeps the relations of a#b apart from a', async () => {
    await callApi(stack, 'POST', '/v2/concepts', { concepts: [{ id: 'sep-x' }, { id: 'sep-x#y' }, { id: 'sep-z' }] });

    await callApi(stack, 'POST', `${conceptPath('sep-x#y')}/relations`, {
      concept_relations: [{ object_concept: { id: 'sep-z' }, predicate: 'synonym' }],
    });
    const plain = await callApi(stack, 'GET', `${conceptPath('sep-x')}/relations`);
    const withHash = await callApi(stack, 'GET', `${conceptPath('sep-x#y')}/relations`);

    expect(plain.body.concept_relations).toEqual([]);
    expect(withHash.body.concept_relations.length).toBe(1);
  });

  it('rejects an id over 256 bytes', async () => {
    const longId = '猫'.repeat(86);
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/concepts', { concepts: [{ id: longId }] });
    const viaPath = await callApi(stack, 'GET', conceptPath(longId));

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('CONCEPT_ID_TOO_LONG');
    expect(body.status.details).toContain('258 bytes');
    expect(body.status.details).toContain('256');
    expect(viaPath.httpStatus).toBe(400);
    expect(viaPath.body.status.error_code).toBe('CONCEPT_ID_TOO_LONG');
  });

  it('accepts an id of exactly 256 bytes', async () => {
    const id = `${'猫'.repeat(84)}#%xy`;

    const created = await callApi(stack, 'POST', '/v2/concepts', { concepts: [{ id }] });
    const read = await callApi(stack, 'GET', conceptPath(id));

    expect(Buffer.byteLength(id)).toBe(256);
    expect(created.httpStatus).toBe(200);
    expect(read.body.concept.id).toBe(id);
  });

  const badRequests: Array<{ name: string; body: unknown; code: string; words: string }> = [
    { name: 'empty id', body: { concepts: [{ id: '' }] }, code: 'INVALID_CONCEPT_ID', words: 'concepts[0].id' },
    { name: 'numeric id', body: { concepts: [{ id: 7 }] }, code: 'INVALID_CONCEPT_ID', words: 'concepts[0].id 7' },
    { name: 'lone surrogate', body: '{"concepts": [{"id": "a\\ud800"}]}', code: 'INVALID_CONCEPT_ID', words: 'concepts[0].id' },
    { name: 'duplicate id', body: { concepts: [{ id: 'twice' }, { id: 'twice' }] }, code: 'DUPLICATE_IN_REQUEST', words: 'concepts[1].id "twice"' },
    { name: 'bad language', body: { concepts: [{ id: 'lang', language: 'English' }] }, code: 'INVALID_LANGUAGE', words: '"English"' },
    { name: 'no concepts', body: { concepts: [] }, code: 'CONCEPTS_MISSING', words: '{"concepts": [' },
  ];

  for (const testCase of badRequests) {
    it(`rejects ${testCase.name}`, async () => {
      const { httpStatus, body } = await callApi(stack, 'POST', '/v2/concepts', testCase.body);

      expect(httpStatus).toBe(400);
      expect(body.status.error_code).toBe(testCase.code);
      expect(body.status.details).toContain(testCase.words);
    });
  }
});

describe('concept search', () => {
  beforeAll(async () => {
    await callApi(stack, 'POST', '/v2/concepts', {
      concepts: [{ id: 's-cat', name: 'Catalog' }, { id: 's-caterpillar', name: 'caterpillar' }, { id: 's-dog', name: 'Dog' }],
    });
    await callApi(stack, 'POST', `${conceptPath('s-cat')}/languages`, { concept_languages: [{ id: 'ja', name: 'カタログ' }] });
  });

  it('matches a name prefix ignoring case', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/concepts/searches', {
      concept_query: { name: 'CAT' },
    });

    expect(httpStatus).toBe(200);
    const ids = body.concepts.map((concept: any) => concept.id);
    expect(ids).toContain('s-cat');
    expect(ids).toContain('s-caterpillar');
    expect(ids).not.toContain('s-dog');
  });

  it('searches names in another language', async () => {
    const ja = await callApi(stack, 'POST', '/v2/concepts/searches', { concept_query: { name: 'カタ', language: 'ja' } });
    const en = await callApi(stack, 'POST', '/v2/concepts/searches', { concept_query: { name: 'カタ' } });

    expect(ja.body.concepts.map((concept: any) => concept.id)).toEqual(['s-cat']);
    expect(ja.body.concepts[0]).toMatchObject({ name: 'カタログ', language: 'ja' });
    expect(en.body.concepts).toEqual([]);
  });

  it('rejects a query without a name', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', '/v2/concepts/searches', { concept_query: { language: 'en' } });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('INVALID_CONCEPT_QUERY');
    expect(body.status.details).toContain('concept_query.name');
  });
});

describe('concept languages', () => {
  it('adds and lists names in other languages', async () => {
    await callApi(stack, 'POST', '/v2/concepts', { concepts: [{ id: 'l-cat', name: 'cat' }] });

    const added = await callApi(stack, 'POST', `${conceptPath('l-cat')}/languages`, {
      concept_languages: [{ id: 'ja', name: '猫' }, { id: 'de', name: 'Katze', definition: 'Hauskatze' }],
    });
    const listed = await callApi(stack, 'GET', `${conceptPath('l-cat')}/languages`);

    expect(added.httpStatus).toBe(200);
    expect(added.body.concept_languages).toEqual([
      { id: 'de', name: 'Katze', definition: 'Hauskatze' },
      { id: 'ja', name: '猫' },
    ]);
    expect(listed.body.concept_languages).toEqual([
      { id: 'en', name: 'cat' },
      { id: 'de', name: 'Katze', definition: 'Hauskatze' },
      { id: 'ja', name: '猫' },
    ]);
  });

  it('rejects a language that exists', async () => {
    await callApi(stack, 'POST', '/v2/concepts', { concepts: [{ id: 'l-dog', name: 'dog' }] });

    const { httpStatus, body } = await callApi(stack, 'POST', `${conceptPath('l-dog')}/languages`, {
      concept_languages: [{ id: 'fr', name: 'chien' }, { id: 'en', name: 'doggo' }],
    });
    const listed = await callApi(stack, 'GET', `${conceptPath('l-dog')}/languages`);

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('LANGUAGE_ALREADY_EXISTS');
    expect(body.status.details).toContain('"en"');
    expect(listed.body.concept_languages).toEqual([{ id: 'en', name: 'dog' }]);
  });

  it('returns 404 for languages of an unknown concept', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', `${conceptPath('l-missing')}/languages`, {
      concept_languages: [{ id: 'ja', name: '無' }],
    });

    expect(httpStatus).toBe(404);
    expect(body.status.error_code).toBe('CONCEPT_NOT_FOUND');
  });
});

describe('concept relations', () => {
  beforeAll(async () => {
    await callApi(stack, 'POST', '/v2/concepts', {
      concepts: [{ id: 'animal' }, { id: 'kitten' }, { id: 'puppy' }, { id: 'pup' }],
    });
  });

  it('shows a hypernym as a hyponym from the other side', async () => {
    const created = await callApi(stack, 'POST', `${conceptPath('animal')}/relations`, {
      concept_relations: [{ object_concept: { id: 'kitten' }, predicate: 'hypernym' }],
    });
    const fromAnimal = await callApi(stack, 'GET', `${conceptPath('animal')}/relations`);
    const fromKitten = await callApi(stack, 'GET', `${conceptPath('kitten')}/relations`);

    expect(created.httpStatus).toBe(200);
    const [relation] = created.body.concept_relations;
    expect(relation.id).toMatch(/^[0-9a-f]{32}$/);
    expect(relation.subject_concept.id).toBe('animal');
    expect(relation.object_concept.id).toBe('kitten');
    expect(relation.predicate).toBe('hypernym');
    expect(fromAnimal.body.concept_relations).toEqual([relation]);
    expect(fromKitten.body.concept_relations.length).toBe(1);
    expect(fromKitten.body.concept_relations[0].id).toBe(relation.id);
    expect(fromKitten.body.concept_relations[0].subject_concept.id).toBe('kitten');
    expect(fromKitten.body.concept_relations[0].object_concept.id).toBe('animal');
    expect(fromKitten.body.concept_relations[0].predicate).toBe('hyponym');
  });

  it('filters relations by predicate', async () => {
    await callApi(stack, 'POST', `${conceptPath('puppy')}/relations`, {
      concept_relations: [
        { object_concept: { id: 'pup' }, predicate: 'synonym' },
        { object_concept: { id: 'animal' }, predicate: 'hyponym' },
      ],
    });

    const synonyms = await callApi(stack, 'GET', `${conceptPath('puppy')}/relations?predicate=synonym`);
    const fromPup = await callApi(stack, 'GET', `${conceptPath('pup')}/relations`);
    const hyponymsOfAnimal = await callApi(stack, 'GET', `${conceptPath('animal')}/relations?predicate=hypernym`);

    expect(synonyms.body.concept_relations.map((relation: any) => relation.object_concept.id)).toEqual(['pup']);
    expect(fromPup.body.concept_relations[0].predicate).toBe('synonym');
    expect(fromPup.body.concept_relations[0].object_concept.id).toBe('puppy');
    const children = hyponymsOfAnimal.body.concept_relations.map((relation: any) => relation.object_concept.id).sort();
    expect(children).toEqual(['kitten', 'puppy']);
  });

  it('rejects a relation that exists in reverse', async () => {
    const { httpStatus, body } = await callApi(stack, 'POST', `${conceptPath('kitten')}/relations`, {
      concept_relations: [{ object_concept: { id: 'animal' }, predicate: 'hyponym' }],
    });

    expect(httpStatus).toBe(400);
    expect(body.status.error_code).toBe('RELATION_ALREADY_EXISTS');
    expect(body.status.details).toContain('"kitten" hyponym "animal"');
  });

  it('deletes relations from either side', async () => {
    await callApi(stack, 'POST', '/v2/concepts', { concepts: [{ id: 'd-a' }, { id: 'd-b' }] });
    const created = await callApi(stack, 'POST', `${conceptPath('d-a')}/relations`, {
      concept_relations: [{ object_concept: { id: 'd-b' }, predicate: 'synonym' }],
    });
    const relationId: string = created.body.concept_relations[0].id;

    const deleted = await callApi(stack, 'DELETE', `${conceptPath('d-b')}/relations`, { ids: [relationId] });
    const fromA = await callApi(stack, 'GET', `${conceptPath('d-a')}/relations`);
    const fromB = await callApi(stack, 'GET', `${conceptPath('d-b')}/relations`);
    const again = await callApi(stack, 'DELETE', `${conceptPath('d-b')}/relations`, { ids: [relationId] });

    expect(deleted.httpStatus).toBe(200);
    expect(fromA.body.concept_relations).toEqual([]);
    expect(fromB.body.concept_relations).toEqual([]);
    expect(again.httpStatus).toBe(404);
    expect(again.body.status.error_code).toBe('RELATION_NOT_FOUND');
    expect(again.body.status.details).toContain(relationId);
  });

  const badRelations: Array<{ name: string; body: unknown; status: number; code: string; words: string }> = [
    { name: 'unknown predicate', body: { concept_relations: [{ object_concept: { id: 'pup' }, predicate: 'parent' }] }, status: 400, code: 'INVALID_PREDICATE', words: '"parent"' },
    { name: 'relation to itself', body: { concept_relations: [{ object_concept: { id: 'animal' }, predicate: 'synonym' }] }, status: 400, code: 'RELATION_TO_SELF', words: 'object_concept.id "animal"' },
    { name: 'unknown object', body: { concept_relations: [{ object_concept: { id: 'no-such' }, predicate: 'synonym' }] }, status: 404, code: 'CONCEPT_NOT_FOUND', words: '"no-such"' },
    { name: 'missing object id', body: { concept_relations: [{ predicate: 'synonym' }] }, status: 400, code: 'INVALID_CONCEPT_ID', words: 'concept_relations[0].object_concept.id' },
  ];

  for (const testCase of badRelations) {
    it(`rejects ${testCase.name}`, async () => {
      const { httpStatus, body } = await callApi(stack, 'POST', `${conceptPath('animal')}/relations`, testCase.body);

      expect(httpStatus).toBe(testCase.status);
      expect(body.status.error_code).toBe(testCase.code);
      expect(body.status.details).toContain(testCase.words);
    });
  }
});
