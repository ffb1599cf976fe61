/**
 * A search request after parsing: at most one rank, any number of filters and a page. Both
 * the Clarifai annotation/input searches and the legacy `query.ands` form parse into it.
 */
import type { GeoArea } from '#commons/search/geo.ts';

/** A concept named in a search. `value` 1 requests a positive label or prediction, 0 a negative one. */
export interface SearchConcept {
  id?: string;
  name?: string;
  value: 0 | 1;
}

/** The rank that orders the hits. Its `field` names the request field it came from, for error messages. */
export type SearchRank =
  /** Visual similarity to an image sent in the request. */
  | { kind: 'image'; bytes: Buffer; field: string }
  /** Visual similarity to an input of the app. */
  | { kind: 'input'; inputId: string; field: string }
  /** The value of a concept that a model predicted on the input. */
  | { kind: 'concept'; concept: SearchConcept; field: string };

/** One condition of a filter. */
export type FilterCondition =
  /** A match when the input is labelled with at least one of these concepts, with the given value. */
  | { kind: 'labels'; anyOf: SearchConcept[] }
  /** A match when the input's metadata contains this JSON (see `containsJson`). */
  | { kind: 'input-metadata'; metadata: Record<string, unknown> }
  | { kind: 'input-status'; code: number }
  | { kind: 'input-id'; inputId: string }
  /** A match when the input's geo point lies in the area. An input without a geo point never matches. */
  | { kind: 'geo'; area: GeoArea }
  /** A match when at least one annotation of the input has this metadata and this status code, whichever are set. */
  | { kind: 'annotation'; metadata?: Record<string, unknown>; statusCode?: number };

/** A set of conditions that keeps an input when all of them hold, or, with `negate`, when not all of them hold. */
export interface SearchFilter {
  field: string;
  negate: boolean;
  conditions: FilterCondition[];
}

export interface SearchRequest {
  rank?: SearchRank;
  /** Filters that must all keep an input for it to be a hit. */
  filters: SearchFilter[];
  /** The 1-based page number. */
  page: number;
  perPage: number;
  /** The query as sent, minus image bytes, for the response's `searches` echo. */
  echo: unknown;
}
