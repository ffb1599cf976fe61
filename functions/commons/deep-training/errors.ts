/** Errors of deep training and serving that are not the caller's fault. */
import { PerceptError, StatusCode } from '#commons/errors.ts';

/**
 * A model that cannot serve or train right now (endpoint still deploying, scaled to zero,
 * training unavailable): HTTP 503, so clients retry later.
 */
export class ServiceUnavailableError extends PerceptError {
  public constructor(code: string, message: string, cause?: unknown) {
    super(message, { code, statusCode: StatusCode.FAILURE, httpStatus: 503, cause });
    this.name = 'ServiceUnavailableError';
  }
}

/** A serving container that failed on a request it accepted: HTTP 502. */
export class ModelServerError extends PerceptError {
  public constructor(code: string, message: string, cause?: unknown) {
    super(message, { code, statusCode: StatusCode.FAILURE, httpStatus: 502, cause });
    this.name = 'ModelServerError';
  }
}
