/**
 * Reads the parts of Clarifai input objects (`{ id, data: { image: { base64 | url }, metadata } }`)
 * that the routes taking images share.
 */
import { randomUUID } from 'node:crypto';
import { InvalidInputError, PerceptError, StatusCode } from '#commons/errors.ts';
import { decodeImage, parseBase64Image } from '#commons/image/decode.ts';
import type { DecodedImage, ImageLimits } from '#commons/image/types.ts';
import { validateId } from '#commons/storage/ids.ts';

/** Returns the image bytes of `inputs[index]`, rejecting URLs and missing images. */
export function imageBytesOf(input: unknown, index: number): Buffer {
  const field = `inputs[${index}].data.image`;
  const image = (input as { data?: { image?: { base64?: unknown; url?: unknown } } } | null)?.data?.image;

  if (image?.url !== undefined && image.url !== '') {
    throw new InvalidInputError(
      'IMAGE_URL_NOT_SUPPORTED',
      `${field}.url ${JSON.stringify(image.url)} was not fetched: Percept does not download image URLs yet. Send the image bytes as ${field}.base64 instead.`,
      StatusCode.INPUT_INVALID_URL,
    );
  }
  if (image?.base64 === undefined) {
    throw new InvalidInputError(
      'IMAGE_MISSING',
      `${field}.base64 is missing. Send each image as base64 in ${field}.base64.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  return parseBase64Image(image.base64, `${field}.base64`);
}

const IMAGE_INPUTS_EXAMPLE = '{"inputs": [{"data": {"image": {"base64": "..."}}}]}';

/**
 * Returns `body.inputs` as an array of 1 to `max` entries, or throws naming the problem.
 * `example` is the request body that the error message suggests.
 */
export function inputsOf(body: unknown, max: number, example = IMAGE_INPUTS_EXAMPLE): unknown[] {
  const inputs = (body as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new InvalidInputError(
      'INPUTS_MISSING',
      `The request has no inputs (got ${JSON.stringify(inputs)}). Send ${example}.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  if (inputs.length > max) {
    throw new InvalidInputError(
      'TOO_MANY_INPUTS',
      `The request has ${inputs.length} inputs; at most ${max} are accepted per request. Split it into several requests.`,
      StatusCode.INPUT_OVER_LIMIT,
    );
  }
  return inputs;
}

/** Returns `inputs[index].id`, checked, or a new random id when none is given. */
export function inputIdOf(input: unknown, index: number): string {
  const givenId = (input as { id?: unknown } | null)?.id;
  if (givenId === undefined || givenId === '') {
    return randomUUID().replaceAll('-', '');
  }
  return validateId(givenId, `inputs[${index}].id`);
}

/** Returns `inputs[index].data.metadata`, which must be a JSON object when given. */
export function metadataOf(input: unknown, index: number): Record<string, unknown> | undefined {
  const metadata = (input as { data?: { metadata?: unknown } } | null)?.data?.metadata;
  if (metadata !== undefined && (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata))) {
    throw new InvalidInputError(
      'INVALID_METADATA',
      `inputs[${index}].data.metadata must be a JSON object, got ${JSON.stringify(metadata)}.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  return metadata as Record<string, unknown> | undefined;
}

/** Reads and decodes the image of `inputs[index]`; a decoding error names the input. */
export async function decodeInputImage(
  input: unknown,
  index: number,
  limits: ImageLimits,
): Promise<{ bytes: Buffer; image: DecodedImage }> {
  const bytes = imageBytesOf(input, index);
  try {
    return { bytes, image: await decodeImage(bytes, limits) };
  } catch (error) {
    if (error instanceof PerceptError) {
      throw new InvalidInputError(error.code, `inputs[${index}]: ${error.message}`, error.statusCode, error);
    }
    throw error;
  }
}
