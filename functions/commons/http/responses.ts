/**
 * Clarifai-shaped HTTP responses: every body has a `status` object, `code` 10000 on success.
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { Status } from '#commons/clarifai/types.ts';
import { PerceptError, StatusCode } from '#commons/errors.ts';

export function okStatus(requestId: string): Status {
  return { code: StatusCode.SUCCESS, description: 'Ok', req_id: requestId };
}

export function jsonResponse(httpStatus: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: httpStatus,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
}

/** Turns any error into a Clarifai error response; unexpected errors hide their details. */
export function errorResponse(error: unknown, requestId: string): APIGatewayProxyStructuredResultV2 {
  if (error instanceof PerceptError) {
    return jsonResponse(error.httpStatus, {
      status: {
        code: error.statusCode,
        description: descriptionOf(error.httpStatus),
        details: error.message,
        error_code: error.code,
        req_id: requestId,
      } satisfies Status,
    });
  }
  return jsonResponse(500, {
    status: {
      code: StatusCode.INTERNAL_ERROR,
      description: 'Internal error',
      details: `The server failed to handle the request. Retry later; if it persists, report request id ${requestId}.`,
      error_code: 'INTERNAL_ERROR',
      req_id: requestId,
    } satisfies Status,
  });
}

function descriptionOf(httpStatus: number): string {
  switch (httpStatus) {
    case 400:
      return 'Invalid request';
    case 401:
      return 'Invalid API key or Invalid API key/application pair';
    case 404:
      return 'Resource does not exist';
    default:
      return 'Failure';
  }
}
