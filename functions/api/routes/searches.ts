/**
 * Search routes: `POST /v2/annotations/searches` and `POST /v2/inputs/searches` take
 * Clarifai's `searches[{query: {ranks, filters}}]`, and `POST /v2/searches` the legacy
 * `query.ands` form. Each returns one page of hits, best first: a hit is an input with its
 * score and, except in the legacy form, the annotation it was found by.
 */
import { randomUUID } from 'node:crypto';
import { toClarifaiInput } from '#commons/clarifai/resources.ts';
import type { ApiRequest } from '#commons/http/api-event.ts';
import { okStatus } from '#commons/http/responses.ts';
import { logger } from '#commons/logger.ts';
import { parseLegacySearchBody } from '#commons/search/legacy-query.ts';
import type { SearchRequest } from '#commons/search/query-types.ts';
import { parseSearchBody } from '#commons/search/query.ts';
import { type SearchHit, runSearch } from '#commons/search/run-search.ts';

export async function annotationSearchesRoute(request: ApiRequest): Promise<unknown> {
  return searchesResponse(request, parseSearchBody(request.body));
}

export async function inputSearchesRoute(request: ApiRequest): Promise<unknown> {
  return searchesResponse(request, parseSearchBody(request.body));
}

/** Runs a legacy search and returns `hits[{score, input}]` with the search's `id` and the query echoed. */
export async function legacySearchesRoute(request: ApiRequest): Promise<unknown> {
  const search = parseLegacySearchBody(request.body);
  const hits = await runLoggedSearch(request, search);
  return {
    status: okStatus(request.requestId),
    id: randomUUID().replaceAll('-', ''),
    hits: hits.map((hit) => ({ score: hit.score, input: toClarifaiInput(hit.input) })),
    query: search.echo,
  };
}

async function searchesResponse(request: ApiRequest, search: SearchRequest): Promise<unknown> {
  const hits = await runLoggedSearch(request, search);
  return {
    status: okStatus(request.requestId),
    searches: [{ id: randomUUID().replaceAll('-', ''), query: search.echo, created_at: new Date().toISOString() }],
    hits: hits.map((hit) => ({ score: hit.score, input: toClarifaiInput(hit.input), annotation: hit.annotation })),
  };
}

async function runLoggedSearch(request: ApiRequest, search: SearchRequest): Promise<SearchHit[]> {
  const hits = await runSearch(request.appId, search);
  logger.info('search finished', {
    rank: search.rank?.kind ?? 'none',
    filters: search.filters.length,
    page: search.page,
    perPage: search.perPage,
    hits: hits.length,
  });
  return hits;
}
