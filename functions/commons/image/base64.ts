/**
 * Strict base64 parsing for image bytes sent inline in a request. `Buffer.from(text, 'base64')`
 * skips characters outside the alphabet without an error, so a damaged string would reach the
 * image decoder as garbage. This parser reports the first bad character instead.
 */
import { InvalidInputError } from '#commons/errors.ts';

const DEFAULT_FIELD = 'data.image.base64';

/** A `data:` URL header such as `data:image/png;base64,`, after optional leading whitespace. */
const DATA_URL_HEADER = /^[\t\n\f\r ]*data:([^,]{0,200}),/i;

const WHITESPACE = /[\t\n\f\r ]+/g;

const WHITESPACE_CHARACTER = /^[\t\n\f\r ]$/;

/** Standard (`+/`) and URL-safe (`-_`) alphabets, with at most two `=` of padding at the end. */
const BASE64_TEXT = /^[A-Za-z0-9+/_-]*={0,2}$/;

const ALPHABET_CHARACTER = /^[A-Za-z0-9+/_-]$/;

const ENCODE_HINT = 'Send the image file bytes encoded as base64 (RFC 4648, standard or URL-safe alphabet).';

function invalidBase64(message: string): InvalidInputError {
  return new InvalidInputError('INVALID_BASE64', message);
}

function describeType(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'an array';
  }
  return `a value of type ${typeof value}`;
}

function describeCharacter(character: string): string {
  const codePoint = character.codePointAt(0) ?? 0;
  return `${JSON.stringify(character)} (U+${codePoint.toString(16).toUpperCase().padStart(4, '0')})`;
}

/** Points at the URL field when a caller put an image URL into the base64 field. */
function urlHint(value: string, field: string): string {
  if (!/^\s*https?:\/\//i.test(value) || !field.endsWith('.base64')) {
    return '';
  }
  return ` To send an image by URL, put the URL in ${field.slice(0, -'.base64'.length)}.url instead.`;
}

/**
 * Finds the first character that makes `value` (from index `start`) invalid base64, and returns
 * an error naming it and its index in the original string. Returns `undefined` when every
 * character is valid.
 */
function findInvalidCharacter(value: string, start: number, field: string): InvalidInputError | undefined {
  let paddingCount = 0;

  for (let index = start; index < value.length; index += 1) {
    const character = String.fromCodePoint(value.codePointAt(index) ?? 0);
    if (WHITESPACE_CHARACTER.test(character)) {
      continue;
    }

    if (character === '=') {
      paddingCount += 1;
      if (paddingCount <= 2) {
        continue;
      }
      return invalidBase64(
        `${field} is not valid base64: a third "=" at index ${index}, but base64 ends with at most two "=" of padding. ${ENCODE_HINT}`,
      );
    }

    if (ALPHABET_CHARACTER.test(character) && paddingCount > 0) {
      return invalidBase64(
        `${field} is not valid base64: character ${describeCharacter(character)} at index ${index} follows "=" padding, ` +
          `which may only appear at the end. Check that the value is one base64 string, not several joined together. ${ENCODE_HINT}`,
      );
    }

    if (!ALPHABET_CHARACTER.test(character)) {
      return invalidBase64(
        `${field} is not valid base64: character ${describeCharacter(character)} at index ${index} is not in the base64 alphabet ` +
          `(A-Z, a-z, 0-9, "+", "/", or the URL-safe "-", "_"). ${ENCODE_HINT}${urlHint(value, field)}`,
      );
    }
  }
  return undefined;
}

/**
 * Decodes an image sent as base64 text. Accepts the standard and URL-safe alphabets, with or
 * without `=` padding, a `data:...;base64,` header, and whitespace or line breaks anywhere.
 *
 * Throws `InvalidInputError` with code `INVALID_BASE64` for a non-string, an empty string or
 * invalid base64, and with code `EMPTY_IMAGE` when the text decodes to zero bytes (for example
 * a bare `data:image/png;base64,` header). Messages name `field`, which defaults to
 * `data.image.base64`.
 */
export function parseBase64Image(value: unknown, field: string = DEFAULT_FIELD): Buffer {
  if (typeof value !== 'string') {
    throw invalidBase64(`${field} must be a base64 string, got ${describeType(value)}. ${ENCODE_HINT}`);
  }
  if (value.length === 0) {
    throw invalidBase64(`${field} is an empty string. ${ENCODE_HINT}`);
  }

  let start = 0;
  const header = DATA_URL_HEADER.exec(value);
  if (header !== null) {
    const mediaType = header[1] ?? '';
    if (!/;base64$/i.test(mediaType)) {
      throw invalidBase64(
        `${field} is a data URL without ";base64" (header ${JSON.stringify(header[0].trim())}), so its content is not base64. ` +
          `Use a "data:image/...;base64," header or send the base64 text alone.`,
      );
    }
    start = header[0].length;
  }

  const text = value.slice(start).replace(WHITESPACE, '');
  if (!BASE64_TEXT.test(text)) {
    throw findInvalidCharacter(value, start, field) ?? invalidBase64(`${field} is not valid base64. ${ENCODE_HINT}`);
  }

  const dataLength = text.replace(/=+$/, '').length;
  const paddingLength = text.length - dataLength;
  if (dataLength % 4 === 1) {
    throw invalidBase64(
      `${field} is not valid base64: it has ${dataLength} characters without padding, and no base64 string has a length of ` +
        `4n+1, so the value is probably cut off. Send the complete base64 string.`,
    );
  }
  if (paddingLength > 0 && text.length % 4 !== 0) {
    throw invalidBase64(
      `${field} is not valid base64: it ends with "=" padding but its length without whitespace (${text.length}) is not a ` +
        `multiple of 4, so the value is probably cut off. Send the complete base64 string.`,
    );
  }

  if (dataLength === 0) {
    throw new InvalidInputError(
      'EMPTY_IMAGE',
      `${field} decodes to zero bytes: it contains only whitespace or a data URL header. Send the image file bytes as base64.`,
    );
  }

  // Buffer's 'base64' decoding reads the standard and the URL-safe alphabet alike.
  return Buffer.from(text, 'base64');
}
