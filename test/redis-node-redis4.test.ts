import { randomBytes } from 'node:crypto';
import { commandOptions, createClient, defineScript } from 'redis4';
import { getRoutingKey, withRoutingKey } from 'routing-context';
import { routedRedis } from 'routing-context/redis';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';

const RUN = randomBytes(4).toString('hex');
const key = (i: number | string) => `rk4${RUN}-${i}`;
const BASE = `base4${RUN}`;
const URL = 'redis://127.0.0.1:6379';

type Client = ReturnType<typeof createClient>;
let raw: Client;
let redis: Client;

async function physicalKeys(): Promise<string[]> {
  const found: string[] = [];
  for await (const k of raw.scanIterator({ MATCH: `*${RUN}*`, COUNT: 1000 })) found.push(k);
  return found.sort();
}

interface Connectable {
  on(event: 'error', listener: (error: Error) => void): unknown;
  connect(): Promise<unknown>;
}

async function connected<C extends Connectable>(client: C, rk?: string): Promise<C> {
  client.on('error', () => {});
  await withRoutingKey(rk, () => client.connect());
  return client;
}

beforeAll(async () => {
  raw = createClient({ url: URL });
  raw.on('error', () => {});
  // Fails the suite with the reason when the machine's Redis is not reachable.
  await raw.connect();
  redis = routedRedis(raw, { baselinePrefix: BASE });
});

afterAll(async () => {
  const keys = await physicalKeys();
  if (keys.length > 0) await raw.del(keys);
  await raw.disconnect();
});

describe('routedRedis(node-redis 4)', () => {
  it('keeps the client type, and refuses legacyMode clients', () => {
    expectTypeOf(routedRedis(raw)).toEqualTypeOf<Client>();
    expect(() => routedRedis(createClient({ legacyMode: true }))).toThrow(/legacyMode/);
  });

  it('prefixes every key argument, as a raw client sees it', async () => {
    const rk = key('phys');
    await withRoutingKey(rk, async () => {
      await redis.set(`s:${RUN}`, 'v1');
      await redis.mSet([
        [`m1:${RUN}`, 'a'],
        [`m2:${RUN}`, 'b'],
      ]);
      await redis.hSet(`h:${RUN}`, 'f', 'x');
      await redis.eval("return redis.call('SET', KEYS[1], ARGV[1])", {
        keys: [`e:${RUN}`],
        arguments: ['ev'],
      });
      await redis.sendCommand(['SET', `raw:${RUN}`, 'sent']);
      expect(await redis.mGet([`m1:${RUN}`, `m2:${RUN}`, `s:${RUN}`])).toEqual(['a', 'b', 'v1']);
      expect(await redis.hGetAll(`h:${RUN}`)).toEqual({ f: 'x' });
      expect(await redis.sendCommand(['GET', `raw:${RUN}`])).toBe('sent');
      expect(await redis.del([`m1:${RUN}`, `m2:${RUN}`])).toBe(2);
    });
    await redis.set(`s:${RUN}`, 'baseline');
    expect(await raw.get(`${rk}:s:${RUN}`)).toBe('v1');
    expect(await raw.get(`${rk}:e:${RUN}`)).toBe('ev');
    expect(await raw.get(`${rk}:raw:${RUN}`)).toBe('sent');
    expect(await raw.hGet(`${rk}:h:${RUN}`, 'f')).toBe('x');
    expect(await raw.exists([`${rk}:m1:${RUN}`, `${rk}:m2:${RUN}`])).toBe(0);
    expect(await raw.get(`${BASE}:s:${RUN}`)).toBe('baseline');
    expect(await raw.exists([`s:${RUN}`, `e:${RUN}`, `h:${RUN}`, `raw:${RUN}`])).toBe(0);
    await withRoutingKey(rk, () => raw.set(`plain:${RUN}`, '1'));
    expect(await raw.get(`plain:${RUN}`)).toBe('1');
  });

  it('routes isolated commands, executeIsolated and defined scripts', async () => {
    const rk = key('iso');
    const bump = defineScript({
      NUMBER_OF_KEYS: 1,
      SCRIPT: "return redis.call('INCRBY', KEYS[1], ARGV[1])",
      transformArguments: (k: string, by: number) => [k, String(by)],
      transformReply: (reply: number) => reply,
    });
    const client = routedRedis(await connected(createClient({ url: URL, scripts: { bump } })));
    await withRoutingKey(rk, async () => {
      await client.set(commandOptions({ isolated: true }), `iso:${RUN}`, '1');
      const seen = await client.executeIsolated(async (isolated) => {
        await isolated.set(`exec:${RUN}`, '2');
        return getRoutingKey();
      });
      expect(seen).toBe(rk);
      expect(await client.bump(`n:${RUN}`, 5)).toBe(5);
      expect(await client.bump(`n:${RUN}`, 2)).toBe(7);
      expect(await client.multi().bump(`n:${RUN}`, 1).get(`n:${RUN}`).exec()).toEqual([8, '8']);
    });
    expect(await raw.get(`${rk}:iso:${RUN}`)).toBe('1');
    expect(await raw.get(`${rk}:exec:${RUN}`)).toBe('2');
    expect(await raw.get(`${rk}:n:${RUN}`)).toBe('8');
    expect(await raw.exists([`iso:${RUN}`, `exec:${RUN}`, `n:${RUN}`])).toBe(0);
    await client.disconnect();
  });

  it('routes Redis functions, on the client and in a multi', async () => {
    const rk = key('fn');
    const bump = {
      NUMBER_OF_KEYS: 1,
      transformArguments: (k: string, by: number) => [k, String(by)],
      transformReply: (reply: number) => reply,
    };
    await raw.functionLoad(
      "#!lua name=rc_routed_lib\nredis.register_function('rc_routed_bump', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)",
      { REPLACE: true },
    );
    const client = routedRedis(
      await connected(createClient({ url: URL, functions: { rc_routed_lib: { rc_routed_bump: bump } } })),
    );
    try {
      await withRoutingKey(rk, async () => {
        expect(await client.rc_routed_lib.rc_routed_bump(`f:${RUN}`, 3)).toBe(3);
        expect(await client.multi().rc_routed_lib.rc_routed_bump(`f:${RUN}`, 1).exec()).toEqual([4]);
      });
      expect(await raw.get(`${rk}:f:${RUN}`)).toBe('4');
      expect(await raw.exists(`f:${RUN}`)).toBe(0);
    } finally {
      await raw.functionDelete('rc_routed_lib').catch(() => {});
      await client.disconnect();
    }
  });

  it('routes the public command, script and function executors, on the client and in a multi', async () => {
    const rk = key('executors');
    const library = `rc_exec_${RUN}`;
    const fn = `rc_exec_set_${RUN}`;
    await raw.functionLoad(
      `#!lua name=${library}\nredis.register_function('${fn}', function(keys, args) return redis.call('SET', keys[1], args[1]) end)`,
    );
    const setScript = defineScript({
      NUMBER_OF_KEYS: 1,
      SCRIPT: "return redis.call('SET', KEYS[1], ARGV[1])",
      transformArguments: (name: string, value: string) => [name, value],
      transformReply: (reply: string) => reply,
    });
    const setFunction = {
      NUMBER_OF_KEYS: 1,
      transformArguments: (name: string, value: string) => [name, value],
      transformReply: (reply: string) => reply,
    };
    const setCommand = {
      transformArguments: (name: string, value: string) => ['SET', name, value],
      transformReply: (reply: string) => reply,
    };
    try {
      await withRoutingKey(rk, async () => {
        await redis.commandsExecutor(setCommand, [`c:${RUN}`, '1']);
        await redis.scriptsExecuter(setScript, [`s:${RUN}`, '1']);
        await redis.functionsExecuter(setFunction, [`f:${RUN}`, '1'], fn);
        const multi = redis
          .multi()
          .scriptsExecutor(setScript, [`ms:${RUN}`, '1'])
          .functionsExecutor(setFunction, [`mf:${RUN}`, '1'], fn)
          .commandsExecutor(setCommand, [`mc:${RUN}`, '1']);
        expect(await multi.exec()).toEqual(['OK', 'OK', 'OK']);
      });
      for (const name of ['c', 's', 'f', 'ms', 'mf', 'mc']) {
        expect(await raw.get(`${rk}:${name}:${RUN}`)).toBe('1');
        expect(await raw.exists(`${name}:${RUN}`)).toBe(0);
      }
    } finally {
      await raw.functionDelete(library).catch(() => {});
    }
  });

  it('confines SCAN, KEYS and scanIterator to the namespace and strips the prefix back', async () => {
    const a = key('scanA');
    const b = key('scanB');
    await withRoutingKey(a, () => redis.mSet({ [`k1:${RUN}`]: '1', [`k2:${RUN}`]: '2' }));
    await withRoutingKey(b, () => redis.set(`k1:${RUN}`, 'b'));
    await redis.set(`k9:${RUN}`, 'base');
    await raw.set(`k8:${RUN}`, 'unprefixed');
    const scanAll = async () => {
      const out: string[] = [];
      for await (const k of redis.scanIterator({ COUNT: 500 })) out.push(k);
      return out.filter((k) => k.startsWith('k') && k.includes(RUN)).sort();
    };
    expect(await withRoutingKey(a, scanAll)).toEqual([`k1:${RUN}`, `k2:${RUN}`]);
    expect(await withRoutingKey(b, scanAll)).toEqual([`k1:${RUN}`]);
    expect(await scanAll()).toEqual([`k9:${RUN}`]);
    expect((await withRoutingKey(a, () => redis.keys(`k*:${RUN}`))).sort()).toEqual([
      `k1:${RUN}`,
      `k2:${RUN}`,
    ]);
    expect(await redis.keys(`k*:${RUN}`)).toEqual([`k9:${RUN}`]);
    const scanned = await withRoutingKey(a, () => redis.scan(0, { MATCH: `k2:${RUN}`, COUNT: 100000 }));
    expect(scanned.keys).toEqual([`k2:${RUN}`]);
  });

  it('strips key names from BLPOP replies', async () => {
    const client = routedRedis(await connected(raw.duplicate()));
    await withRoutingKey(key('pop'), async () => {
      await client.rPush(`q:${RUN}`, 'job');
      expect(await client.blPop(`q:${RUN}`, 1)).toEqual({ key: `q:${RUN}`, element: 'job' });
    });
    await client.disconnect();
  });

  it('prefixes MULTI and pipelines in the context that queued each command, and WATCH', async () => {
    const a = key('multiA');
    const b = key('multiB');
    const multi = withRoutingKey(a, () => redis.multi().set(`t:${RUN}`, 'a').incr(`c:${RUN}`));
    withRoutingKey(b, () => multi.set(`t2:${RUN}`, 'b'));
    expect(await withRoutingKey(undefined, () => multi.exec())).toEqual(['OK', 1, 'OK']);
    const pipe = withRoutingKey(b, () => redis.multi().set(`p:${RUN}`, 'b').keys(`p*:${RUN}`));
    expect(await withRoutingKey(a, () => pipe.execAsPipeline())).toEqual(['OK', [`p:${RUN}`]]);
    expect(await raw.get(`${a}:t:${RUN}`)).toBe('a');
    expect(await raw.get(`${a}:c:${RUN}`)).toBe('1');
    expect(await raw.get(`${b}:t2:${RUN}`)).toBe('b');
    expect(await raw.get(`${b}:p:${RUN}`)).toBe('b');
    // WATCH sees the routed key: a write to it by someone else aborts the transaction.
    const watcher = routedRedis(await connected(raw.duplicate()));
    await withRoutingKey(a, async () => {
      await watcher.watch(`t:${RUN}`);
      await raw.set(`${a}:t:${RUN}`, 'changed');
      await expect(watcher.multi().get(`t:${RUN}`).exec()).rejects.toThrow(/WATCH|aborted/i);
    });
    await watcher.disconnect();
  });

  it('refuses commands whose keys the table cannot locate, in a namespace', async () => {
    const rk = key('refuse');
    const refused: Array<() => Promise<unknown>> = [
      () => redis.flushDb(),
      () => redis.randomKey(),
      () => redis.dbSize(),
      () => redis.sendCommand(['JSON.GET', 'doc']),
      // A module command (RedisJSON) never reaches Redis unrouted.
      () => redis.json.get('doc'),
    ];
    for (const run of refused) {
      await expect(withRoutingKey(rk, run)).rejects.toMatchObject({ code: 'ERR_UNROUTABLE_COMMAND' });
    }
    expect(() => withRoutingKey(rk, () => redis.multi().set('a', '1').dbSize())).toThrow(/DBSIZE is refused/);
    expect(() => withRoutingKey(rk, () => redis.multi().json.get('doc'))).toThrow(/JSON.GET is refused/);
    expect(await withRoutingKey(rk, () => redis.ping())).toBe('PONG');
    const plain = routedRedis(raw, { baselinePrefix: undefined });
    expect(typeof (await plain.dbSize())).toBe('number');
  });

  it('routes clients derived with duplicate()', async () => {
    const rk = key('dup');
    const copy = redis.duplicate();
    copy.on('error', () => {});
    await copy.connect();
    try {
      await withRoutingKey(rk, () => copy.set(`dup:${RUN}`, 'routed'));
      await copy.set(`dup:${RUN}`, 'base');
      expect(await raw.get(`${rk}:dup:${RUN}`)).toBe('routed');
      expect(await raw.get(`${BASE}:dup:${RUN}`)).toBe('base');
      expect(await raw.get(`dup:${RUN}`)).toBe(null);
    } finally {
      await copy.disconnect();
    }
  });

  it('prefixes pub/sub channels', async () => {
    const rk = key('pubsub');
    const subscriber = routedRedis(await connected(raw.duplicate()));
    const received: Array<[string, string]> = [];
    let resolve!: () => void;
    const got = new Promise<void>((r) => (resolve = r));
    await withRoutingKey(rk, () =>
      subscriber.subscribe(`ch:${RUN}`, (message: string, channel: string) => {
        received.push([channel, message]);
        resolve();
      }),
    );
    await raw.publish(`ch:${RUN}`, 'baseline');
    expect(await withRoutingKey(rk, () => redis.publish(`ch:${RUN}`, 'routed'))).toBe(1);
    await got;
    expect(received).toEqual([[`${rk}:ch:${RUN}`, 'routed']]);
    await subscriber.disconnect();
  });

  it('1,000 concurrent operations over 20 keys and baseline never cross', async () => {
    const client = routedRedis(createClient({ url: URL }), { baselinePrefix: BASE });
    const keys = [...Array.from({ length: 20 }, (_, i) => key(`c${i}`)), undefined];
    const mismatches: string[] = [];
    // The connection is opened from inside a routed context: its socket callbacks run there.
    // `connect()` resolves to the routed client, and getters read the real one.
    expect(await withRoutingKey(keys[0], () => client.connect())).toBe(client);
    expect(client.isReady).toBe(true);
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) => {
        const rk = keys[i % keys.length];
        const tag = rk ?? 'baseline';
        return withRoutingKey(rk, async () => {
          await new Promise((r) => setImmediate(r));
          await client.rPush(`list:${RUN}`, `${tag}#${i}`);
          if (getRoutingKey() !== rk) mismatches.push(`after rPush ${i}`);
          await client.incr(`count:${RUN}`);
          if (getRoutingKey() !== rk) mismatches.push(`after incr ${i}`);
        });
      }),
    );
    expect(mismatches).toEqual([]);
    for (const rk of keys) {
      const tag = rk ?? 'baseline';
      const ns = rk ?? BASE;
      const items = await raw.lRange(`${ns}:list:${RUN}`, 0, -1);
      expect(items.length).toBeGreaterThan(40);
      expect(items.every((item) => item.startsWith(`${tag}#`))).toBe(true);
      expect(await raw.get(`${ns}:count:${RUN}`)).toBe(String(items.length));
    }
    expect(await raw.exists([`list:${RUN}`, `count:${RUN}`])).toBe(0);
    await client.disconnect();
  });

  it('resolves a command issued in A in A even when B is active as the reply arrives', async () => {
    const a = key('ctxA');
    const b = key('ctxB');
    const client = routedRedis(await connected(raw.duplicate(), b));
    const waiting = withRoutingKey(a, async () => {
      const reply = await client.blPop(`wake:${RUN}`, 5);
      return { reply, seen: getRoutingKey() };
    });
    await new Promise((r) => setTimeout(r, 50));
    await withRoutingKey(b, () => raw.rPush(`${a}:wake:${RUN}`, 'x'));
    expect(await waiting).toEqual({ reply: { key: `wake:${RUN}`, element: 'x' }, seen: a });
    await client.disconnect();
  });
});
