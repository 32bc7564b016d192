import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runWithKey, withRoutingKey } from '../src/core/state.js';
import {
  cachedNameCount,
  KeyRouter,
  PREFIX_CACHE,
  PrefixedNames,
  type RedisArg,
} from '../src/redis/commands.js';

const router = new KeyRouter('main');
const rewrite = (name: string, args: RedisArg[], key: string | null = 'pr-1') =>
  withRoutingKey(key ?? undefined, () => router.rewrite(name, args, router.current()!, 0, false));

describe('KeyRouter: key positions from the command table', () => {
  it('prefixes single, multi-key and interleaved key/value commands', () => {
    expect(rewrite('get', ['a'])).toEqual(['pr-1:a']);
    expect(rewrite('SET', ['a', 'v', 'EX', 10])).toEqual(['pr-1:a', 'v', 'EX', 10]);
    expect(rewrite('del', ['a', 'b', 'c'])).toEqual(['pr-1:a', 'pr-1:b', 'pr-1:c']);
    expect(rewrite('mset', ['a', '1', 'b', '2'])).toEqual(['pr-1:a', '1', 'pr-1:b', '2']);
    expect(rewrite('blpop', ['a', 'b', 0])).toEqual(['pr-1:a', 'pr-1:b', 0]);
    expect(rewrite('rename', ['a', 'b'])).toEqual(['pr-1:a', 'pr-1:b']);
    expect(rewrite('bitop', ['AND', 'dest', 'a', 'b'])).toEqual(['AND', 'pr-1:dest', 'pr-1:a', 'pr-1:b']);
    expect(rewrite('spublish', ['ch', 'msg'])).toEqual(['pr-1:ch', 'msg']);
  });

  it('handles movable-keys commands through the table', () => {
    expect(rewrite('eval', ['return 1', 2, 'a', 'b', 'arg'])).toEqual([
      'return 1',
      2,
      'pr-1:a',
      'pr-1:b',
      'arg',
    ]);
    expect(rewrite('evalsha', ['abc', 0, 'arg'])).toEqual(['abc', 0, 'arg']);
    expect(rewrite('fcall', ['fn', 1, 'a', 'x'])).toEqual(['fn', 1, 'pr-1:a', 'x']);
    expect(rewrite('zunionstore', ['d', 2, 'a', 'b', 'WEIGHTS', 1, 2])).toEqual([
      'pr-1:d',
      2,
      'pr-1:a',
      'pr-1:b',
      'WEIGHTS',
      1,
      2,
    ]);
    expect(rewrite('xread', ['COUNT', 1, 'STREAMS', 's1', 's2', '0', '0'])).toEqual([
      'COUNT',
      1,
      'STREAMS',
      'pr-1:s1',
      'pr-1:s2',
      '0',
      '0',
    ]);
    expect(rewrite('sort', ['l', 'BY', 'w_*', 'GET', '#', 'GET', 'o_*->f', 'STORE', 'd'])).toEqual([
      'pr-1:l',
      'BY',
      'pr-1:w_*',
      'GET',
      '#',
      'GET',
      'pr-1:o_*->f',
      'STORE',
      'pr-1:d',
    ]);
    expect(rewrite('lmpop', [2, 'a', 'b', 'LEFT'])).toEqual([2, 'pr-1:a', 'pr-1:b', 'LEFT']);
  });

  it('locates keys of container subcommands the table lists without keys', () => {
    expect(rewrite('object', ['ENCODING', 'a'])).toEqual(['ENCODING', 'pr-1:a']);
    expect(rewrite('memory', ['USAGE', 'a'])).toEqual(['USAGE', 'pr-1:a']);
    expect(rewrite('xgroup', ['CREATE', 's', 'g', '$'])).toEqual(['CREATE', 'pr-1:s', 'g', '$']);
    expect(rewrite('xinfo', ['STREAM', 's'])).toEqual(['STREAM', 'pr-1:s']);
    expect(rewrite('memory', ['STATS'])).toEqual(['STATS']);
  });

  it('confines SCAN and KEYS patterns, escaping glob characters of the key', () => {
    expect(rewrite('scan', ['0'])).toEqual(['0', 'MATCH', 'pr-1:*']);
    expect(rewrite('scan', ['0', 'COUNT', 10, 'MATCH', 'u:*'])).toEqual([
      '0',
      'COUNT',
      10,
      'MATCH',
      'pr-1:u:*',
    ]);
    expect(rewrite('keys', ['u:*'])).toEqual(['pr-1:u:*']);
    // A custom validator could allow glob characters in keys: they are escaped in patterns.
    const odd = new KeyRouter(undefined);
    expect(runWithKey('a*[b]?', () => odd.rewrite('keys', ['x'], odd.current()!, 0, false))).toEqual([
      'a\\*\\[b\\]\\?:x',
    ]);
    expect(rewrite('psubscribe', ['news.*'])).toEqual(['pr-1:news.*']);
  });

  it('prefixes Buffer keys as Buffers and numbers as strings', () => {
    const [key] = rewrite('get', [Buffer.from([0xff, 0x01])]);
    expect(Buffer.isBuffer(key)).toBe(true);
    expect(key).toEqual(Buffer.concat([Buffer.from('pr-1:'), Buffer.from([0xff, 0x01])]));
    expect(rewrite('get', [42])).toEqual(['pr-1:42']);
  });

  it('uses the baseline prefix without a routing key and never changes its input', () => {
    const args = ['a', 'b'];
    expect(rewrite('mget', args, null)).toEqual(['main:a', 'main:b']);
    expect(args).toEqual(['a', 'b']);
  });

  it('refuses commands whose keys cannot be located', () => {
    for (const [name, args] of [
      ['flushdb', []],
      ['randomkey', []],
      ['dbsize', []],
      ['pubsub', ['CHANNELS']],
      ['debug', ['OBJECT', 'a']],
      ['json.get', ['doc']],
      ['ft.search', ['idx', '*']],
    ] as Array<[string, RedisArg[]]>) {
      expect(() => rewrite(name, args)).toThrow(expect.objectContaining({ code: 'ERR_UNROUTABLE_COMMAND' }));
    }
    for (const name of ['ping', 'multi', 'exec', 'info', 'select', 'script', 'client']) {
      expect(() => rewrite(name, [])).not.toThrow();
    }
  });

  it('strips key names from the replies that carry them', () => {
    const ns = withRoutingKey('pr-1', () => router.current()!);
    expect(router.stripperOf('keys')!(['pr-1:a', 'pr-1:b'], ns)).toEqual(['a', 'b']);
    expect(router.stripperOf('scan')!(['17', ['pr-1:a']], ns)).toEqual(['17', ['a']]);
    expect(router.stripperOf('brpop')!(['pr-1:q', 'v'], ns)).toEqual(['q', 'v']);
    expect(router.stripperOf('blpop')!(null, ns)).toBe(null);
    expect(router.stripperOf('lmpop')!(['pr-1:q', ['v']], ns)).toEqual(['q', ['v']]);
    expect(router.stripperOf('xread')!([['pr-1:s', [['1-0', ['f', 'v']]]]], ns)).toEqual([
      ['s', [['1-0', ['f', 'v']]]],
    ]);
    expect(router.stripperOf('get')).toBeUndefined();
  });

  it('refuses a routing key equal to the baseline prefix', () => {
    expect(() => withRoutingKey('main', () => router.current())).toThrow(
      expect.objectContaining({ code: 'ERR_ROUTING_KEY_CONFLICT' }),
    );
  });
});

describe('PrefixedNames: the cache of prefixed key names', () => {
  const { MAX_CACHED_NAMES, MAX_CACHED_NAME_LENGTH, REVIEW_EVERY, MAX_PAUSE } = PREFIX_CACHE;

  it('always answers the prefix followed by the name, hit, miss or paused', () => {
    // Few distinct names so that hits, misses and pauses all happen within one run.
    const name = fc.oneof(
      fc.constantFrom('a', 'b', 'user:1', '', 'x'.repeat(MAX_CACHED_NAME_LENGTH + 1)),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(fc.array(name, { maxLength: 3 * REVIEW_EVERY }), (names) => {
        const cache = new PrefixedNames('pr-1:');
        for (const n of names) expect(cache.of(n)).toBe(`pr-1:${n}`);
      }),
    );
  });

  it('keeps repeated names, but not names longer than the limit', () => {
    const cache = new PrefixedNames('pr-2:');
    const long = 'k'.repeat(MAX_CACHED_NAME_LENGTH + 1);
    for (let i = 0; i < 3; i++) {
      cache.of('a');
      cache.of('b');
      cache.of(long);
    }
    expect(cache.size).toBe(2);
  });

  it('pauses while names do not repeat, longer after each poor review, and resumes with what it held', () => {
    const cache = new PrefixedNames('pr-3:');
    for (let i = 0; i < REVIEW_EVERY; i++) cache.of('hot');
    expect(cache.active).toBe(true);
    let fresh = 0;
    const reviewPoorly = () => {
      for (let i = 0; i < REVIEW_EVERY; i++) cache.of(`new:${fresh++}`);
    };
    /** Names prefixed before the cache is used again. */
    const pauseLength = () => {
      let n = 0;
      while (!cache.active) {
        cache.of(`paused:${n}`);
        n++;
      }
      return n;
    };
    reviewPoorly();
    expect(cache.active).toBe(false);
    const held = cache.size;
    expect(pauseLength()).toBe(REVIEW_EVERY);
    // Nothing was kept while paused.
    expect(cache.size).toBe(held);
    reviewPoorly();
    expect(pauseLength()).toBe(2 * REVIEW_EVERY);
    // A good review ends the doubling: the next poor one pauses for the shortest time again.
    for (let i = 0; i < REVIEW_EVERY; i++) cache.of('hot');
    expect(cache.active).toBe(true);
    reviewPoorly();
    expect(pauseLength()).toBe(REVIEW_EVERY);
    // Never longer than MAX_PAUSE.
    let longest = 0;
    for (let i = 0; i < 12; i++) {
      reviewPoorly();
      longest = Math.max(longest, pauseLength());
    }
    expect(longest).toBe(MAX_PAUSE);
  });

  it('keeps at most MAX_CACHED_NAMES names across all caches of the process', () => {
    const prefixes = ['pr-4:', 'pr-5:', 'pr-6:'];
    const caches = prefixes.map((p) => new PrefixedNames(p));
    let peak = 0;
    // Each name ten times in a row: nine hits in ten, so no cache pauses.
    for (let i = 0; i < 2 * MAX_CACHED_NAMES; i++) {
      const at = i % caches.length;
      for (let j = 0; j < 10; j++) expect(caches[at]!.of(`n:${i}`)).toBe(`${prefixes[at]}n:${i}`);
      expect(cachedNameCount()).toBeLessThanOrEqual(MAX_CACHED_NAMES);
      peak = Math.max(peak, cachedNameCount());
    }
    expect(caches.every((c) => c.active)).toBe(true);
    // The bound was reached, so every cache of the process was emptied, and never passed.
    expect(peak).toBe(MAX_CACHED_NAMES);
    expect(caches.reduce((sum, c) => sum + c.size, 0)).toBe(cachedNameCount());
  });
});
