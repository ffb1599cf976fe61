/**
 * Parses the body of `POST /v2/annotations/searches` and `POST /v2/inputs/searches`:
 * `{"searches": [{"query": {"ranks": [...], "filters": [...]}}], "pagination": {...}}`.
 * A rank or filter contains an `annotation` or an `input` object, as in Clarifai's `Rank` and
 * `Filter` messages. A query in the legacy `ands` form is parsed by `legacy-query.ts`.
 */
import { parseLegacyAnds } from '#commons/search/legacy-query.ts';
import type { FilterCondition, SearchFilter, SearchRank, SearchRequest } from '#commons/search/query-types.ts';
import {
  type JsonObject,
  arrayAt,
  invalidQuery,
  isUnset,
  objectAt,
  readConcepts,
  readGeoArea,
  readMetadata,
  readPagination,
  readRankImage,
  readStatusCode,
  setEntries,
  truncatedJson,
  unsupportedField,
  withoutImageBytes,
} from '#commons/search/request-fields.ts';
import { validateId } from '#commons/storage/ids.ts';

const BODY_EXAMPLE =
  '{"searches": [{"query": {"ranks": [{"annotation": {"data": {"image": {"base64": "..."}}}}], "filters": [{"input": {"data": {"metadata": {"color": "red"}}}}]}}]}';

const RANKS_SUPPORTED =
  'annotation.data.image.base64, annotation.input_id, annotation.data.concepts, input.data.image.base64 or input.id';

const FILTERS_SUPPORTED =
  'annotation.data.concepts, annotation.data.metadata, annotation.data.geo, annotation.status, annotation.input_id, input.data.concepts, input.data.metadata, input.data.geo, input.status or input.id';

/** Parses a search body; throws a 400 naming the first field that is missing, invalid or not supported. */
export function parseSearchBody(body: unknown): SearchRequest {
  const searches = (body as { searches?: unknown } | null)?.searches;
  if (!Array.isArray(searches) || searches.length === 0) {
    throw invalidQuery(
      'SEARCH_QUERY_MISSING',
      `The request has no searches (got ${truncatedJson(searches)}). Send ${BODY_EXAMPLE}.`,
    );
  }
  if (searches.length > 1) {
    throw invalidQuery(
      'TOO_MANY_SEARCHES',
      `The request has ${searches.length} searches; one request runs one search. Send each search in its own request.`,
    );
  }
  const search = objectAt(searches[0], 'searches[0]', '{"query": {"ranks": [...], "filters": [...]}}');
  // An empty query is valid: it has no rank and no filter, so every input is a hit.
  if (search.query === undefined || search.query === null) {
    throw invalidQuery('SEARCH_QUERY_MISSING', `searches[0].query is missing. Send ${BODY_EXAMPLE}.`);
  }
  const query = objectAt(search.query, 'searches[0].query', '{"ranks": [...], "filters": [...]}');
  const { page, perPage } = readPagination((body as JsonObject).pagination, 'pagination');
  const echo = withoutImageBytes(query);

  if (!isUnset(query.ands)) {
    if (!isUnset(query.ranks) || !isUnset(query.filters)) {
      throw invalidQuery(
        'INVALID_SEARCH_QUERY',
        'searches[0].query has both ands and ranks or filters. Send either the ranks and filters, or the legacy ands list.',
      );
    }
    return { ...parseLegacyAnds(query.ands, 'searches[0].query.ands'), page, perPage, echo };
  }
  for (const [key, value] of setEntries(query)) {
    if (key !== 'ranks' && key !== 'filters') {
      throw unsupportedField('SEARCH_QUERY_NOT_SUPPORTED', `searches[0].query.${key}`, value, 'ranks and filters');
    }
  }

  const ranks = isUnset(query.ranks) ? [] : arrayAt(query.ranks, 'searches[0].query.ranks', '[{"annotation": {...}}]');
  if (ranks.length > 1) {
    throw invalidQuery(
      'SEARCH_RANK_NOT_SUPPORTED',
      `searches[0].query.ranks has ${ranks.length} ranks; Percept orders hits by one rank. Keep one rank and turn the others into filters.`,
    );
  }
  const filters = isUnset(query.filters) ? [] : arrayAt(query.filters, 'searches[0].query.filters', '[{"input": {...}}]');
  const rank = ranks.length === 0 ? undefined : parseRank(ranks[0], 'searches[0].query.ranks[0]');
  return {
    ...(rank === undefined ? {} : { rank }),
    filters: filters.map((filter, index) => parseFilter(filter, `searches[0].query.filters[${index}]`)),
    page,
    perPage,
    echo,
  };
}

function parseRank(raw: unknown, field: string): SearchRank {
  const rank = objectAt(raw, field, '{"annotation": {"data": {"image": {"base64": "..."}}}}');
  if (rank.negate === true) {
    throw invalidQuery(
      'SEARCH_RANK_NOT_SUPPORTED',
      `${field}.negate is true; Percept cannot rank by dissimilarity. Remove negate, or use a negated filter to exclude inputs.`,
    );
  }
  const criteria: SearchRank[] = [];
  for (const [key, value] of setEntries(rank)) {
    if (key === 'annotation' || key === 'input') {
      criteria.push(...rankCriteria(objectAt(value, `${field}.${key}`, '{"data": {...}}'), `${field}.${key}`, key));
    } else if (key !== 'negate') {
      throw unsupportedField('SEARCH_RANK_NOT_SUPPORTED', `${field}.${key}`, value, RANKS_SUPPORTED);
    }
  }
  if (criteria.length === 0) {
    throw invalidQuery('SEARCH_RANK_NOT_SUPPORTED', `${field} has nothing to rank by (got ${truncatedJson(rank)}). Set one of ${RANKS_SUPPORTED}.`);
  }
  if (criteria.length > 1) {
    throw invalidQuery(
      'SEARCH_RANK_NOT_SUPPORTED',
      `${field} ranks by ${criteria.map((criterion) => criterion.field).join(' and ')}; a rank takes one of them. Keep one and turn the others into filters.`,
    );
  }
  return criteria[0] as SearchRank;
}

// The criteria of a rank's `annotation` (kind 'annotation') or `input` (kind 'input').
function rankCriteria(object: JsonObject, field: string, kind: 'annotation' | 'input'): SearchRank[] {
  const criteria: SearchRank[] = [];
  const idKey = kind === 'annotation' ? 'input_id' : 'id';
  for (const [key, value] of setEntries(object)) {
    if (key === idKey) {
      criteria.push({ kind: 'input', inputId: validateId(value, `${field}.${key}`), field: `${field}.${key}` });
    } else if (key === 'data') {
      for (const [dataKey, dataValue] of setEntries(objectAt(value, `${field}.data`, '{"image": {"base64": "..."}}'))) {
        const dataField = `${field}.data.${dataKey}`;
        if (dataKey === 'image') {
          criteria.push({ kind: 'image', bytes: readRankImage(dataValue, dataField), field: dataField });
        } else if (dataKey === 'concepts') {
          const concepts = readConcepts(dataValue, dataField);
          if (concepts.length > 1) {
            throw invalidQuery(
              'SEARCH_RANK_NOT_SUPPORTED',
              `${dataField} lists ${concepts.length} concepts; a rank takes one concept. Rank by one and filter by the others.`,
            );
          }
          criteria.push({ kind: 'concept', concept: concepts[0] as (typeof concepts)[0], field: dataField });
        } else {
          throw unsupportedField('SEARCH_RANK_NOT_SUPPORTED', dataField, dataValue, RANKS_SUPPORTED);
        }
      }
    } else {
      throw unsupportedField('SEARCH_RANK_NOT_SUPPORTED', `${field}.${key}`, value, RANKS_SUPPORTED);
    }
  }
  return criteria;
}

function parseFilter(raw: unknown, field: string): SearchFilter {
  const filter = objectAt(raw, field, '{"input": {"data": {"metadata": {"color": "red"}}}}');
  const negate = filter.negate ?? false;
  if (typeof negate !== 'boolean') {
    throw invalidQuery('INVALID_SEARCH_QUERY', `${field}.negate must be true or false, got ${truncatedJson(negate)}.`);
  }
  const conditions: FilterCondition[] = [];
  for (const [key, value] of setEntries(filter)) {
    if (key === 'annotation' || key === 'input') {
      conditions.push(...filterConditions(objectAt(value, `${field}.${key}`, '{"data": {...}}'), `${field}.${key}`, key));
    } else if (key !== 'negate') {
      throw unsupportedField('SEARCH_FILTER_NOT_SUPPORTED', `${field}.${key}`, value, FILTERS_SUPPORTED);
    }
  }
  if (conditions.length === 0) {
    throw invalidQuery('SEARCH_FILTER_NOT_SUPPORTED', `${field} has no condition (got ${truncatedJson(filter)}). Set one of ${FILTERS_SUPPORTED}.`);
  }
  return { field, negate, conditions };
}

/**
 * Returns the conditions of a filter's `annotation` or `input`. Concepts, geo and metadata of an
 * annotation filter are the input's own (its labels, geo point and metadata), because
 * Clarifai stores those on the input-level annotation. An annotation's metadata and status
 * form one condition, so that both must hold for the same annotation.
 */
function filterConditions(object: JsonObject, field: string, kind: 'annotation' | 'input'): FilterCondition[] {
  const conditions: FilterCondition[] = [];
  let annotation: { metadata?: Record<string, unknown>; statusCode?: number } | undefined;
  const idKey = kind === 'annotation' ? 'input_id' : 'id';
  for (const [key, value] of setEntries(object)) {
    if (key === idKey) {
      conditions.push({ kind: 'input-id', inputId: validateId(value, `${field}.${key}`) });
    } else if (key === 'status') {
      const code = readStatusCode(value, `${field}.status`, kind === 'annotation' ? 24150 : 30000);
      if (kind === 'annotation') {
        annotation = { ...annotation, statusCode: code };
      } else {
        conditions.push({ kind: 'input-status', code });
      }
    } else if (key === 'data') {
      for (const [dataKey, dataValue] of setEntries(objectAt(value, `${field}.data`, '{"metadata": {...}}'))) {
        const dataField = `${field}.data.${dataKey}`;
        if (dataKey === 'concepts') {
          conditions.push({ kind: 'labels', anyOf: readConcepts(dataValue, dataField) });
        } else if (dataKey === 'metadata') {
          const metadata = readMetadata(dataValue, dataField);
          if (kind === 'annotation') {
            annotation = { ...annotation, metadata };
          } else {
            conditions.push({ kind: 'input-metadata', metadata });
          }
        } else if (dataKey === 'geo') {
          conditions.push({ kind: 'geo', area: readGeoArea(dataValue, dataField) });
        } else {
          const hint = dataKey === 'image' ? `a rank (searches[0].query.ranks) to search by image, or ${FILTERS_SUPPORTED}` : FILTERS_SUPPORTED;
          throw unsupportedField('SEARCH_FILTER_NOT_SUPPORTED', dataField, dataValue, hint);
        }
      }
    } else {
      throw unsupportedField('SEARCH_FILTER_NOT_SUPPORTED', `${field}.${key}`, value, FILTERS_SUPPORTED);
    }
  }
  if (annotation !== undefined) {
    conditions.push({ kind: 'annotation', ...annotation });
  }
  return conditions;
}
