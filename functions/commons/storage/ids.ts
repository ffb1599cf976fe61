import { InvalidInputError, StatusCode } from '#commons/errors.ts';

/** The app that bucket uploads without an app folder, and the first local key, belong to. */
export const DEFAULT_APP_ID = 'main';

// Clarifai ids are letters, digits, `-` and `_`; Percept also allows `.` so that a file
// name uploaded to the bucket can be its input id unchanged.
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;

/** Throws `INVALID_ID` unless `value` is a usable input, annotation or app id. */
export function validateId(value: unknown, field: string): string {
  if (typeof value !== 'string' || !ID_PATTERN.test(value)) {
    throw new InvalidInputError(
      'INVALID_ID',
      `${field} ${JSON.stringify(value)} is not a valid id. Use 1 to 255 letters, digits, '-', '_' or '.', starting with a letter or digit.`,
      StatusCode.INPUT_INVALID_REQUEST,
    );
  }
  return value;
}

/** Turns any file name into a valid id by replacing the characters an id cannot hold. */
export function idFromFileName(fileName: string): string {
  const cleaned = fileName.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return cleaned.slice(0, 255) || 'input';
}
