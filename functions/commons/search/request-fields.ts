/**
 * Readers for the parts of a search request that ranks and filters share: concepts,
 * metadata, geo areas, status codes, images and paging. Each one throws an
 * `InvalidInputError` (HTTP 400) that names the field, the value received and what to send.
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { parseBase64Image } from '#commons/image/decode.ts';
import { GEO_LIMIT_UNITS, type GeoArea, type GeoLimitType, geoBox, geoCircle } from '#commons/search/geo.ts';
import type { SearchConcept } from '#commons/search/query-types.ts';
import type { GeoPoint } from '#commons/storage/inputs.ts';

export type JsonObject = Record<string, unknown>;

/** Clarifai's default and maximum page sizes of list and search responses. */
export const DEFAULT_SEARCH_PER_PAGE = 128;
export const MAX_SEARCH_PER_PAGE = 1000;

/**
 * The deepest hit a search returns (`page` × `per_page`). Every page re-runs the search for
 * all hits before it, so deep pages cost as much as one large page.
 */
export const MAX_SEARCH_DEPTH = 10_000;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Returns whether a field counts as not sent. Clients built from Clarifai's protobuf
 * definitions send unset fields as `null`, `""`, `false`, `[]` or `{}`.
 */
export function isUnset(value: unknown): boolean {
  return (
    value === undefined ||
    value === null ||
    value === '' ||
    value === false ||
    (Array.isArray(value) && value.length === 0) ||
    (isObject(value) && Object.keys(value).length === 0)
  );
}

/** Returns the entries of `object` that are set (see `isUnset`). */
export function setEntries(object: JsonObject): Array<[string, unknown]> {
  return Object.entries(object).filter(([, value]) => !isUnset(value));
}

export function invalidQuery(code: string, message: string): InvalidInputError {
  return new InvalidInputError(code, message, StatusCode.BAD_REQUEST_FORMAT);
}

/** Returns `value` as an object, or throws `INVALID_SEARCH_QUERY` naming the field. */
export function objectAt(value: unknown, field: string, example: string): JsonObject {
  if (!isObject(value)) {
    throw invalidQuery('INVALID_SEARCH_QUERY', `${field} must be an object, got ${JSON.stringify(value)}. Send e.g. ${example}.`);
  }
  return value;
}

/** Returns `value` as an array, or throws `INVALID_SEARCH_QUERY` naming the field. */
export function arrayAt(value: unknown, field: string, example: string): unknown[] {
  if (!Array.isArray(value)) {
    throw invalidQuery('INVALID_SEARCH_QUERY', `${field} must be an array, got ${JSON.stringify(value)}. Send e.g. ${example}.`);
  }
  return value;
}

/** Throws `code` for a field that this kind of rank or filter does not take. */
export function unsupportedField(code: string, field: string, value: unknown, supported: string): InvalidInputError {
  return invalidQuery(
    code,
    `${field} (${truncatedJson(value)}) is not supported here. Use ${supported}.`,
  );
}

/** Returns JSON text of `value` cut to 200 characters, so that an error never echoes a whole image. */
export function truncatedJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

const CONCEPTS_EXAMPLE = '[{"id": "cat", "value": 1}]';

/** Reads `concepts`: a non-empty array of `{id or name, value}` with value 1 (the default) or 0. */
export function readConcepts(value: unknown, field: string): SearchConcept[] {
  const concepts = arrayAt(value, field, CONCEPTS_EXAMPLE);
  return concepts.map((raw, index) => {
    const conceptField = `${field}[${index}]`;
    const concept = objectAt(raw, conceptField, '{"id": "cat", "value": 1}');
    const id = isUnset(concept.id) ? undefined : concept.id;
    const name = isUnset(concept.name) ? undefined : concept.name;
    if ((id !== undefined && typeof id !== 'string') || (name !== undefined && typeof name !== 'string')) {
      throw invalidQuery(
        'INVALID_SEARCH_CONCEPT',
        `${conceptField}.id and .name must be strings, got ${truncatedJson(concept)}. Send e.g. {"id": "cat", "value": 1}.`,
      );
    }
    if (id === undefined && name === undefined) {
      throw invalidQuery(
        'INVALID_SEARCH_CONCEPT',
        `${conceptField} has neither an id nor a name (got ${truncatedJson(concept)}). Send e.g. {"id": "cat", "value": 1}.`,
      );
    }
    // Protobuf clients leave out a value of 0, so for them a missing value cannot be
    // distinguished from 0. Percept reads a missing value as 1, as Clarifai's examples assume.
    const rawValue = concept.value ?? 1;
    if (rawValue !== 0 && rawValue !== 1) {
      throw invalidQuery(
        'INVALID_SEARCH_CONCEPT',
        `${conceptField}.value ${truncatedJson(rawValue)} is invalid. Use 1 for inputs with the concept or 0 for inputs labelled without it.`,
      );
    }
    return { ...(id === undefined ? {} : { id }), ...(name === undefined ? {} : { name }), value: rawValue };
  });
}

/** Reads a metadata filter: a JSON object that the input's metadata must contain. */
export function readMetadata(value: unknown, field: string): JsonObject {
  if (!isObject(value)) {
    throw invalidQuery(
      'INVALID_METADATA_FILTER',
      `${field} must be a JSON object, got ${truncatedJson(value)}. Send e.g. {"color": "red", "sizes": ["M"]}.`,
    );
  }
  return value;
}

/** Reads `status: {code}`: a whole-number Clarifai status code. */
export function readStatusCode(value: unknown, field: string, example: number): number {
  const code = objectAt(value, field, `{"code": ${example}}`).code;
  if (typeof code !== 'number' || !Number.isInteger(code) || code <= 0) {
    throw invalidQuery(
      'INVALID_STATUS_FILTER',
      `${field}.code must be a Clarifai status code (a positive whole number), got ${truncatedJson(code)}. Send e.g. {"code": ${example}}.`,
    );
  }
  return code;
}

const GEO_EXAMPLE =
  '{"geo_point": {"longitude": 13.4, "latitude": 52.5}, "geo_limit": {"type": "withinKilometers", "value": 50}} or {"geo_box": [{"geo_point": {...}}, {"geo_point": {...}}]}';

function invalidGeo(message: string): InvalidInputError {
  return invalidQuery('INVALID_GEO_FILTER', message);
}

/** Reads a geo point: longitude from -180 to 180 and latitude from -90 to 90 degrees. */
export function readGeoPoint(value: unknown, field: string): GeoPoint {
  if (!isObject(value)) {
    throw invalidGeo(`${field} must be {"longitude": ..., "latitude": ...}, got ${truncatedJson(value)}.`);
  }
  const ranges = { longitude: 180, latitude: 90 } as const;
  for (const [name, limit] of Object.entries(ranges)) {
    const coordinate = value[name];
    if (typeof coordinate !== 'number' || !Number.isFinite(coordinate) || Math.abs(coordinate) > limit) {
      throw invalidGeo(`${field}.${name} ${truncatedJson(coordinate)} is invalid. Use a number of degrees from -${limit} to ${limit}.`);
    }
  }
  return { longitude: value.longitude as number, latitude: value.latitude as number };
}

/** Reads `geo`: a point with a `geo_limit` radius, or a `geo_box` of two points. */
export function readGeoArea(value: unknown, field: string): GeoArea {
  const geo = objectAt(value, field, GEO_EXAMPLE);
  const hasPoint = !isUnset(geo.geo_point);
  const hasBox = !isUnset(geo.geo_box);
  if (hasPoint === hasBox) {
    throw invalidGeo(
      `${field} must contain either geo_point with geo_limit or geo_box, got ${truncatedJson(geo)}. Send ${GEO_EXAMPLE}.`,
    );
  }

  if (hasBox) {
    const corners = geo.geo_box;
    if (!Array.isArray(corners) || corners.length !== 2) {
      throw invalidGeo(
        `${field}.geo_box must list exactly two corners, got ${truncatedJson(corners)}. Send [{"geo_point": {"longitude": 13.0, "latitude": 52.3}}, {"geo_point": {"longitude": 13.8, "latitude": 52.7}}].`,
      );
    }
    const [a, b] = corners.map((corner, index) =>
      readGeoPoint((corner as { geo_point?: unknown } | null)?.geo_point, `${field}.geo_box[${index}].geo_point`),
    ) as [GeoPoint, GeoPoint];
    return geoBox(a, b);
  }

  const center = readGeoPoint(geo.geo_point, `${field}.geo_point`);
  const limit = geo.geo_limit;
  const units = Object.keys(GEO_LIMIT_UNITS).join(', ');
  if (!isObject(limit)) {
    throw invalidGeo(
      `${field}.geo_limit is missing (got ${truncatedJson(limit)}). A geo_point filter needs a radius: send {"type": "withinKilometers", "value": 50}, with type one of ${units}.`,
    );
  }
  if (typeof limit.type !== 'string' || !Object.hasOwn(GEO_LIMIT_UNITS, limit.type)) {
    throw invalidGeo(`${field}.geo_limit.type ${truncatedJson(limit.type)} is not a unit Percept knows. Use one of ${units}.`);
  }
  if (typeof limit.value !== 'number' || !Number.isFinite(limit.value) || limit.value <= 0) {
    throw invalidGeo(`${field}.geo_limit.value ${truncatedJson(limit.value)} is invalid. Use a radius above 0 in the unit of geo_limit.type.`);
  }
  return geoCircle(center, limit.type as GeoLimitType, limit.value);
}

/**
 * Reads the bytes of `image` in a rank: `base64` only, because Percept does not download
 * image URLs. Throws `IMAGE_URL_NOT_SUPPORTED` for a URL and `INVALID_BASE64` for bad base64.
 */
export function readRankImage(value: unknown, field: string): Buffer {
  const image = objectAt(value, field, '{"base64": "..."}');
  if (!isUnset(image.url)) {
    throw new InvalidInputError(
      'IMAGE_URL_NOT_SUPPORTED',
      `${field}.url ${truncatedJson(image.url)} was not fetched: Percept does not download image URLs. Send the image bytes as ${field}.base64, or rank by an input of the app with its id.`,
      StatusCode.INPUT_INVALID_URL,
    );
  }
  if (isUnset(image.base64)) {
    throw invalidQuery('IMAGE_MISSING', `${field}.base64 is missing. Send the image to search with as base64 in ${field}.base64.`);
  }
  return parseBase64Image(image.base64, `${field}.base64`);
}

/** Reads `pagination: {page, per_page}` of a search body; both are optional. */
export function readPagination(value: unknown, field: string): { page: number; perPage: number } {
  if (isUnset(value)) {
    return { page: 1, perPage: DEFAULT_SEARCH_PER_PAGE };
  }
  const pagination = objectAt(value, field, '{"page": 1, "per_page": 20}');
  const page = readPositiveInteger(pagination.page, `${field}.page`, 1, MAX_SEARCH_DEPTH);
  const perPage = readPositiveInteger(pagination.per_page, `${field}.per_page`, DEFAULT_SEARCH_PER_PAGE, MAX_SEARCH_PER_PAGE);
  if (page * perPage > MAX_SEARCH_DEPTH) {
    throw invalidQuery(
      'INVALID_PAGING',
      `${field} asks for hits up to number ${page * perPage} (page ${page} × per_page ${perPage}); searches return at most the first ${MAX_SEARCH_DEPTH} hits. Narrow the search with filters, or ask for an earlier page.`,
    );
  }
  return { page, perPage };
}

function readPositiveInteger(value: unknown, field: string, fallback: number, max: number): number {
  if (value === undefined || value === null || value === 0) {
    return fallback;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw invalidQuery('INVALID_PAGING', `${field} ${truncatedJson(value)} is invalid. Use a whole number from 1 to ${max}.`);
  }
  return value;
}

/** Returns a copy of `value` without `base64` fields, so that echoing a query never returns an image. */
export function withoutImageBytes(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(withoutImageBytes);
  }
  if (!isObject(value)) {
    return value;
  }
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => key !== 'base64')
      .map(([key, entry]) => [key, withoutImageBytes(entry)]),
  );
}
