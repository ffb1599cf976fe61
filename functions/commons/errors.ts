/**
 * Errors shared by every handler. Each error carries a stable string code that the
 * HTTP layer, the Step Functions `Catch` and the stored input status all report, plus
 * the Clarifai status code and HTTP status that a Clarifai client expects.
 */

/** Clarifai v2 status codes used by Percept (subset of Clarifai's published list). */
export const StatusCode = {
  SUCCESS: 10000,
  MIXED_STATUS: 10010,
  FAILURE: 10020,
  CONN_KEY_INVALID: 11008,
  CONN_KEY_NOT_FOUND: 11009,
  BAD_REQUEST_FORMAT: 11102,
  MODEL_TRAINED: 21100,
  MODEL_DOES_NOT_EXIST: 21200,
  MODEL_INVALID_ARGUMENT: 21202,
  ANNOTATION_SUCCESS: 24150,
  INPUT_DOWNLOAD_SUCCESS: 30000,
  INPUT_DOWNLOAD_PENDING: 30001,
  INPUT_DOWNLOAD_FAILED: 30002,
  INPUT_DOWNLOAD_IN_PROGRESS: 30003,
  INPUT_DUPLICATE: 30100,
  INPUT_UNSUPPORTED_FORMAT: 30101,
  INPUT_DOES_NOT_EXIST: 30102,
  INPUT_INVALID_REQUEST: 30104,
  INPUT_OVER_LIMIT: 30105,
  INPUT_INVALID_URL: 30106,
  INTERNAL_ERROR: 98004,
} as const;

export type StatusCodeValue = (typeof StatusCode)[keyof typeof StatusCode];

export interface PerceptErrorOptions {
  /** Stable, upper-case error code, e.g. `IMAGE_TRUNCATED`. Never reworded once released. */
  code: string;
  /** Clarifai status code returned in `status.code`. */
  statusCode: StatusCodeValue;
  /** HTTP status of the response. */
  httpStatus: number;
  cause?: unknown;
}

/** Base class of every error that Percept reports to a caller. */
export class PerceptError extends Error {
  public readonly code: string;
  public readonly statusCode: StatusCodeValue;
  public readonly httpStatus: number;

  public constructor(message: string, options: PerceptErrorOptions) {
    super(message, { cause: options.cause });
    this.name = 'PerceptError';
    this.code = options.code;
    this.statusCode = options.statusCode;
    this.httpStatus = options.httpStatus;
  }
}

/** A request or input that the caller must fix: always HTTP 400. */
export class InvalidInputError extends PerceptError {
  public constructor(
    code: string,
    message: string,
    statusCode: StatusCodeValue = StatusCode.INPUT_INVALID_REQUEST,
    cause?: unknown,
  ) {
    super(message, { code, statusCode, httpStatus: 400, cause });
    this.name = 'InvalidInputError';
  }
}

/** A model, input or other resource that does not exist: HTTP 404. */
export class NotFoundError extends PerceptError {
  public constructor(code: string, message: string, statusCode: StatusCodeValue) {
    super(message, { code, statusCode, httpStatus: 404 });
    this.name = 'NotFoundError';
  }
}

/** A missing or wrong API key: HTTP 401. */
export class AuthenticationError extends PerceptError {
  public constructor(code: string, message: string) {
    super(message, { code, statusCode: StatusCode.CONN_KEY_INVALID, httpStatus: 401 });
    this.name = 'AuthenticationError';
  }
}

/** Returns the stable code of any thrown value; unknown errors map to `INTERNAL_ERROR`. */
export function errorCodeOf(error: unknown): string {
  return error instanceof PerceptError ? error.code : 'INTERNAL_ERROR';
}
