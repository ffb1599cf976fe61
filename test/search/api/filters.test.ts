import { describe, expect, it } from 'vitest';
import { containsJson, passesFilters } from '#commons/search/filters.ts';
import { geoCircle } from '#commons/search/geo.ts';
import type { SearchFilter } from '#commons/search/query-types.ts';
import type { InputRecord } from '#commons/storage/inputs.ts';

const METADATA = {
  keyname: 'value1',
  somelist: [1, 2, 3],
  somenesting: { keyname2: 'value2', list2: [4, 5] },
  tags: [{ name: 'red', weight: 2 }, { name: 'blue' }],
};

function input(overrides: Partial<InputRecord> = {}): InputRecord {
  return {
    app_id: 'main',
    id: 'photo',
    created_at: '2026-01-01T00:00:00.000Z',
    modified_at: '2026-01-01T00:00:00.000Z',
    image: { bucket: 'percept-local', key: 'uploads/main/photo' },
    metadata: METADATA,
    concepts: [
      { id: 'cat', name: 'Cat', value: 1 },
      { id: 'dog', name: 'Dog', value: 0 },
    ],
    geo: { geo_point: { longitude: 13.405, latitude: 52.52 } },
    status: { code: 30000, description: 'Download complete' },
    source: 'api',
    ...overrides,
  };
}

function filter(conditions: SearchFilter['conditions'], negate = false): SearchFilter {
  return { field: 'filters[0]', negate, conditions };
}

describe('metadata containment', () => {
  it('matches the subsets that Clarifai documents', () => {
    const matching = [
      { keyname: 'value1' },
      { somelist: [1, 2, 3] },
      { somelist: [1, 2] },
      { somenesting: { keyname2: 'value2' } },
      { somenesting: { list2: [5] } },
      { tags: [{ name: 'red' }] },
      {},
    ];
    for (const pattern of matching) {
      expect(containsJson(METADATA, pattern), JSON.stringify(pattern)).toBe(true);
    }
  });

  it('rejects values that differ or are missing', () => {
    const failing = [
      { keyname: 'value2' },
      { keyname: ['value1'] },
      { somelist: [4] },
      { somenesting: { keyname2: 'other' } },
      { somenesting: 'value2' },
      { missing: null },
      { tags: [{ name: 'green' }] },
    ];
    for (const pattern of failing) {
      expect(containsJson(METADATA, pattern), JSON.stringify(pattern)).toBe(false);
    }
  });

  it('compares scalars by type', () => {
    expect(containsJson({ count: 1 }, { count: '1' })).toBe(false);
    expect(containsJson({ open: true }, { open: true })).toBe(true);
  });
});

describe('filter evaluation', () => {
  it('matches labels by id or name and value', () => {
    expect(passesFilters([filter([{ kind: 'labels', anyOf: [{ id: 'cat', value: 1 }] }])], { input: input() })).toBe(true);
    expect(passesFilters([filter([{ kind: 'labels', anyOf: [{ name: 'Cat', value: 1 }] }])], { input: input() })).toBe(true);
    expect(passesFilters([filter([{ kind: 'labels', anyOf: [{ id: 'dog', value: 1 }] }])], { input: input() })).toBe(false);
    expect(passesFilters([filter([{ kind: 'labels', anyOf: [{ id: 'dog', value: 0 }] }])], { input: input() })).toBe(true);
  });

  it('ors the concepts of one filter', () => {
    const anyOf = [
      { id: 'bird', value: 1 as const },
      { id: 'cat', value: 1 as const },
    ];

    expect(passesFilters([filter([{ kind: 'labels', anyOf }])], { input: input() })).toBe(true);
  });

  it('ands separate filters and negates', () => {
    const cat = filter([{ kind: 'labels', anyOf: [{ id: 'cat', value: 1 }] }]);
    const notRed = filter([{ kind: 'input-metadata', metadata: { keyname: 'value1' } }], true);

    expect(passesFilters([cat], { input: input() })).toBe(true);
    expect(passesFilters([cat, notRed], { input: input() })).toBe(false);
    expect(passesFilters([cat, notRed], { input: input({ metadata: { keyname: 'other' } }) })).toBe(true);
  });

  it('requires a geo point for geo filters', () => {
    const nearBerlin = filter([{ kind: 'geo', area: geoCircle({ longitude: 13.4, latitude: 52.5 }, 'withinKilometers', 10) }]);

    expect(passesFilters([nearBerlin], { input: input() })).toBe(true);
    expect(passesFilters([nearBerlin], { input: input({ geo: undefined }) })).toBe(false);
    expect(passesFilters([{ ...nearBerlin, negate: true }], { input: input({ geo: undefined }) })).toBe(true);
  });

  it('matches annotation status and metadata on one annotation', () => {
    const annotations = [{ data: {}, status: { code: 24151, description: 'Annotation pending' } }];
    const success = filter([{ kind: 'annotation', statusCode: 24150 }]);
    const pending = filter([{ kind: 'annotation', statusCode: 24151 }]);
    const pendingWithMetadata = filter([{ kind: 'annotation', statusCode: 24151, metadata: { keyname: 'value1' } }]);
    const successWithMetadata = filter([{ kind: 'annotation', statusCode: 24150, metadata: { keyname: 'value1' } }]);

    // The input-level annotation has status 24150 and the input's metadata.
    expect(passesFilters([success], { input: input(), annotations })).toBe(true);
    expect(passesFilters([pending], { input: input(), annotations })).toBe(true);
    expect(passesFilters([pendingWithMetadata], { input: input(), annotations })).toBe(false);
    expect(passesFilters([successWithMetadata], { input: input(), annotations })).toBe(true);
  });

  it('matches input status and id', () => {
    expect(passesFilters([filter([{ kind: 'input-status', code: 30000 }])], { input: input() })).toBe(true);
    expect(passesFilters([filter([{ kind: 'input-status', code: 30002 }])], { input: input() })).toBe(false);
    expect(passesFilters([filter([{ kind: 'input-id', inputId: 'photo' }])], { input: input() })).toBe(true);
    expect(passesFilters([filter([{ kind: 'input-id', inputId: 'other' }])], { input: input() })).toBe(false);
  });
});
