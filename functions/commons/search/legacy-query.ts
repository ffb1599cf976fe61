/**
 * Parses the legacy search form that older Clarifai clients send to `POST /v2/searches`:
 * `{"query": {"ands": [...]}, "pagination": {...}}`. Each `ands` item is one term:
 * - `output.input.data.image` ranks by visual similarity to an image, `output.input.id` to an input;
 * - `output.data.concepts` ranks by a predicted concept;
 * - `input.data.concepts`, `input.data.metadata`, `input.data.geo` and `input.id` filter, and
 *   `negate: true` on such an item keeps the inputs it does not match.
 */
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
  setEntries,
  truncatedJson,
  unsupportedField,
  withoutImageBytes,
} from '#commons/search/request-fields.ts';
import { validateId } from '#commons/storage/ids.ts';

const LEGACY_EXAMPLE =
  '{"query": {"ands": [{"output": {"input": {"data": {"image": {"base64": "..."}}}}}, {"input": {"data": {"metadata": {"color": "red"}}}}]}}';

const LEGACY_TERMS =
  'output.input.data.image.base64, output.input.id, output.data.concepts, input.data.concepts, input.data.metadata, input.data.geo or input.id';

/** Parses a `POST /v2/searches` body; throws a 400 naming the first field that is missing, invalid or not supported. */
export function parseLegacySearchBody(body: unknown): SearchRequest {
  const query = (body as { query?: unknown } | null)?.query;
  if (isUnset(query)) {
    throw invalidQuery('SEARCH_QUERY_MISSING', `The request has no query. Send ${LEGACY_EXAMPLE}.`);
  }
  const ands = objectAt(query, 'query', '{"ands": [...]}').ands;
  if (isUnset(ands)) {
    throw invalidQuery('SEARCH_QUERY_MISSING', `query.ands is missing or empty. Send ${LEGACY_EXAMPLE}.`);
  }
  const { page, perPage } = readPagination((body as JsonObject).pagination, 'pagination');
  return { ...parseLegacyAnds(ands, 'query.ands'), page, perPage, echo: withoutImageBytes(query) };
}

/** Parses a legacy `ands` list into at most one rank and the filters. */
export function parseLegacyAnds(value: unknown, field: string): { rank?: SearchRank; filters: SearchFilter[] } {
  const ands = arrayAt(value, field, '[{"input": {"data": {"metadata": {"color": "red"}}}}]');
  const ranks: SearchRank[] = [];
  const filters: SearchFilter[] = [];

  for (const [index, raw] of ands.entries()) {
    const itemField = `${field}[${index}]`;
    const item = objectAt(raw, itemField, '{"input": {"data": {...}}}');
    const negate = item.negate ?? false;
    if (typeof negate !== 'boolean') {
      throw invalidQuery('INVALID_SEARCH_QUERY', `${itemField}.negate must be true or false, got ${truncatedJson(negate)}.`);
    }
    const conditions: FilterCondition[] = [];
    for (const [key, entry] of setEntries(item)) {
      if (key === 'output') {
        if (negate) {
          throw invalidQuery(
            'SEARCH_RANK_NOT_SUPPORTED',
            `${itemField} negates an output term; Percept cannot rank by dissimilarity. Negate input terms only.`,
          );
        }
        ranks.push(...outputRanks(objectAt(entry, `${itemField}.output`, '{"input": {"data": {"image": {...}}}}'), `${itemField}.output`));
      } else if (key === 'input') {
        conditions.push(...inputConditions(objectAt(entry, `${itemField}.input`, '{"data": {...}}'), `${itemField}.input`));
      } else if (key !== 'negate') {
        throw unsupportedField('SEARCH_FILTER_NOT_SUPPORTED', `${itemField}.${key}`, entry, LEGACY_TERMS);
      }
    }
    if (conditions.length > 0) {
      filters.push({ field: itemField, negate, conditions });
    } else if (!setEntries(item).some(([key]) => key === 'output')) {
      throw invalidQuery('SEARCH_FILTER_NOT_SUPPORTED', `${itemField} has no search term (got ${truncatedJson(item)}). Set one of ${LEGACY_TERMS}.`);
    }
  }

  if (ranks.length > 1) {
    throw invalidQuery(
      'SEARCH_RANK_NOT_SUPPORTED',
      `${field} has ${ranks.length} output terms (${ranks.map((rank) => rank.field).join(', ')}); Percept orders hits by one. Keep one output term and turn the others into input terms.`,
    );
  }
  return { ...(ranks.length === 0 ? {} : { rank: ranks[0] as SearchRank }), filters };
}

function outputRanks(output: JsonObject, field: string): SearchRank[] {
  const ranks: SearchRank[] = [];
  for (const [key, value] of setEntries(output)) {
    if (key === 'input') {
      const input = objectAt(value, `${field}.input`, '{"data": {"image": {"base64": "..."}}}');
      for (const [inputKey, inputValue] of setEntries(input)) {
        const inputField = `${field}.input.${inputKey}`;
        if (inputKey === 'id') {
          ranks.push({ kind: 'input', inputId: validateId(inputValue, inputField), field: inputField });
        } else if (inputKey === 'data') {
          for (const [dataKey, dataValue] of setEntries(objectAt(inputValue, inputField, '{"image": {"base64": "..."}}'))) {
            if (dataKey !== 'image') {
              throw unsupportedField('SEARCH_RANK_NOT_SUPPORTED', `${inputField}.${dataKey}`, dataValue, LEGACY_TERMS);
            }
            ranks.push({ kind: 'image', bytes: readRankImage(dataValue, `${inputField}.image`), field: `${inputField}.image` });
          }
        } else {
          throw unsupportedField('SEARCH_RANK_NOT_SUPPORTED', inputField, inputValue, LEGACY_TERMS);
        }
      }
    } else if (key === 'data') {
      for (const [dataKey, dataValue] of setEntries(objectAt(value, `${field}.data`, '{"concepts": [...]}'))) {
        const dataField = `${field}.data.${dataKey}`;
        if (dataKey !== 'concepts') {
          throw unsupportedField('SEARCH_RANK_NOT_SUPPORTED', dataField, dataValue, LEGACY_TERMS);
        }
        for (const concept of readConcepts(dataValue, dataField)) {
          ranks.push({ kind: 'concept', concept, field: dataField });
        }
      }
    } else {
      throw unsupportedField('SEARCH_RANK_NOT_SUPPORTED', `${field}.${key}`, value, LEGACY_TERMS);
    }
  }
  return ranks;
}

function inputConditions(input: JsonObject, field: string): FilterCondition[] {
  const conditions: FilterCondition[] = [];
  for (const [key, value] of setEntries(input)) {
    if (key === 'id') {
      conditions.push({ kind: 'input-id', inputId: validateId(value, `${field}.id`) });
    } else if (key === 'data') {
      for (const [dataKey, dataValue] of setEntries(objectAt(value, `${field}.data`, '{"metadata": {...}}'))) {
        const dataField = `${field}.data.${dataKey}`;
        if (dataKey === 'concepts') {
          conditions.push({ kind: 'labels', anyOf: readConcepts(dataValue, dataField) });
        } else if (dataKey === 'metadata') {
          conditions.push({ kind: 'input-metadata', metadata: readMetadata(dataValue, dataField) });
        } else if (dataKey === 'geo') {
          conditions.push({ kind: 'geo', area: readGeoArea(dataValue, dataField) });
        } else {
          const hint = dataKey === 'image' ? `output.input.data.image to search by image, or ${LEGACY_TERMS}` : LEGACY_TERMS;
          throw unsupportedField('SEARCH_FILTER_NOT_SUPPORTED', dataField, dataValue, hint);
        }
      }
    } else {
      throw unsupportedField('SEARCH_FILTER_NOT_SUPPORTED', `${field}.${key}`, value, LEGACY_TERMS);
    }
  }
  return conditions;
}
