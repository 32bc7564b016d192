import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { getRoutingKey, withRoutingKey } from 'routing-context';
import { routedRedis } from 'routing-context/redis';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';

const RUN = randomBytes(4).toString('hex');
const key = (i: number | string) => `rk${RUN}-${i}`;
const BASE = `base${RUN}`;

let raw: Redis;
let redis: Redis;

async function physicalKeys(): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await raw.scan(cursor, 'MATCH', `*${RUN}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found.sort();
}

beforeAll(async () => {
  raw = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
  // Fails the suite with the reason when the machine's Redis is not reachable.
  await raw.connect();
  expect(await raw.ping()).toBe('PONG');
  redis = routedRedis(raw, { baselinePrefix: BASE });
});

afterAll(async () => {
  const keys = await physicalKeys();
  if (keys.length > 0) await raw.del(...keys);
  raw.disconnect();
});

describe('routedRedis(ioredis)', () => {
  it('keeps the client type', () => {
    expectTypeOf(routedRedis(new Redis({ lazyConnect: true }))).toEqualTypeOf<Redis>();
    expect(redis).toBeInstanceOf(Redis);
  });

  it('rejects bad configuration and unsupported clients at start-up', () => {
    expect(() => routedRedis(raw, { baselinePrefix: 7 as unknown as string })).toThrow(/baselinePrefix/);
    expect(() => routedRedis(raw, { prefix: 'x' } as never)).toThrow(/unknown routedRedis option "prefix"/);
    expect(() => routedRedis({ get() {} })).toThrow(TypeError);
    expect(() => routedRedis({ commandsExecutor() {}, sendCommand() {} })).toThrow(/v4 is not supported/);
    expect(() => routedRedis(redis)).toThrow(/already routed/);
  });

  it('prefixes every key argument, as a raw client sees it', async () => {
    const rk = key('phys');
    await withRoutingKey(rk, async () => {
      await redis.set(`s:${RUN}`, 'v1');
      await redis.mset(`m1:${RUN}`, 'a', `m2:${RUN}`, 'b');
      await redis.hset(`h:${RUN}`, 'f', 'x');
      await redis.lpush(`l:${RUN}`, 'e');
      await redis.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, `e:${RUN}`, 'ev');
      await redis.zadd(`z1:${RUN}`, 1, 'a');
      await redis.zadd(`z2:${RUN}`, 2, 'b');
      await redis.zunionstore(`zu:${RUN}`, 2, `z1:${RUN}`, `z2:${RUN}`);
      expect(await redis.mget(`m1:${RUN}`, `m2:${RUN}`, `s:${RUN}`)).toEqual(['a', 'b', 'v1']);
      expect(await redis.get(`e:${RUN}`)).toBe('ev');
      expect(await redis.zrange(`zu:${RUN}`, 0, -1)).toEqual(['a', 'b']);
      expect(await redis.del(`m1:${RUN}`, `m2:${RUN}`)).toBe(2);
    });
    await redis.set(`s:${RUN}`, 'baseline');
    expect(await raw.get(`${rk}:s:${RUN}`)).toBe('v1');
    expect(await raw.get(`${rk}:e:${RUN}`)).toBe('ev');
    expect(await raw.hget(`${rk}:h:${RUN}`, 'f')).toBe('x');
    expect(await raw.lrange(`${rk}:l:${RUN}`, 0, -1)).toEqual(['e']);
    expect(await raw.zrange(`${rk}:zu:${RUN}`, 0, -1)).toEqual(['a', 'b']);
    expect(await raw.exists(`${rk}:m1:${RUN}`, `${rk}:m2:${RUN}`)).toBe(0);
    expect(await raw.get(`${BASE}:s:${RUN}`)).toBe('baseline');
    expect(await raw.exists(`s:${RUN}`, `e:${RUN}`, `h:${RUN}`)).toBe(0);
    // The original client is untouched, even inside a routed context.
    await withRoutingKey(rk, () => raw.set(`plain:${RUN}`, '1'));
    expect(await raw.get(`plain:${RUN}`)).toBe('1');
  });

  it('confines SCAN and KEYS to the namespace and strips the prefix back', async () => {
    const a = key('scanA');
    const b = key('scanB');
    await withRoutingKey(a, () => redis.mset(`k1:${RUN}`, '1', `k2:${RUN}`, '2'));
    await withRoutingKey(b, () => redis.set(`k1:${RUN}`, 'b'));
    await redis.set(`k9:${RUN}`, 'base');
    await raw.set(`k8:${RUN}`, 'unprefixed');
    const scanAll = async () => {
      const out: string[] = [];
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'COUNT', 500);
        cursor = next;
        out.push(...keys);
      } while (cursor !== '0');
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
    const [, matched] = await withRoutingKey(a, () => redis.scan('0', 'MATCH', `k2:${RUN}`, 'COUNT', 100000));
    expect(matched).toEqual([`k2:${RUN}`]);
    // scanStream goes through the same path.
    const streamed: string[] = [];
    await withRoutingKey(
      b,
      () =>
        new Promise<void>((resolve, reject) => {
          const stream = redis.scanStream({ match: `*${RUN}`, count: 500 });
          stream.on('data', (keys: string[]) => streamed.push(...keys));
          stream.on('end', resolve);
          stream.on('error', reject);
        }),
    );
    expect(streamed).toEqual([`k1:${RUN}`]);
  });

  it('strips key names from BLPOP and XREAD replies', async () => {
    const rk = key('pop');
    await withRoutingKey(rk, async () => {
      await redis.rpush(`q:${RUN}`, 'job');
      expect(await redis.blpop(`q:${RUN}`, 1)).toEqual([`q:${RUN}`, 'job']);
      await redis.xadd(`st:${RUN}`, '*', 'f', 'v');
      const read = await redis.xread('COUNT', 1, 'STREAMS', `st:${RUN}`, '0');
      expect(read?.[0]?.[0]).toBe(`st:${RUN}`);
    });
    expect(await raw.xlen(`${rk}:st:${RUN}`)).toBe(1);
  });

  it('prefixes pipelines and transactions in the context that queued each command', async () => {
    const a = key('pipeA');
    const b = key('pipeB');
    const pipeline = withRoutingKey(a, () => redis.pipeline().set(`p:${RUN}`, 'a').incr(`c:${RUN}`));
    withRoutingKey(b, () => pipeline.set(`p2:${RUN}`, 'b'));
    await withRoutingKey(undefined, () => pipeline.exec());
    const tx = withRoutingKey(b, () => redis.multi().set(`t:${RUN}`, 'b').get(`t:${RUN}`));
    const result = await withRoutingKey(a, () => tx.exec());
    expect(result).toEqual([
      [null, 'OK'],
      [null, 'b'],
    ]);
    const batched = await withRoutingKey(a, () => redis.pipeline([['set', `batch:${RUN}`, '1']]).exec());
    expect(batched).toEqual([[null, 'OK']]);
    expect(await raw.get(`${a}:p:${RUN}`)).toBe('a');
    expect(await raw.get(`${a}:c:${RUN}`)).toBe('1');
    expect(await raw.get(`${b}:p2:${RUN}`)).toBe('b');
    expect(await raw.get(`${b}:t:${RUN}`)).toBe('b');
    expect(await raw.get(`${a}:batch:${RUN}`)).toBe('1');
    expect(await raw.exists(`p:${RUN}`, `t:${RUN}`, `${BASE}:p:${RUN}`)).toBe(0);
  });

  it('strips key names in the EXEC reply of multi({ pipeline: false }) as outside a transaction', async () => {
    const rk = key('tx');
    const client = raw.duplicate();
    const routed = routedRedis(client);
    const names = [`tx1:${RUN}`, `tx2:${RUN}`];
    try {
      await withRoutingKey(rk, async () => {
        await routed.set(`tx1:${RUN}`, 'a');
        expect(await routed.multi({ pipeline: false })).toBe('OK');
        const queued = [
          routed.set(`tx2:${RUN}`, 'b'),
          routed.keys(`tx*:${RUN}`),
          // A COUNT above the database's size: one call walks the whole keyspace.
          routed.scan('0', 'MATCH', `tx*:${RUN}`, 'COUNT', 10_000_000),
          routed.get(`tx1:${RUN}`),
        ];
        expect(await Promise.all(queued)).toEqual(['QUEUED', 'QUEUED', 'QUEUED', 'QUEUED']);
        const replies = (await routed.exec()) as [Error | null, unknown][];
        expect(replies[0]).toEqual([null, 'OK']);
        expect((replies[1]![1] as string[]).sort()).toEqual(names);
        expect(replies[2]![1]).toEqual(['0', expect.arrayContaining(names)]);
        expect(replies[3]).toEqual([null, 'a']);

        // DISCARD closes the transaction: replies are stripped one by one again.
        await routed.multi({ pipeline: false });
        await routed.keys(`tx*:${RUN}`);
        expect(await routed.discard()).toBe('OK');
        expect((await routed.keys(`tx*:${RUN}`)).sort()).toEqual(names);

        // A command the raw client queues in the same transaction: the replies cannot be matched
        // to the commands, and come back as the server sent them.
        await routed.multi({ pipeline: false });
        await client.set(`txraw:${RUN}`, 'x');
        await routed.keys(`tx?:${RUN}`);
        const mixed = (await routed.exec()) as [Error | null, unknown][];
        expect((mixed[1]![1] as string[]).sort()).toEqual(names.map((name) => `${rk}:${name}`));
      });
      expect(await raw.get(`${rk}:tx2:${RUN}`)).toBe('b');
    } finally {
      client.disconnect();
    }
  });

  it('routes the script ioredis resends after NOSCRIPT from a pipeline', async () => {
    const rk = key('noscript');
    const client = raw.duplicate();
    client.defineCommand('setKey', { numberOfKeys: 1, lua: "return redis.call('SET', KEYS[1], ARGV[1])" });
    const routed = routedRedis(client);
    type ScriptPipeline = ReturnType<Redis['pipeline']> & {
      setKey(key: string, value: string): ScriptPipeline;
    };
    const pipeline = () => routed.pipeline() as ScriptPipeline;
    try {
      await withRoutingKey(rk, () => pipeline().setKey(`warm:${RUN}`, '1').exec());
      // The connection now sends EVALSHA; emptying the server's script cache makes it fail with
      // NOSCRIPT, and ioredis sends the script again as a new command, on the pipeline's client.
      await raw.script('FLUSH');
      expect(await withRoutingKey(rk, () => pipeline().setKey(`s:${RUN}`, 'v').exec())).toEqual([
        [null, 'OK'],
      ]);
      expect(await raw.get(`${rk}:s:${RUN}`)).toBe('v');
      expect(await raw.exists(`s:${RUN}`)).toBe(0);
    } finally {
      client.disconnect();
    }
  });

  it('keeps the auto-pipelines of the routed client apart from those of the raw client', async () => {
    const rk = key('auto');
    const rawAuto = new Redis({ host: '127.0.0.1', port: 6379, enableAutoPipelining: true });
    const routedAuto = routedRedis(rawAuto);
    try {
      await withRoutingKey(rk, async () => {
        // Queued in the same tick: each joins its own client's pipeline.
        await Promise.all([rawAuto.get(`none:${RUN}`), routedAuto.set(`routed:${RUN}`, '1')]);
        await Promise.all([routedAuto.get(`none:${RUN}`), rawAuto.set(`raw:${RUN}`, '1')]);
      });
      expect(await raw.get(`${rk}:routed:${RUN}`)).toBe('1');
      expect(await raw.get(`raw:${RUN}`)).toBe('1');
      expect(await raw.exists(`routed:${RUN}`, `${rk}:raw:${RUN}`)).toBe(0);
    } finally {
      rawAuto.disconnect();
    }
  });

  it('does not route again a command its pipeline queues a second time', async () => {
    const rk = key('requeue');
    const pipeline = withRoutingKey(rk, () => redis.pipeline().incr(`n:${RUN}`));
    // What a Cluster pipeline does to follow a redirection: queue its commands again.
    const internals = pipeline as unknown as { _queue: object[]; sendCommand(command: object): unknown };
    withRoutingKey(key('other'), () => internals.sendCommand(internals._queue[0]!));
    await pipeline.exec();
    expect(await raw.get(`${rk}:n:${RUN}`)).toBe('2');
    expect(await physicalKeys()).not.toContainEqual(expect.stringContaining(`:${rk}:n:`));
  });

  it('refuses commands whose keys the table cannot locate, in a namespace', async () => {
    const rk = key('refuse');
    const refused: Array<() => Promise<unknown>> = [
      () => redis.flushdb(),
      () => redis.randomkey(),
      () => redis.dbsize(),
    ];
    for (const run of refused) {
      await expect(withRoutingKey(rk, run)).rejects.toMatchObject({ code: 'ERR_UNROUTABLE_COMMAND' });
    }
    await expect(withRoutingKey(rk, () => redis.call('JSON.GET', 'doc'))).rejects.toMatchObject({
      code: 'ERR_UNROUTABLE_COMMAND',
    });
    expect(() => withRoutingKey(rk, () => redis.pipeline().set('a', '1').dbsize())).toThrow(
      /DBSIZE is refused/,
    );
    // Keyless commands that do not touch the keyspace are fine.
    expect(await withRoutingKey(rk, () => redis.ping())).toBe('PONG');
    // A routing key equal to the baseline prefix would share its namespace.
    await expect(withRoutingKey(BASE, () => redis.get('x'))).rejects.toMatchObject({
      code: 'ERR_ROUTING_KEY_CONFLICT',
    });
    // Baseline without a prefix passes everything through.
    const plain = routedRedis(raw, { baselinePrefix: undefined });
    expect(typeof (await plain.dbsize())).toBe('number');
  });

  it('routes clients derived with duplicate(), baseline prefix included', async () => {
    const copy = redis.duplicate();
    try {
      const rk = key('dup');
      await withRoutingKey(rk, () => copy.set(`d:${RUN}`, 'routed'));
      await copy.set(`d:${RUN}`, 'base');
      expect(await raw.get(`${rk}:d:${RUN}`)).toBe('routed');
      expect(await raw.get(`${BASE}:d:${RUN}`)).toBe('base');
      expect(await raw.get(`d:${RUN}`)).toBe(null);
      // The derived client is routed, so it cannot be wrapped a second time.
      expect(() => routedRedis(copy)).toThrow(/already routed/);
    } finally {
      copy.disconnect();
    }
  });

  it('prefixes pub/sub channels', async () => {
    const rk = key('pubsub');
    const subscriber = raw.duplicate();
    const routedSubscriber = routedRedis(subscriber);
    const received: Array<[string, string]> = [];
    const got = new Promise<void>((resolve) => {
      subscriber.on('message', (channel: string, message: string) => {
        received.push([channel, message]);
        resolve();
      });
    });
    await withRoutingKey(rk, () => routedSubscriber.subscribe(`ch:${RUN}`));
    // A baseline publish to the bare name does not reach the sandbox's subscriber.
    await withRoutingKey(undefined, () => raw.publish(`ch:${RUN}`, 'baseline'));
    expect(await withRoutingKey(rk, () => redis.publish(`ch:${RUN}`, 'routed'))).toBe(1);
    await got;
    expect(received).toEqual([[`${rk}:ch:${RUN}`, 'routed']]);
    subscriber.disconnect();
  });

  it('1,000 concurrent operations over 20 keys and baseline never cross', async () => {
    const client = routedRedis(new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true }), {
      baselinePrefix: BASE,
    });
    const keys = [...Array.from({ length: 20 }, (_, i) => key(`c${i}`)), undefined];
    const mismatches: string[] = [];
    // The connection is opened from inside a routed context: its socket callbacks run there.
    await withRoutingKey(keys[0], () => client.connect());
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) => {
        const rk = keys[i % keys.length];
        const tag = rk ?? 'baseline';
        return withRoutingKey(rk, async () => {
          await new Promise((r) => setImmediate(r));
          await client.rpush(`list:${RUN}`, `${tag}#${i}`);
          if (getRoutingKey() !== rk) mismatches.push(`after rpush ${i}`);
          const value = await client.incr(`count:${RUN}`);
          if (getRoutingKey() !== rk) mismatches.push(`after incr ${i}`);
          await new Promise<void>((resolve) =>
            client.get(`count:${RUN}`, () => {
              if (getRoutingKey() !== rk) mismatches.push(`in callback ${i}`);
              resolve();
            }),
          );
          return value;
        });
      }),
    );
    expect(mismatches).toEqual([]);
    for (const rk of keys) {
      const tag = rk ?? 'baseline';
      const ns = rk ?? BASE;
      const items = await raw.lrange(`${ns}:list:${RUN}`, 0, -1);
      expect(items.length).toBeGreaterThan(40);
      expect(items.every((item) => item.startsWith(`${tag}#`))).toBe(true);
      expect(await raw.get(`${ns}:count:${RUN}`)).toBe(String(items.length));
    }
    expect(await raw.exists(`list:${RUN}`, `count:${RUN}`)).toBe(0);
    client.disconnect();
  });

  it('runs callbacks of commands queued before the connection opens in their own context', async () => {
    // The first command opens the connection; the others wait in ioredis's offline queue.
    const client = routedRedis(new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true }));
    const keys = [...Array.from({ length: 20 }, (_, i) => key(`q${i}`)), undefined];
    const seen = await Promise.all(
      keys.map((rk) =>
        withRoutingKey(rk, async () => {
          const inCallback = await new Promise<string | undefined>((resolve, reject) =>
            client.set(`queued:${RUN}`, rk ?? 'baseline', (error) =>
              error ? reject(error) : resolve(getRoutingKey()),
            ),
          );
          const value = await client.get(`queued:${RUN}`);
          return [inCallback, getRoutingKey(), value];
        }),
      ),
    );
    expect(seen).toEqual(keys.map((rk) => [rk, rk, rk ?? 'baseline']));
    client.disconnect();
  });

  it('connects on the real client: commands queued before it is ready are routed once', async () => {
    const client = routedRedis(new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true }));
    // connect() in one routed context, commands in others while the connection opens.
    const connecting = withRoutingKey(key('c9'), () => client.connect());
    const writes = [key('c1'), key('c2'), undefined].map((rk) =>
      withRoutingKey(rk, () => client.set(`offline:${RUN}`, rk ?? 'baseline')),
    );
    await connecting;
    await Promise.all(writes);
    const physical = (await physicalKeys()).filter((k) => k.includes('offline:'));
    expect(physical).toEqual(
      [`${key('c1')}:offline:${RUN}`, `${key('c2')}:offline:${RUN}`, `offline:${RUN}`].sort(),
    );
    expect(await raw.get(`${key('c1')}:offline:${RUN}`)).toBe(key('c1'));
    client.disconnect();
  });

  it('resolves a command issued in A in A even when B is active as the reply arrives', async () => {
    const a = key('ctxA');
    const b = key('ctxB');
    const client = routedRedis(raw.duplicate());
    // A blocks on its list; B's push produces the reply while B's code is running.
    const waiting = withRoutingKey(a, async () => {
      const reply = await client.blpop(`wake:${RUN}`, 5);
      return { reply, seen: getRoutingKey() };
    });
    await new Promise((r) => setTimeout(r, 50));
    await withRoutingKey(b, () => raw.rpush(`${a}:wake:${RUN}`, 'x'));
    expect(await waiting).toEqual({ reply: [`wake:${RUN}`, 'x'], seen: a });
    client.disconnect();
  });
});
