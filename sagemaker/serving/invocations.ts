/**
 * The body of `POST /invocations`: a Clarifai-style JSON request with base64 images, or the
 * bytes of one image file. Errors are `InvalidInputError`s with the codes the Percept API uses.
 */
import type { OutputConfig } from '#commons/clarifai/types.ts';
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { decodeInputImage, inputsOf } from '#commons/http/image-input.ts';
import { decodeImage, DEFAULT_IMAGE_LIMITS } from '#commons/image/decode.ts';
import type { DecodedImage } from '#commons/image/types.ts';

/** Same limit as `POST /v2/models/{model_id}/outputs`: Clarifai accepts at most 128 inputs per predict call. */
export const MAX_INVOCATION_INPUTS = 128;

export interface Invocation {
  images: DecodedImage[];
  outputConfig?: OutputConfig;
}

const RAW_IMAGE_TYPES = new Set(['application/octet-stream', 'application/x-image']);

/** Returns the media type of a Content-Type header, lower-cased and without parameters. */
export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch (error) {
    throw new InvalidInputError(
      'INVALID_JSON',
      `The request body is not valid JSON (${(error as Error).message}). Send a JSON object with Content-Type: application/json.`,
      StatusCode.BAD_REQUEST_FORMAT,
      error,
    );
  }
}

function outputConfigOf(body: unknown): OutputConfig | undefined {
  const config = (body as { output_config?: unknown } | null)?.output_config;
  if (config === undefined || config === null) {
    return undefined;
  }
  if (typeof config !== 'object' || Array.isArray(config)) {
    throw new InvalidInputError(
      'INVALID_OUTPUT_CONFIG',
      `output_config must be a JSON object such as {"max_concepts": 5, "min_value": 0.2}, got ${JSON.stringify(config)}.`,
      StatusCode.MODEL_INVALID_ARGUMENT,
    );
  }
  return config as OutputConfig;
}

/** Parses and decodes the images of one invocation. */
export async function parseInvocation(contentType: string | undefined, body: Buffer): Promise<Invocation> {
  const mediaType = mediaTypeOf(contentType);
  if (mediaType === 'application/json') {
    const json = parseJson(body);
    const outputConfig = outputConfigOf(json);
    const inputs = inputsOf(json, MAX_INVOCATION_INPUTS);
    const images: DecodedImage[] = [];
    for (const [index, input] of inputs.entries()) {
      images.push((await decodeInputImage(input, index, DEFAULT_IMAGE_LIMITS)).image);
    }
    return { images, ...(outputConfig === undefined ? {} : { outputConfig }) };
  }
  if (mediaType.startsWith('image/') || RAW_IMAGE_TYPES.has(mediaType)) {
    return { images: [await decodeImage(body, DEFAULT_IMAGE_LIMITS)] };
  }
  throw new InvalidInputError(
    'UNSUPPORTED_CONTENT_TYPE',
    `Content-Type ${JSON.stringify(mediaType)} is not accepted. Send application/json with ` +
      '{"inputs": [{"data": {"image": {"base64": "..."}}}]}, or the image file bytes as image/jpeg, image/png or application/octet-stream.',
    StatusCode.BAD_REQUEST_FORMAT,
  );
}
