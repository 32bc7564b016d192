import { setTimeout as sleep } from 'node:timers/promises';
import {
  configureRouting,
  getRoutingKey,
  RoutingContextError,
  RoutingKeyError,
  requireRoutingKey,
  resetRouting,
  withRoutingKey,
} from 'routing-context';
import { afterEach, describe, expect, it } from 'vitest';

afterEach(() => resetRouting());

describe('context', () => {
  it('is baseline outside any context', () => {
    expect(getRoutingKey()).toBeUndefined();
    expect(() => requireRoutingKey()).toThrowError(RoutingContextError);
    try {
      requireRoutingKey();
    } catch (e) {
      expect((e as RoutingContextError).code).toBe('ERR_NO_ROUTING_KEY');
    }
  });

  it('holds the key through awaits, timers, promises and nested contexts', async () => {
    const seen = await withRoutingKey('pr-1', async () => {
      const out: (string | undefined)[] = [getRoutingKey()];
      await sleep(1);
      out.push(getRoutingKey());
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          out.push(getRoutingKey());
          resolve();
        }),
      );
      out.push(
        await withRoutingKey('pr-2', async () => {
          await sleep(1);
          return getRoutingKey();
        }),
      );
      out.push(getRoutingKey());
      out.push(withRoutingKey(undefined, () => getRoutingKey()));
      return out;
    });
    expect(seen).toEqual(['pr-1', 'pr-1', 'pr-1', 'pr-2', 'pr-1', undefined]);
    expect(getRoutingKey()).toBeUndefined();
  });

  it('returns what fn returns, sync and async', async () => {
    expect(withRoutingKey('a', () => 42)).toBe(42);
    await expect(withRoutingKey('a', async () => 'x')).resolves.toBe('x');
  });

  it('keeps 500 interleaved concurrent contexts apart', async () => {
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => {
        const key = i % 7 === 0 ? undefined : `key-${i % 50}`;
        return withRoutingKey(key, async () => {
          const seen: (string | undefined)[] = [];
          for (let step = 0; step < 4; step++) {
            await sleep(Math.floor(Math.random() * 3));
            seen.push(getRoutingKey());
          }
          return { key, seen };
        });
      }),
    );
    for (const { key, seen } of results) expect(seen).toEqual([key, key, key, key]);
  });

  it('rejects an invalid key given by code with RoutingKeyError', () => {
    for (const bad of ['', 'has space', 'a,b', 'x'.repeat(200), '-lead', 'ü']) {
      expect(() => withRoutingKey(bad, () => 1)).toThrowError(RoutingKeyError);
    }
    expect(() => withRoutingKey(42 as unknown as string, () => 1)).toThrowError(RoutingKeyError);
  });

  it('validates with the configured validator', () => {
    configureRouting({ validate: (k) => k.startsWith('sb-') });
    expect(withRoutingKey('sb-1', () => getRoutingKey())).toBe('sb-1');
    expect(() => withRoutingKey('pr-1', () => 1)).toThrowError(RoutingKeyError);
  });
});
