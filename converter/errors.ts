/**
 * Errors of the TF.js graph model to ONNX converter. Each carries a stable code, so the model
 * build step and its tests can tell a missing shard from an unsupported op.
 */
import { PerceptError, StatusCode } from '#commons/errors.ts';

/** Stable codes of `TfjsConversionError`. */
export type TfjsConversionErrorCode =
  /** An op, an attribute value or an input form that the converter does not translate. */
  | 'TFJS_OP_UNSUPPORTED'
  /** model.json cannot be read or is not a TF.js graph model. */
  | 'TFJS_MODEL_INVALID'
  /** A weight shard listed in model.json is missing or too short. */
  | 'TFJS_WEIGHTS_MISSING'
  /** A node named in `outputs` or `cutAt` does not exist in the graph. */
  | 'TFJS_NODE_NOT_FOUND'
  /** A conversion option that is invalid or does not fit the model. */
  | 'TFJS_OPTION_INVALID';

/** A TF.js graph model that cannot be converted. Raised at build time, so HTTP 500. */
export class TfjsConversionError extends PerceptError {
  public constructor(code: TfjsConversionErrorCode, message: string, cause?: unknown) {
    super(message, { code, statusCode: StatusCode.INTERNAL_ERROR, httpStatus: 500, cause });
    this.name = 'TfjsConversionError';
  }
}
