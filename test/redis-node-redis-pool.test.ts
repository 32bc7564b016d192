// routedRedis on node-redis 5 client pools (`createClientPool()`, `client.createPool()`), against the
// machine's Redis: what each command physically wrote is read back with a raw client.
import { randomBytes } from 'node:crypto';
import { type CommandParser, createClient, createClientPool, defineScript, RESP_TYPES } from 'redis';
import { getRoutingKey, withRoutingKey } from 'routing-context';
import { routedRedis } from 'routing-context/redis';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';

const RUN = randomBytes(4).toString('hex');
const key = (i: number | string) => `pk${RUN}-${i}`;
const BASE = `pbase${RUN}`;
const URL = 'redis://127.0.0.1:6379';

const setKey = defineScript({
  NUMBER_OF_KEYS: 1,
  SCRIPT: "return redis.call('SET', KEYS[1], ARGV[1])",
  parseCommand(parser: CommandParser, name: string, value: string) {
    parser.pushKey(name);
    parser.push(value);
  },
  transformReply: (reply: unknown) => reply as string,
});

type Client = ReturnType<typeof createClient>;
type Pool = ReturnType<typeof createClientPool>;
let raw: Client;
let rawPool: Pool;
let pool: Pool;
/** At most one member: every command queues behind the one before, whatever its context. */
let narrowRaw: Pool;
let narrow: Pool;

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
  rawPool = createClientPool({ url: URL }, { minimum: 1, maximum: 4 });
  await rawPool.connect();
  pool = routedRedis(rawPool, { baselinePrefix: BASE });
  narrowRaw = createClientPool({ url: URL }, { minimum: 1, maximum: 1, acquireTimeout: 30_000 });
  await narrowRaw.connect();
  narrow = routedRedis(narrowRaw);
});

afterAll(async () => {
  const keys = await physicalKeys();
  if (keys.length > 0) await raw.del(keys);
  await Promise.all([rawPool.close(), narrowRaw.close()]);
  raw.destroy();
});

describe('routedRedis(node-redis pool)', () => {
  it('keeps the pool type', () => {
    expectTypeOf(routedRedis(rawPool)).toEqualTypeOf<Pool>();
  });

  it('prefixes every key argument of commands, sendCommand and EVAL, as a raw client sees it', async () => {
    const rk = key('phys');
    await withRoutingKey(rk, async () => {
      await pool.set(`s:${RUN}`, 'v1');
      await pool.mSet([
        [`m1:${RUN}`, 'a'],
        [`m2:${RUN}`, 'b'],
      ]);
      await pool.eval("return redis.call('SET', KEYS[1], ARGV[1])", {
        keys: [`e:${RUN}`],
        arguments: ['ev'],
      });
      await pool.sendCommand(['SET', `raw:${RUN}`, 'sent']);
      expect(await pool.mGet([`m1:${RUN}`, `m2:${RUN}`, `s:${RUN}`])).toEqual(['a', 'b', 'v1']);
      expect(await pool.sendCommand(['GET', `raw:${RUN}`])).toBe('sent');
      // KEYS is confined to the namespace and its reply stripped back.
      expect((await pool.keys(`*:${RUN}`)).sort()).toEqual([
        `e:${RUN}`,
        `m1:${RUN}`,
        `m2:${RUN}`,
        `raw:${RUN}`,
        `s:${RUN}`,
      ]);
    });
    await pool.set(`s:${RUN}`, 'baseline');
    expect(await raw.get(`${rk}:s:${RUN}`)).toBe('v1');
    expect(await raw.get(`${rk}:e:${RUN}`)).toBe('ev');
    expect(await raw.get(`${rk}:raw:${RUN}`)).toBe('sent');
    expect(await raw.get(`${BASE}:s:${RUN}`)).toBe('baseline');
    expect(await raw.get(`s:${RUN}`)).toBeNull();
    // The raw pool is not changed.
    await withRoutingKey(rk, () => rawPool.set(`plain:${RUN}`, 'p'));
    expect(await raw.get(`plain:${RUN}`)).toBe('p');
  });

  it('routes each queued command with the key of the context that sent it, not of the one that frees a client', async () => {
    // One member: all but the first command wait in the pool's queue and run when the command
    // before returns the client, in that command's context.
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 200; i++) {
      const rk = i % 21 === 20 ? undefined : key(`q${i % 21}`);
      const write = () => narrow.set(`q:${RUN}:${i}`, rk ?? 'baseline');
      writes.push(rk === undefined ? write() : withRoutingKey(rk, write));
    }
    await Promise.all(writes);
    for (let i = 0; i < 200; i++) {
      const rk = i % 21 === 20 ? undefined : key(`q${i % 21}`);
      const physical = rk === undefined ? `q:${RUN}:${i}` : `${rk}:q:${RUN}:${i}`;
      expect(await raw.get(physical), physical).toBe(rk ?? 'baseline');
    }
    expect((await physicalKeys()).filter((k) => k.includes(`q:${RUN}:`))).toHaveLength(200);
  });

  it('runs execute() callbacks in the caller context on a routed member, queued or not', async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        withRoutingKey(key(`x${i % 5}`), () =>
          narrow.execute(async (client) => {
            const seen = getRoutingKey();
            await client.set(`x:${RUN}:${i}`, String(seen));
            await new Promise((resolve) => setTimeout(resolve, 1));
            return [seen, getRoutingKey(), await client.get(`x:${RUN}:${i}`)];
          }),
        ),
      ),
    );
    results.forEach(([seen, after, read], i) => {
      expect([seen, after, read]).toEqual([key(`x${i % 5}`), key(`x${i % 5}`), key(`x${i % 5}`)]);
    });
    for (let i = 0; i < 20; i++)
      expect(await raw.get(`${key(`x${i % 5}`)}:x:${RUN}:${i}`)).toBe(key(`x${i % 5}`));
  });

  it('routes multi and execAsPipeline in the context that queued each command', async () => {
    const a = key('mA');
    const b = key('mB');
    const multi = withRoutingKey(a, () =>
      pool
        .multi()
        .set(`t:${RUN}`, 'a')
        .sendCommand(['SET', `tr:${RUN}`, 'a']),
    );
    withRoutingKey(b, () => multi.set(`t:${RUN}`, 'b').keys(`t*:${RUN}`));
    const replies = await multi.exec();
    expect(replies[3]).toEqual([`t:${RUN}`]);
    const pipeline = withRoutingKey(a, () => pool.multi().get(`t:${RUN}`).get(`tr:${RUN}`));
    expect(await pipeline.execAsPipeline()).toEqual(['a', 'a']);
    expect(await raw.get(`${a}:t:${RUN}`)).toBe('a');
    expect(await raw.get(`${a}:tr:${RUN}`)).toBe('a');
    expect(await raw.get(`${b}:t:${RUN}`)).toBe('b');
    expect(await raw.get(`t:${RUN}`)).toBeNull();
  });

  it('refuses a command whose keys it cannot place, in a namespace', async () => {
    await expect(withRoutingKey(key('ref'), () => pool.randomKey())).rejects.toMatchObject({
      code: 'ERR_UNROUTABLE_COMMAND',
    });
    await expect(withRoutingKey(key('ref'), () => pool.sendCommand(['DBSIZE']))).rejects.toMatchObject({
      code: 'ERR_UNROUTABLE_COMMAND',
    });
  });

  it('routes pools derived from a routed pool (withTypeMapping)', async () => {
    const rk = key('tm');
    const buffers = pool.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
    await withRoutingKey(rk, () => buffers.set(`tm:${RUN}`, 'bytes'));
    expect(await raw.get(`${rk}:tm:${RUN}`)).toBe('bytes');
    const read = await withRoutingKey(rk, () => buffers.get(`tm:${RUN}`));
    expect(Buffer.isBuffer(read) && read.toString()).toBe('bytes');
  });

  it('routes the pool a routed client creates, scripts included', async () => {
    const client = routedRedis(createClient({ url: URL, scripts: { setKey } }));
    const created = client.createPool({ minimum: 1, maximum: 2 });
    await created.connect();
    try {
      const rk = key('cp');
      await withRoutingKey(rk, async () => {
        await created.set(`cp:${RUN}`, 'c');
        await created.setKey(`cps:${RUN}`, 'script');
        await created.multi().setKey(`cpm:${RUN}`, 'in-multi').set(`cpm2:${RUN}`, 'm').exec();
      });
      expect(await raw.get(`${rk}:cp:${RUN}`)).toBe('c');
      expect(await raw.get(`${rk}:cps:${RUN}`)).toBe('script');
      expect(await raw.get(`${rk}:cpm:${RUN}`)).toBe('in-multi');
      expect(await raw.get(`${rk}:cpm2:${RUN}`)).toBe('m');
      expect(await raw.get(`cp:${RUN}`)).toBeNull();
      expect(await raw.get(`cps:${RUN}`)).toBeNull();
    } finally {
      await created.close();
    }
  });

  it('refuses at exec a script queued in a namespace when the pool does not tell its scripts', async () => {
    const scriptedRaw = createClientPool({ url: URL, scripts: { setKey } }, { minimum: 1, maximum: 1 });
    await scriptedRaw.connect();
    const scripted = routedRedis(scriptedRaw);
    try {
      const rk = key('ps');
      // Called directly, a script is routed like any command.
      await withRoutingKey(rk, () => scripted.setKey(`ps:${RUN}`, 'direct'));
      expect(await raw.get(`${rk}:ps:${RUN}`)).toBe('direct');
      // Queued in a multi, its keys are out of reach: nothing is sent.
      const multi = withRoutingKey(rk, () =>
        scripted.multi().set(`psm:${RUN}`, 'x').setKey(`psm2:${RUN}`, 'y'),
      );
      await expect(withRoutingKey(rk, () => multi.exec())).rejects.toMatchObject({
        code: 'ERR_UNROUTABLE_COMMAND',
      });
      expect(await raw.get(`${rk}:psm:${RUN}`)).toBeNull();
      expect(await raw.get(`psm2:${RUN}`)).toBeNull();
    } finally {
      await scriptedRaw.close();
    }
  });

  it('keeps 1,000 concurrent operations over 20 keys and baseline apart', async () => {
    const ops: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) {
      const n = i % 21;
      const rk = n === 20 ? undefined : key(`c${n}`);
      const op = async () => {
        await pool.incr(`c:${RUN}`);
        const value = await pool.get(`c:${RUN}`);
        expect(Number(value)).toBeGreaterThan(0);
      };
      ops.push(rk === undefined ? op() : withRoutingKey(rk, op));
    }
    await Promise.all(ops);
    let total = 0;
    for (let n = 0; n < 20; n++) {
      const count = Number(await raw.get(`${key(`c${n}`)}:c:${RUN}`));
      expect(count).toBe(n < 1000 % 21 ? 48 : 47);
      total += count;
    }
    const baseline = Number(await raw.get(`${BASE}:c:${RUN}`));
    expect(baseline).toBe(47);
    expect(total + baseline).toBe(1000);
  });
});
