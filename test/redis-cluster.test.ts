// routedRedis on a real Redis Cluster: three masters started from the machine's redis-server
// (test/helpers/redis-cluster.ts). Physical keys are read back with an unrouted Cluster client or
// straight from the node that holds them. A cluster that cannot start fails every test here.
import { Cluster, type ClusterOptions } from 'ioredis';
import { createCluster } from 'redis';
import { createCluster as createCluster4 } from 'redis4';
import { getRoutingKey, withRoutingKey } from 'routing-context';
import { routedRedis } from 'routing-context/redis';
import { afterAll, beforeAll, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { type RedisCluster, startRedisCluster } from './helpers/redis-cluster.js';

const RK = 'pr-1';

let cluster: RedisCluster;
/** Why the cluster could not start: every test fails with it. */
let startFailure: unknown;
/** Unrouted: reads and writes physical keys. */
let raw: Cluster;
let redis: Cluster;
const opened: Cluster[] = [];

async function connectCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const client = new Cluster([...cluster.nodes], { lazyConnect: true, ...options });
  opened.push(client);
  // Resolves once the slot map is loaded and every node is ready.
  await client.connect();
  return client;
}

/** A node other than `port`. */
function otherThan(port: number): number {
  return cluster.ports.find((p) => p !== port)!;
}

beforeAll(async () => {
  try {
    cluster = await startRedisCluster();
    raw = await connectCluster();
    redis = routedRedis(raw);
  } catch (error) {
    startFailure = error;
  }
});

beforeEach(() => {
  if (startFailure !== undefined) throw startFailure;
});

afterAll(async () => {
  for (const client of opened) client.disconnect();
  await cluster?.stop();
});

describe('routedRedis(ioredis Cluster)', () => {
  it('prefixes single-key commands; baseline passes through or uses baselinePrefix', async () => {
    expectTypeOf(redis).toEqualTypeOf<Cluster>();
    expect(redis).toBeInstanceOf(Cluster);
    await withRoutingKey(RK, async () => {
      expect(await redis.set('user:7', 'routed')).toBe('OK');
      expect(await redis.get('user:7')).toBe('routed');
      expect(await redis.incr('visits')).toBe(1);
      expect(await redis.hset('profile:7', 'name', 'ada')).toBe(1);
    });
    expect(await redis.set('user:7', 'baseline')).toBe('OK');
    const withPrefix = routedRedis(raw, { baselinePrefix: 'main' });
    expect(await withPrefix.set('user:7', 'main')).toBe('OK');

    expect(await raw.get(`${RK}:user:7`)).toBe('routed');
    expect(await raw.get(`${RK}:visits`)).toBe('1');
    expect(await raw.hget(`${RK}:profile:7`, 'name')).toBe('ada');
    expect(await raw.get('user:7')).toBe('baseline');
    expect(await raw.get('main:user:7')).toBe('main');
    expect(await raw.exists('visits')).toBe(0);
    expect(await raw.exists('profile:7')).toBe(0);
    // The prefixed key lives on the master of its own slot, and only there.
    const slot = await cluster.keySlot(`${RK}:user:7`);
    expect(await cluster.nodesHolding(`${RK}:user:7`)).toEqual([await cluster.slotOwner(slot)]);
    // Commands that would touch the whole keyspace are refused in a namespace, as on one node.
    await expect(withRoutingKey(RK, () => redis.dbsize())).rejects.toMatchObject({
      code: 'ERR_UNROUTABLE_COMMAND',
    });
  });

  it('connects through the routed client in a routed context or with baselinePrefix, queued commands routed once', async () => {
    for (const [context, options] of [
      [RK, undefined],
      [undefined, { baselinePrefix: 'main' }],
    ] as const) {
      const client = new Cluster([...cluster.nodes], { lazyConnect: true });
      opened.push(client);
      const routed = routedRedis(client, options);
      // The ready check (CLUSTER INFO) has no key: through the routed client it would be refused.
      const connecting = withRoutingKey(context, () => routed.connect());
      // Queued while the cluster is not ready yet, in another context.
      const queued = withRoutingKey('pr-2', () => routed.set('{cq}:k', 'queued'));
      await connecting;
      expect(await queued).toBe('OK');
      expect(await raw.get('pr-2:{cq}:k')).toBe('queued');
      expect(await raw.exists(`${context ?? 'main'}:pr-2:{cq}:k`)).toBe(0);
    }
  });

  it('keeps multi-key commands on one hash tag in one slot', async () => {
    // The prefix is outside the braces: the hash tag, hence the slot, is unchanged.
    expect(await cluster.keySlot(`${RK}:{u1}:a`)).toBe(await cluster.keySlot('{u1}:a'));
    await withRoutingKey(RK, async () => {
      expect(await redis.mset('{u1}:a', '1', '{u1}:b', '2')).toBe('OK');
      expect(await redis.mget('{u1}:a', '{u1}:b', '{u1}:missing')).toEqual(['1', '2', null]);
      expect(await redis.exists('{u1}:a', '{u1}:b')).toBe(2);
      expect(await redis.rename('{u1}:b', '{u1}:c')).toBe('OK');
      expect(await redis.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, '{u1}:e', 'ev')).toBe('OK');
    });
    expect(await redis.mset('{u1}:a', 'base-a', '{u1}:b', 'base-b')).toBe('OK');

    expect(await raw.mget(`${RK}:{u1}:a`, `${RK}:{u1}:c`, `${RK}:{u1}:e`)).toEqual(['1', '2', 'ev']);
    expect(await raw.exists(`${RK}:{u1}:b`)).toBe(0);
    expect(await raw.mget('{u1}:a', '{u1}:b')).toEqual(['base-a', 'base-b']);
    expect(await raw.exists('{u1}:c', '{u1}:e')).toBe(0);
    const owner = await cluster.slotOwner(await cluster.keySlot('{u1}'));
    for (const name of [`${RK}:{u1}:a`, `${RK}:{u1}:c`, `${RK}:{u1}:e`, '{u1}:a', '{u1}:b']) {
      expect(await cluster.nodesHolding(name)).toEqual([owner]);
    }
    // Keys without a common hash tag are refused by the server, as they would be unrouted.
    expect(await cluster.keySlot(`${RK}:x1`)).not.toBe(await cluster.keySlot(`${RK}:x2`));
    await expect(withRoutingKey(RK, () => redis.mset('x1', '1', 'x2', '2'))).rejects.toThrow(/CROSSSLOT/);
  });

  it('prefixes pipelines and MULTI on one hash tag, in the context that queued each command', async () => {
    const piped = await withRoutingKey(RK, () =>
      redis.pipeline().set('{cart}:items', '3').incr('{cart}:n').get('{cart}:items').exec(),
    );
    expect(piped).toEqual([
      [null, 'OK'],
      [null, 1],
      [null, '3'],
    ]);
    const tx = await withRoutingKey(RK, () => redis.multi().set('{cart}:tx', 'a').incr('{cart}:n').exec());
    expect(tx).toEqual([
      [null, 'OK'],
      [null, 2],
    ]);
    const mixed = withRoutingKey('pr-2', () => redis.pipeline().set('{cart}:who', 'pr-2'));
    withRoutingKey(undefined, () => mixed.set('{cart}:who', 'baseline'));
    expect(await withRoutingKey(RK, () => mixed.exec())).toEqual([
      [null, 'OK'],
      [null, 'OK'],
    ]);

    expect(await raw.mget(`${RK}:{cart}:items`, `${RK}:{cart}:n`, `${RK}:{cart}:tx`)).toEqual([
      '3',
      '2',
      'a',
    ]);
    expect(await raw.get('pr-2:{cart}:who')).toBe('pr-2');
    expect(await raw.get('{cart}:who')).toBe('baseline');
    expect(await raw.exists('{cart}:items', '{cart}:n', '{cart}:tx', `${RK}:{cart}:who`)).toBe(0);
  });

  it('routes clients derived with duplicate()', async () => {
    const copy = redis.duplicate();
    opened.push(copy);
    await withRoutingKey(RK, () => copy.set('dup', 'routed'));
    expect(await raw.get(`${RK}:dup`)).toBe('routed');
    expect(await raw.exists('dup')).toBe(0);
    expect(() => routedRedis(copy)).toThrow(/already routed/);
  });

  it('confines SCAN and KEYS on every master to the namespace, through nodes()', async () => {
    const names = Array.from({ length: 30 }, (_, i) => `scan:${i}`);
    await withRoutingKey(RK, () => Promise.all(names.map((name) => redis.set(name, '1'))));
    await withRoutingKey('pr-2', () => Promise.all(names.slice(0, 5).map((name) => redis.set(name, '2'))));
    await Promise.all(names.slice(0, 3).map((name) => redis.set(name, 'baseline')));
    // The namespace's keys are spread over more than one master.
    const holding = await Promise.all(raw.nodes('master').map((node) => node.keys(`${RK}:scan:*`)));
    expect(holding.filter((keys) => keys.length > 0).length).toBeGreaterThan(1);
    expect(holding.flat()).toHaveLength(30);

    const masters = redis.nodes('master');
    expect(masters).toHaveLength(3);
    // One routed client per node, the same on every call.
    expect(new Set(redis.nodes('master'))).toEqual(new Set(masters));
    const scanned = await withRoutingKey(RK, async () => {
      const found: string[] = [];
      for (const node of redis.nodes('master')) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', 'scan:*', 'COUNT', 1000);
          cursor = next;
          found.push(...keys);
        } while (cursor !== '0');
      }
      return found;
    });
    expect(scanned.sort()).toEqual([...names].sort());
    const listed = await withRoutingKey('pr-2', async () =>
      (await Promise.all(redis.nodes('master').map((node) => node.keys('scan:*')))).flat(),
    );
    expect(listed.sort()).toEqual(names.slice(0, 5).sort());
    // A command with a key sent to a node routes its key too (the node answers MOVED when the
    // prefixed key lives elsewhere, as for any key).
    const owner = await cluster.slotOwner(await cluster.keySlot(`${RK}:scan:0`));
    const node = redis.nodes('master').find((n) => n.options.port === owner)!;
    expect(await withRoutingKey(RK, () => node.get('scan:0'))).toBe('1');
    // The raw cluster's nodes stay unrouted.
    expect(
      await raw
        .nodes('master')
        .find((n) => n.options.port === owner)!
        .get(`${RK}:scan:0`),
    ).toBe('1');
  });

  it('prefixes pub/sub channels on a cluster: a subscriber hears only its own namespace', async () => {
    const subscriber = routedRedis(await connectCluster());
    const heard: [string, string][] = [];
    subscriber.on('message', (channel: string, message: string) => heard.push([channel, message]));
    await withRoutingKey(RK, () => subscriber.subscribe('news'));
    await withRoutingKey('pr-2', () => redis.publish('news', 'for pr-2'));
    await redis.publish('news', 'for baseline');
    await withRoutingKey(RK, () => redis.publish('news', 'for pr-1'));
    const deadline = Date.now() + 5_000;
    while (heard.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Published after the others: a message of another namespace would have come by now. PUBLISH
    // goes to any node, so the two may arrive in either order.
    await withRoutingKey(RK, () => redis.publish('news', 'last'));
    while (heard.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 50));
    expect(heard.sort()).toEqual([
      [`${RK}:news`, 'for pr-1'],
      [`${RK}:news`, 'last'],
    ]);
  });

  it('200 concurrent operations over 10 routing keys and baseline never cross', async () => {
    const client = routedRedis(await connectCluster());
    const keys = [...Array.from({ length: 10 }, (_, i) => `pr-c${i}`), undefined];
    const mismatches: string[] = [];
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const rk = keys[i % keys.length];
        const value = `${rk ?? 'baseline'}#${i}`;
        return withRoutingKey(rk, async () => {
          await new Promise((r) => setImmediate(r));
          await client.set(`item:${i}`, value);
          if (getRoutingKey() !== rk) mismatches.push(`after set ${i}`);
          await client.rpush('log', value);
          const read = await client.get(`item:${i}`);
          if (read !== value) mismatches.push(`item:${i} read ${read}, wrote ${value}`);
          const piped = await client.pipeline().set(`{o${i}}:a`, value).get(`{o${i}}:a`).exec();
          if (piped?.[1]?.[1] !== value) mismatches.push(`pipeline ${i} read ${String(piped?.[1]?.[1])}`);
          if (getRoutingKey() !== rk) mismatches.push(`after pipeline ${i}`);
        });
      }),
    );
    expect(mismatches).toEqual([]);

    const owners = new Set<number>();
    for (const [index, rk] of keys.entries()) {
      const prefix = rk === undefined ? '' : `${rk}:`;
      const tag = rk ?? 'baseline';
      const mine = Array.from({ length: 200 }, (_, i) => i).filter((i) => i % keys.length === index);
      const log = await raw.lrange(`${prefix}log`, 0, -1);
      expect(log.sort()).toEqual(mine.map((i) => `${tag}#${i}`).sort());
      for (const i of mine) {
        expect(await raw.get(`${prefix}item:${i}`)).toBe(`${tag}#${i}`);
        expect(await raw.get(`${prefix}{o${i}}:a`)).toBe(`${tag}#${i}`);
      }
      owners.add(await cluster.slotOwner(await cluster.keySlot(`${prefix}log`)));
    }
    // The namespaces' lists are spread over several masters.
    expect(owners.size).toBeGreaterThan(1);
  });

  describe('redirections', () => {
    // The slot map is refreshed only on a redirection: the client keeps its stale view of a
    // slot moved behind its back, and its next command there gets MOVED (or ASK).
    const stale: ClusterOptions = { slotsRefreshInterval: 0 };

    /**
     * Moves the slot of `physical` to another node behind `client`'s back, checks the client
     * still maps it to the old owner, and returns the slot, both owners and the old owner's MOVED
     * count so far.
     */
    async function moveBehind(client: Cluster, physical: string) {
      const slot = await cluster.keySlot(physical);
      const from = await cluster.slotOwner(slot);
      const to = otherThan(from);
      await cluster.moveSlot(slot, to);
      expect(client.slots[slot]?.[0]).toBe(`127.0.0.1:${from}`);
      return { slot, from, to, movedBefore: await cluster.errorCount(from, 'MOVED') };
    }

    it('follows MOVED for single commands and writes the key prefixed once', async () => {
      const client = await connectCluster(stale);
      const routed = routedRedis(client);
      const physical = `${RK}:moved:single`;
      await withRoutingKey(RK, () => routed.set('moved:single', 'before'));
      const { slot, from, to, movedBefore } = await moveBehind(client, physical);

      await withRoutingKey(RK, async () => {
        expect(await routed.set('moved:single', 'after')).toBe('OK');
        expect(await routed.get('moved:single')).toBe('after');
      });

      expect(await cluster.errorCount(from, 'MOVED')).toBeGreaterThan(movedBefore);
      expect(client.slots[slot]?.[0]).toBe(`127.0.0.1:${to}`);
      expect(await cluster.nodesHolding(physical)).toEqual([to]);
      expect(await cluster.node(to).get(physical)).toBe('after');
      expect(await cluster.allKeys(`*${RK}:${RK}:*`)).toEqual([]);
      expect(await raw.exists('moved:single')).toBe(0);
    });

    it('follows MOVED for a pipeline: the commands it queues again keep a single prefix', async () => {
      const client = await connectCluster(stale);
      const routed = routedRedis(client);
      await withRoutingKey(RK, () => routed.set('{mvp}:a', '0'));
      const { slot, from, to, movedBefore } = await moveBehind(client, `${RK}:{mvp}:a`);

      const result = await withRoutingKey(RK, () =>
        routed.pipeline().set('{mvp}:a', '1').incr('{mvp}:n').get('{mvp}:a').exec(),
      );

      expect(result).toEqual([
        [null, 'OK'],
        [null, 1],
        [null, '1'],
      ]);
      // Each of the three commands was refused by the old owner, then sent again.
      expect(await cluster.errorCount(from, 'MOVED')).toBeGreaterThanOrEqual(movedBefore + 3);
      expect(client.slots[slot]?.[0]).toBe(`127.0.0.1:${to}`);
      expect(await cluster.nodesHolding(`${RK}:{mvp}:a`)).toEqual([to]);
      expect(await cluster.node(to).mget(`${RK}:{mvp}:a`, `${RK}:{mvp}:n`)).toEqual(['1', '1']);
      expect(await cluster.allKeys(`*${RK}:${RK}:*`)).toEqual([]);
      expect(await raw.exists('{mvp}:a', '{mvp}:n')).toBe(0);
    });

    it('follows MOVED for a MULTI transaction, prefixed once', async () => {
      const client = await connectCluster(stale);
      const routed = routedRedis(client);
      const { from, to, movedBefore } = await moveBehind(client, `${RK}:{mvm}:a`);

      const result = await withRoutingKey(RK, () =>
        routed.multi().set('{mvm}:a', 'tx').incr('{mvm}:n').get('{mvm}:a').exec(),
      );

      expect(result).toEqual([
        [null, 'OK'],
        [null, 1],
        [null, 'tx'],
      ]);
      expect(await cluster.errorCount(from, 'MOVED')).toBeGreaterThan(movedBefore);
      expect(await cluster.node(to).mget(`${RK}:{mvm}:a`, `${RK}:{mvm}:n`)).toEqual(['tx', '1']);
      expect(await cluster.allKeys(`*${RK}:${RK}:*`)).toEqual([]);
    });

    it('follows ASK during a slot migration, for a pipeline and single commands, prefixed once', async () => {
      const client = await connectCluster(stale);
      const routed = routedRedis(client);
      await withRoutingKey(RK, () => routed.set('{ask}:old', 'old'));
      const slot = await cluster.keySlot(`${RK}:{ask}:old`);
      const to = otherThan(await cluster.slotOwner(slot));
      const migration = await cluster.startSlotMigration(slot, to);
      let result: unknown;
      let asked: number;
      try {
        // The key is on the new owner already; the old one still owns the slot and answers ASK
        // for the keys it does not have.
        expect(await migration.moveKeys()).toBeGreaterThanOrEqual(1);
        const askBefore = await cluster.errorCount(migration.from, 'ASK');
        result = await withRoutingKey(RK, () =>
          routed.pipeline().get('{ask}:old').set('{ask}:new', 'new').exec(),
        );
        await withRoutingKey(RK, async () => {
          expect(await routed.set('{ask}:single', 's')).toBe('OK');
          expect(await routed.get('{ask}:single')).toBe('s');
        });
        asked = (await cluster.errorCount(migration.from, 'ASK')) - askBefore;
      } finally {
        // The importing node serves the slot to ASKING clients only: finish before reading it.
        await migration.finish();
      }

      expect(result).toEqual([
        [null, 'old'],
        [null, 'OK'],
      ]);
      // The pipeline's two commands and the two single commands were each sent to the old owner first.
      expect(asked).toBeGreaterThanOrEqual(4);
      expect(await cluster.node(to).mget(`${RK}:{ask}:old`, `${RK}:{ask}:new`, `${RK}:{ask}:single`)).toEqual(
        ['old', 'new', 's'],
      );
      expect(await cluster.nodesHolding(`${RK}:{ask}:new`)).toEqual([to]);
      expect(await cluster.allKeys(`*${RK}:${RK}:*`)).toEqual([]);
      expect(await cluster.allKeys('{ask}:*')).toEqual([]);
    });
  });
});

describe('routedRedis(node-redis cluster)', () => {
  it('refuses node-redis 5 and 4 createCluster() clients with a TypeError that says what to use', () => {
    const rootNodes = [{ url: `redis://127.0.0.1:${cluster.ports[0]}` }];
    const refusal =
      /node-redis cluster clients \(createCluster\) are not supported.*ioredis Cluster.*cacheKey\(\)/;
    const v5 = createCluster({ rootNodes });
    expect(() => routedRedis(v5)).toThrow(TypeError);
    expect(() => routedRedis(v5)).toThrow(refusal);
    expect(() => routedRedis(v5.withTypeMapping({}))).toThrow(refusal);
    const v4 = createCluster4({ rootNodes });
    expect(() => routedRedis(v4)).toThrow(TypeError);
    expect(() => routedRedis(v4)).toThrow(refusal);
  });
});
