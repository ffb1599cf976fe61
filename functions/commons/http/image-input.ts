/**
 * Reads the image of one Clarifai input object (`{ data: { image: { base64 | url } } }`).
 */
import { InvalidInputError, StatusCode } from '#commons/errors.ts';
import { parseBase64Image } from '#commons/image/decode.ts';

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

/** Returns `body.inputs` as an array of 1 to `max` entries, or throws naming the problem. */
export function inputsOf(body: unknown, max: number): unknown[] {
  const inputs = (body as { inputs?: unknown } | null)?.inputs;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new InvalidInputError(
      'INPUTS_MISSING',
      'The request has no inputs. Send {"inputs": [{"data": {"image": {"base64": "..."}}}]}.',
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
