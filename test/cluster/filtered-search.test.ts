/**
 * Filtered visual search through `runSearch` against the local stack's DynamoDB and S3, on
 * 6,000 synthetic clustered vectors whose inputs carry a shop id from 0 to 9. A filter on one
 * shop keeps 1 input in 10, so its top 10 lie about as deep as the unfiltered top 100, in
 * lists beyond the 16 nearest. The search must probe further to find them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainCoarseQuantizer } from '#commons/search/index/coarse.ts';
import { trainQuantizer } from '#commons/search/index/quantizer.ts';
import { type ClusterModel, putClusterModel } from '#commons/search/cluster-objects.ts';
import { readIndexState } from '#commons/search/index-state.ts';
import { SEARCH_EMBEDDING_MODEL_ID } from '#commons/search/indexing.ts';
import { clusterModelKey } from '#commons/search/ivf-keys.ts';
import { buildIndexVersion } from '#commons/search/ivf-versions.ts';
import { parseSearchBody } from '#commons/search/query.ts';
import { runSearch } from '#commons/search/run-search.ts';
import { mapConcurrently } from '#commons/search/search-inputs.ts';
import { searchBackend } from '#commons/search/select-backend.ts';
import { modelAnnotation, putAnnotations } from '#commons/storage/annotations.ts';
import { InputStatus, createInput } from '#commons/storage/inputs.ts';
import { type LocalStack, startLocalStack } from '../../local/stack.ts';
import { clusteredVectors, exactTop, recall } from './clustered-vectors.ts';

const APP = 'filtered-search';
const DIM = 32;
const INPUT_COUNT = 6000;
const SHOPS = 10;
const CLUSTERS = 512;
const QUERY_COUNT = 20;

let stack: LocalStack;
const source = clusteredVectors({ dim: DIM, centers: 300, noise: 0.7, seed: 21 });
/** Vectors of the catalogue inputs by input id, with their shop id. */
const catalogue = new Map<string, { vector: Float32Array; shop: number }>();
const queries = Array.from({ length: QUERY_COUNT }, (_, index) => ({ inputId: `query-${index}`, vector: source.draw(), shop: index % SHOPS }));

async function storeInput(inputId: string, metadata: Record<string, unknown>): Promise<void> {
  const now = new Date().toISOString();
  await createInput({
    app_id: APP,
    id: inputId,
    created_at: now,
    modified_at: now,
    image: { bucket: stack.bucketName, key: `uploads/${APP}/${inputId}`, format: 'JPEG' },
    metadata,
    status: InputStatus.success(),
    source: 'api',
  });
}

/** Runs the query input's search with a filter on its shop, and returns the hit ids. */
async function searchShop(query: (typeof queries)[number], perPage = 10): Promise<string[]> {
  const request = parseSearchBody({
    searches: [
      {
        query: {
          ranks: [{ annotation: { input_id: query.inputId } }],
          filters: [{ input: { data: { metadata: { shop: { id: query.shop } } } } }],
        },
      },
    ],
    pagination: { page: 1, per_page: perPage },
  });
  return (await runSearch(APP, request)).map((hit) => hit.input.id);
}

/** Returns the exact top 10 of the query among the catalogue inputs of its shop. */
function exactShopTop(query: (typeof queries)[number], k = 10): string[] {
  const shopVectors = new Map([...catalogue].filter(([, entry]) => entry.shop === query.shop).map(([inputId, entry]) => [inputId, entry.vector]));
  return exactTop(shopVectors, query.vector, k);
}

async function searchAll(): Promise<string[][]> {
  const found: string[][] = [];
  for (const query of queries) {
    found.push(await searchShop(query));
  }
  return found;
}

beforeAll(async () => {
  stack = await startLocalStack({ port: 0 });
  for (let index = 0; index < INPUT_COUNT; index += 1) {
    catalogue.set(`item-${String(index).padStart(5, '0')}`, { vector: source.draw(), shop: index % SHOPS });
  }

  // Catalogue inputs: a record with the shop id and a vector. Query inputs also have the
  // embedding annotation that a rank by input id reads, and no shop id, so no filter keeps them.
  await mapConcurrently([...catalogue], 16, ([inputId, entry]) => storeInput(inputId, { shop: { id: entry.shop } }));
  await mapConcurrently(queries, 16, (query) => storeInput(query.inputId, { role: 'query' }));
  await putAnnotations(
    queries.map((query) =>
      modelAnnotation(APP, query.inputId, { id: SEARCH_EMBEDDING_MODEL_ID, versionId: 'synthetic' }, {
        embeddings: [{ vector: Array.from(query.vector), num_dimensions: DIM }],
      }),
    ),
  );
  const entries = [...catalogue].map(([inputId, entry]) => ({ inputId, vector: entry.vector }));
  const chunks = Array.from({ length: Math.ceil(entries.length / 250) }, (_, index) => entries.slice(index * 250, (index + 1) * 250));
  await mapConcurrently(chunks, 4, (chunk) => searchBackend().upsert(APP, chunk));
  await searchBackend().upsert(APP, queries.map((query) => ({ inputId: query.inputId, vector: query.vector })));
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

describe('filtered visual search', () => {
  it('exact search returns the filtered top hits', async () => {
    expect((await readIndexState(APP)).active).toBeUndefined();

    for (const query of queries.slice(0, 5)) {
      expect(await searchShop(query), query.inputId).toEqual(exactShopTop(query));
    }
  });

  it('exact search pages past the first hits', async () => {
    const query = queries[0] as (typeof queries)[number];

    const hits = await searchShop(query, 50);

    expect(hits).toEqual(exactShopTop(query, 50));
  });

  it('cluster search matches exact under a filter', async () => {
    const data = new Float32Array(catalogue.size * DIM);
    [...catalogue.values()].forEach((entry, row) => data.set(entry.vector, row * DIM));
    const { centroids } = trainCoarseQuantizer(data, DIM, { nlist: CLUSTERS, seed: 1, iterations: 20, sampleSize: catalogue.size });
    const model: ClusterModel = { dim: DIM, k: CLUSTERS, centroids, quantizer: trainQuantizer(data, DIM) };
    const modelKey = clusterModelKey(APP, 'groups', 'v1');
    await putClusterModel(modelKey, model);
    await buildIndexVersion(APP, { model_id: 'groups', version_id: 'v1', dim: DIM, k: CLUSTERS, model_key: modelKey, started_at: new Date().toISOString() }, model);

    const found = await searchAll();
    const expected = queries.map((query) => exactShopTop(query));

    expect((await readIndexState(APP)).active?.version_id).toBe('v1');
    expect(found).toEqual(expected);
  });

  it('default probes alone miss filtered hits', async () => {
    // The control for the test above: without widening, the 16 nearest of 512 lists hold
    // too few of the filtered top 10, so the data set is hard enough to show the difference.
    process.env.SEARCH_IVF_MAX_PROBES = '16';
    try {
      const found = await searchAll();
      const expected = queries.map((query) => exactShopTop(query));

      expect(recall(found, expected)).toBeLessThan(0.85);
    } finally {
      delete process.env.SEARCH_IVF_MAX_PROBES;
    }
  });

  it('unfiltered search ignores max probes', async () => {
    const unfiltered = (query: (typeof queries)[number]) =>
      parseSearchBody({ searches: [{ query: { ranks: [{ annotation: { input_id: query.inputId } }] } }], pagination: { page: 1, per_page: 10 } });
    const searchUnfiltered = async (): Promise<string[][]> => {
      const found: string[][] = [];
      for (const query of queries) {
        found.push((await runSearch(APP, unfiltered(query))).map((hit) => hit.input.id));
      }
      return found;
    };

    const withDefaults = await searchUnfiltered();
    process.env.SEARCH_IVF_MAX_PROBES = '16';
    let withoutWidening: string[][];
    try {
      withoutWidening = await searchUnfiltered();
    } finally {
      delete process.env.SEARCH_IVF_MAX_PROBES;
    }

    expect(withDefaults).toEqual(withoutWidening);
    expect(withDefaults.every((ids, index) => ids[0] === queries[index]?.inputId)).toBe(true);
  });
});
