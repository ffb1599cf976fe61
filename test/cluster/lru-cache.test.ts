import { describe, expect, it } from 'vitest';
import { LruCache } from '#commons/search/lru-cache.ts';

describe('lru cache', () => {
  it('loads a key once', async () => {
    const cache = new LruCache<string>(100, (value) => value.length);
    let loads = 0;
    const load = async (): Promise<string> => {
      loads += 1;
      return 'value';
    };

    const [first, second] = await Promise.all([cache.get('a', load), cache.get('a', load)]);

    expect(first).toBe('value');
    expect(second).toBe('value');
    expect(loads).toBe(1);
  });

  it('evicts the least recently used beyond the budget', async () => {
    const cache = new LruCache<string>(10, (value) => value.length);
    const loaded: string[] = [];
    const get = (key: string): Promise<string> =>
      cache.get(key, async () => {
        loaded.push(key);
        return key.repeat(4);
      });

    await get('a');
    await get('b');
    await get('a');
    await get('c');
    await get('a');
    await get('b');

    // a, b and c take 4 bytes each; c pushed out b, the least recently used.
    expect(loaded).toEqual(['a', 'b', 'c', 'b']);
  });

  it('drops a failed load', async () => {
    const cache = new LruCache<string>(100, (value) => value.length);

    await expect(cache.get('a', async () => Promise.reject(new Error('S3 failed')))).rejects.toThrow('S3 failed');
    expect(await cache.get('a', async () => 'second try')).toBe('second try');
  });
});
