/**
 * The parts of an API Gateway HTTP API (payload 2.0) event that route actions use.
 */
import type { APIGatewayProxyEventV2WithLambdaAuthorizer } from 'aws-lambda';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';

/** The authorizer's verdict, passed to the API function in `requestContext.authorizer.lambda`. */
export interface AuthorizerContext {
  /** Set when the key is valid. */
  app_id?: string;
  /** Set when the key is missing or wrong: the API function returns 401 with these. */
  error_code?: string;
  error_message?: string;
}

export type ApiEvent = APIGatewayProxyEventV2WithLambdaAuthorizer<AuthorizerContext>;

export interface ApiRequest {
  appId: string;
  requestId: string;
  pathParameters: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
}

/** Parses the JSON body; an empty body is `{}`. Malformed JSON is `INVALID_JSON`. */
export function parseJsonBody(event: ApiEvent): unknown {
  if (event.body === undefined || event.body === '') {
    return {};
  }
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidInputError(
      'INVALID_JSON',
      `The request body is not valid JSON (${(error as Error).message}). Send a JSON object with Content-Type: application/json.`,
      StatusCode.BAD_REQUEST_FORMAT,
      error,
    );
  }
}

const DEFAULT_PER_PAGE = 128;
const MAX_PER_PAGE = 1000;

/** Reads Clarifai's `page` (from 1) and `per_page` query parameters. */
export function parsePaging(query: Record<string, string>): { page: number; perPage: number } {
  const page = parsePositiveInteger(query.page, 'page', 1, Number.MAX_SAFE_INTEGER);
  const perPage = parsePositiveInteger(query.per_page, 'per_page', DEFAULT_PER_PAGE, MAX_PER_PAGE);
  return { page, perPage };
}

function parsePositiveInteger(value: string | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined || value === '') {
    return fallback;
  }
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > max) {
    throw new InvalidInputError(
      'INVALID_PAGING',
      `Query parameter ${name}=${JSON.stringify(value)} is invalid. Use a whole number from 1 to ${max}.`,
      StatusCode.BAD_REQUEST_FORMAT,
    );
  }
  return number;
}
