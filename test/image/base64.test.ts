import { describe, expect, test } from 'vitest';

import { parseBase64Image } from '#commons/image/decode.ts';

import { invalidInputFrom, readFixture } from './helpers.ts';

describe('parseBase64Image', () => {
  test('standard base64', async () => {
    const chelsea = await readFixture('chelsea.jpg');

    expect(parseBase64Image(chelsea.toString('base64')).equals(chelsea)).toBe(true);
  });

  test('url-safe base64 without padding', async () => {
    const chelsea = await readFixture('chelsea.jpg');
    const urlSafe = chelsea.toString('base64url');
    expect(urlSafe).toMatch(/[-_]/);

    expect(parseBase64Image(urlSafe).equals(chelsea)).toBe(true);
  });

  test('data url with line breaks', async () => {
    const page = await readFixture('page.png');
    const wrapped = (page.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');

    const bytes = parseBase64Image(`  data:image/png;base64,\n${wrapped}\n`);

    expect(bytes.equals(page)).toBe(true);
  });

  test('bytes that encode to + and /', () => {
    const bytes = Buffer.from([0xfb, 0xff, 0xbf, 0xfe]);

    expect(parseBase64Image('+/+//g==').equals(bytes)).toBe(true);
    expect(parseBase64Image('-_-__g').equals(bytes)).toBe(true);
  });

  test.each([
    { value: 42, type: 'a value of type number' },
    { value: null, type: 'null' },
    { value: ['aGk='], type: 'an array' },
    { value: Buffer.from('hi'), type: 'a value of type object' },
  ])('non-string $type', async ({ value, type }) => {
    const error = await invalidInputFrom(() => parseBase64Image(value));

    expect(error.code).toBe('INVALID_BASE64');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain(`data.image.base64 must be a base64 string, got ${type}`);
    expect(error.message).toContain('Send the image file bytes encoded as base64');
  });

  test('empty string', async () => {
    const error = await invalidInputFrom(() => parseBase64Image(''));

    expect(error.code).toBe('INVALID_BASE64');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain('data.image.base64 is an empty string');
  });

  test('invalid character', async () => {
    const error = await invalidInputFrom(() => parseBase64Image('iVBO\nRw0K%GgoAAAA'));

    expect(error.code).toBe('INVALID_BASE64');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain('data.image.base64 is not valid base64');
    expect(error.message).toContain('character "%" (U+0025) at index 9 is not in the base64 alphabet');
    expect(error.message).toContain('Send the image file bytes encoded as base64');
  });

  test('custom field name', async () => {
    const error = await invalidInputFrom(() => parseBase64Image('ab*d', 'inputs[3].data.image.base64'));

    expect(error.code).toBe('INVALID_BASE64');
    expect(error.message).toContain('inputs[3].data.image.base64 is not valid base64');
    expect(error.message).toContain('character "*" (U+002A) at index 2');
  });

  test('url in base64 field', async () => {
    const error = await invalidInputFrom(() => parseBase64Image('https://example.com/cat.jpg'));

    expect(error.code).toBe('INVALID_BASE64');
    expect(error.message).toContain('character ":" (U+003A) at index 5');
    expect(error.message).toContain('put the URL in data.image.url instead');
  });

  test('data inside padding', async () => {
    const error = await invalidInputFrom(() => parseBase64Image('QQ==QQ=='));

    expect(error.code).toBe('INVALID_BASE64');
    expect(error.message).toContain('character "Q" (U+0051) at index 4 follows "=" padding');
  });

  test('cut-off length', async () => {
    const error = await invalidInputFrom(() => parseBase64Image('QUJDRA'.slice(0, 5)));

    expect(error.code).toBe('INVALID_BASE64');
    expect(error.message).toContain('it has 5 characters without padding');
    expect(error.message).toContain('probably cut off');
  });

  test('padding with wrong length', async () => {
    const error = await invalidInputFrom(() => parseBase64Image('QUJD=='));

    expect(error.code).toBe('INVALID_BASE64');
    expect(error.message).toContain('its length without whitespace (6) is not a multiple of 4');
  });

  test('data url not base64', async () => {
    const error = await invalidInputFrom(() => parseBase64Image('data:image/svg+xml,%3Csvg%3E'));

    expect(error.code).toBe('INVALID_BASE64');
    expect(error.message).toContain('data.image.base64 is a data URL without ";base64"');
    expect(error.message).toContain('"data:image/svg+xml,"');
  });

  test.each([
    { label: 'bare data url header', value: 'data:image/png;base64,' },
    { label: 'whitespace only', value: ' \r\n\t ' },
  ])('base64 of nothing: $label', async ({ value }) => {
    const error = await invalidInputFrom(() => parseBase64Image(value));

    expect(error.code).toBe('EMPTY_IMAGE');
    expect(error.httpStatus).toBe(400);
    expect(error.message).toContain('data.image.base64 decodes to zero bytes');
    expect(error.message).toContain('Send the image file bytes as base64');
  });
});
