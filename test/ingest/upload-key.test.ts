import { describe, expect, it } from 'vitest';
import { parseUploadKey } from '../../functions/ingest/handler.ts';

describe('parseUploadKey', () => {
  it.each([
    ['uploads/main/page.png', { appId: 'main', inputId: 'page.png' }],
    ['uploads/page.png', { appId: 'main', inputId: 'page.png' }],
    ['uploads/shop/2024/trip/rocket launch.jpg', { appId: 'shop', inputId: '2024-trip-rocket-launch.jpg' }],
    ['uploads/shop/ünïcode.jpg', { appId: 'shop', inputId: 'n-code.jpg' }],
  ])('maps %s', (key, expected) => {
    expect(parseUploadKey(key, 'uploads/')).toEqual(expected);
  });

  it.each(['other/page.png', 'uploads/', 'uploads/main/'])('skips %s', (key) => {
    expect(parseUploadKey(key, 'uploads/')).toBeUndefined();
  });
});
