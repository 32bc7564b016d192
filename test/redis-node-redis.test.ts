import { randomBytes } from 'node:crypto';
import { type CommandParser, createClient, defineScript } from 'redis';
import { getRoutingKey, withRoutingKey } from 'routing-context';
import { routedRedis } from 'routing-context/redis';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';

const RUN = randomBytes(4).toString('hex');
const key = (i: number | string) => `rk${RUN}-${i}`;
const BASE = `base${RUN}`;
const URL = 'redis://127.0.0.1:6379';

type Client = ReturnType<typeof createClient>;
let raw: Client;
let redis: Client;

async function physicalKeys(): Promise<string[]> {
  const found: string[] = [];
  for await (const keys of raw.scanIterator({ MATCH: `*${RUN}*`, COUNT: 1000 })) found.push(...keys);
  return found.sort();
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
  raw.destroy();
});

describe('routedRedis(node-redis)', () => {
  it('keeps the client type', () => {
    expectTypeOf(routedRedis(raw)).toEqualTypeOf<Client>();
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

  it('confines SCAN and KEYS to the namespace and strips the prefix back', async () => {
    const a = key('scanA');
    const b = key('scanB');
    await withRoutingKey(a, () => redis.mSet({ [`k1:${RUN}`]: '1', [`k2:${RUN}`]: '2' }));
    await withRoutingKey(b, () => redis.set(`k1:${RUN}`, 'b'));
    await redis.set(`k9:${RUN}`, 'base');
    await raw.set(`k8:${RUN}`, 'unprefixed');
    const scanAll = async () => {
      const out: string[] = [];
      for await (const keys of redis.scanIterator({ COUNT: 500 })) out.push(...keys);
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
    const scanned = await withRoutingKey(a, () => redis.scan('0', { MATCH: `k2:${RUN}`, COUNT: 100000 }));
    expect(scanned.keys).toEqual([`k2:${RUN}`]);
  });

  it('strips key names from BLPOP replies', async () => {
    const client = routedRedis(raw.duplicate());
    await client.connect();
    await withRoutingKey(key('pop'), async () => {
      await client.rPush(`q:${RUN}`, 'job');
      expect(await client.blPop(`q:${RUN}`, 1)).toEqual({ key: `q:${RUN}`, element: 'job' });
    });
    client.destroy();
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
    const watcher = routedRedis(raw.duplicate());
    await watcher.connect();
    await withRoutingKey(a, async () => {
      await watcher.watch(`t:${RUN}`);
      await raw.set(`${a}:t:${RUN}`, 'changed');
      await expect(watcher.multi().get(`t:${RUN}`).exec()).rejects.toThrow(/WATCH|aborted/i);
    });
    watcher.destroy();
  });

  describe('MULTI paths node-redis queues without addCommand', () => {
    const setKey = defineScript({
      NUMBER_OF_KEYS: 1,
      SCRIPT: "return redis.call('SET', KEYS[1], ARGV[1])",
      parseCommand(parser: CommandParser, name: string, value: string) {
        parser.pushKey(name);
        parser.push(value);
      },
      transformReply: (reply: unknown) => reply as string,
    });
    const incrKey = defineScript({
      NUMBER_OF_KEYS: 1,
      SCRIPT: "return redis.call('INCR', KEYS[1])",
      parseCommand(parser: CommandParser, name: string) {
        parser.pushKey(name);
      },
      transformReply: (reply: unknown) => reply as number,
    });
    const scripted = routedRedis(createClient({ url: URL, scripts: { setKey, incrKey } }), {
      baselinePrefix: BASE,
    });

    beforeAll(async () => {
      scripted.on('error', () => {});
      await scripted.connect();
    });

    afterAll(() => {
      scripted.destroy();
    });

    it('routes multi.sendCommand and scripts in the context that queued each, for exec and execAsPipeline', async () => {
      const a = key('qA');
      const b = key('qB');
      const multi = withRoutingKey(a, () =>
        scripted
          .multi()
          .sendCommand(['SET', `raw:${RUN}`, 'a'])
          .setKey(`script:${RUN}`, 'a'),
      );
      withRoutingKey(b, () =>
        multi
          .setKey(`script:${RUN}`, 'b')
          .sendCommand(['SET', `raw:${RUN}`, 'b'])
          .sendCommand(['KEYS', `raw*:${RUN}`]),
      );
      // Sent from another context: each command keeps the namespace it was queued in.
      expect(await withRoutingKey(key('qC'), () => multi.exec())).toEqual([
        'OK',
        'OK',
        'OK',
        'OK',
        [`raw:${RUN}`],
      ]);
      const pipeline = withRoutingKey(b, () =>
        scripted.multi().setKey(`piped:${RUN}`, 'b').setKey(`piped2:${RUN}`, 'b').get(`piped:${RUN}`),
      );
      expect(await withRoutingKey(a, () => pipeline.execAsPipeline())).toEqual(['OK', 'OK', 'b']);
      await scripted
        .multi()
        .setKey(`script:${RUN}`, 'base')
        .sendCommand(['SET', `raw:${RUN}`, 'base'])
        .exec();
      for (const [ns, name, value] of [
        [a, 'raw', 'a'],
        [a, 'script', 'a'],
        [b, 'raw', 'b'],
        [b, 'script', 'b'],
        [b, 'piped', 'b'],
        [b, 'piped2', 'b'],
        [BASE, 'script', 'base'],
        [BASE, 'raw', 'base'],
      ]) {
        expect(await raw.get(`${ns}:${name}:${RUN}`)).toBe(value);
      }
      expect(await raw.exists([`raw:${RUN}`, `script:${RUN}`, `piped:${RUN}`, `piped2:${RUN}`])).toBe(0);
    });

    it('sends the same routed commands when exec runs twice', async () => {
      const rk = key('twice');
      const multi = withRoutingKey(rk, () =>
        scripted
          .multi()
          .incr(`n:${RUN}`)
          .incrKey(`s:${RUN}`)
          .sendCommand(['INCR', `r:${RUN}`]),
      );
      expect(await multi.exec()).toEqual([1, 1, 1]);
      expect(await multi.exec()).toEqual([2, 2, 2]);
      expect(await multi.execAsPipeline()).toEqual([3, 3, 3]);
      for (const name of ['n', 's', 'r']) {
        expect(await raw.get(`${rk}:${name}:${RUN}`)).toBe('3');
        expect(await raw.exists([`${name}:${RUN}`, `${rk}:${rk}:${name}:${RUN}`])).toBe(0);
      }
    });

    it('leaves an argument array given to multi.addCommand as it was', async () => {
      const rk = key('userArgs');
      const args = ['SET', `user:${RUN}`, 'v'];
      const multi = withRoutingKey(rk, () => scripted.multi().addCommand(args).addCommand(args));
      expect(await multi.exec()).toEqual(['OK', 'OK']);
      expect(args).toEqual(['SET', `user:${RUN}`, 'v']);
      expect(await raw.get(`${rk}:user:${RUN}`)).toBe('v');
      expect(await raw.exists(`user:${RUN}`)).toBe(0);
    });

    it('refuses to send a multi holding commands queued past routedRedis', async () => {
      const rk = key('unknownPath');
      const multi = withRoutingKey(rk, () => scripted.multi().set(`known:${RUN}`, '1'));
      // node-redis's own addCommand, under the routed subclass: what a queue path routedRedis does
      // not know (a future node-redis method) would do.
      const unrouted = Object.getPrototypeOf(Object.getPrototypeOf(multi)) as {
        addCommand(this: unknown, args: string[]): unknown;
      };
      unrouted.addCommand.call(multi, ['SET', `unknown:${RUN}`, '1']);
      await expect(withRoutingKey(rk, () => multi.exec())).rejects.toMatchObject({
        code: 'ERR_UNROUTABLE_COMMAND',
      });
      await expect(withRoutingKey(undefined, () => multi.execAsPipeline())).rejects.toThrow(
        /routedRedis routed 1/,
      );
      expect(await raw.exists([`known:${RUN}`, `unknown:${RUN}`, `${rk}:known:${RUN}`])).toBe(0);
      // With no namespace anywhere, there is nothing to keep apart.
      const plain = routedRedis(raw, { baselinePrefix: undefined });
      const baseline = plain.multi().set(`plain1:${RUN}`, '1');
      unrouted.addCommand.call(baseline, ['SET', `plain2:${RUN}`, '2']);
      expect(await withRoutingKey(undefined, () => baseline.exec())).toEqual(['OK', 'OK']);
    });
  });

  it('refuses commands whose keys the table cannot locate, in a namespace', async () => {
    const rk = key('refuse');
    const refused: Array<() => Promise<unknown>> = [
      () => redis.flushDb(),
      () => redis.randomKey(),
      () => redis.dbSize(),
      () => redis.sendCommand(['JSON.GET', 'doc']),
    ];
    for (const run of refused) {
      await expect(withRoutingKey(rk, run)).rejects.toMatchObject({ code: 'ERR_UNROUTABLE_COMMAND' });
    }
    expect(() => withRoutingKey(rk, () => redis.multi().set('a', '1').dbSize())).toThrow(/DBSIZE is refused/);
    expect(await withRoutingKey(rk, () => redis.ping())).toBe('PONG');
    const plain = routedRedis(raw, { baselinePrefix: undefined });
    expect(typeof (await plain.dbSize())).toBe('number');
  });

  it('routes derived clients: duplicate(), withTypeMapping(), withCommandOptions(), asap()', async () => {
    const rk = key('derived');
    const copy = redis.duplicate();
    copy.on('error', () => {});
    await copy.connect();
    try {
      await withRoutingKey(rk, async () => {
        await copy.set(`dup:${RUN}`, 'a');
        await redis.withTypeMapping({}).set(`tm:${RUN}`, 'b');
        await redis.withCommandOptions({}).set(`co:${RUN}`, 'c');
        await redis.asap().set(`asap:${RUN}`, 'd');
      });
      await copy.set(`dup:${RUN}`, 'base');
      for (const [name, value] of [
        ['dup', 'a'],
        ['tm', 'b'],
        ['co', 'c'],
        ['asap', 'd'],
      ]) {
        expect(await raw.get(`${rk}:${name}:${RUN}`)).toBe(value);
        expect(await raw.get(`${name}:${RUN}`)).toBe(null);
      }
      expect(await raw.get(`${BASE}:dup:${RUN}`)).toBe('base');
    } finally {
      copy.destroy();
    }
  });

  it('prefixes pub/sub channels', async () => {
    const rk = key('pubsub');
    const subscriber = routedRedis(raw.duplicate());
    await subscriber.connect();
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
    subscriber.destroy();
  });

  it('1,000 concurrent operations over 20 keys and baseline never cross', async () => {
    const client = routedRedis(createClient({ url: URL }), { baselinePrefix: BASE });
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
    client.destroy();
  });

  it('resolves a command issued in A in A even when B is active as the reply arrives', async () => {
    const a = key('ctxA');
    const b = key('ctxB');
    const client = routedRedis(raw.duplicate());
    await withRoutingKey(b, () => client.connect());
    const waiting = withRoutingKey(a, async () => {
      const reply = await client.blPop(`wake:${RUN}`, 5);
      return { reply, seen: getRoutingKey() };
    });
    await new Promise((r) => setTimeout(r, 50));
    await withRoutingKey(b, () => raw.rPush(`${a}:wake:${RUN}`, 'x'));
    expect(await waiting).toEqual({ reply: { key: `wake:${RUN}`, element: 'x' }, seen: a });
    client.destroy();
  });
});
