// A real Redis Cluster for the tests: three masters (no replicas) started from the machine's
// `redis-server` on 127.0.0.1, each in its own temporary directory, joined with
// `redis-cli --cluster create`. Anything that cannot start throws with the reason and the servers'
// last log lines: the tests that need the cluster fail, they are never skipped.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);
const HOST = '127.0.0.1';
/** The cluster bus listens on port + 10000. */
const BUS_OFFSET = 10_000;

export interface ClusterNodeAddress {
  host: string;
  port: number;
}

export interface SlotMigration {
  /** The node that owned the slot. */
  readonly from: number;
  readonly to: number;
  /** Moves every key of the slot to `to` with `MIGRATE`; returns how many. */
  moveKeys(): Promise<number>;
  /** Assigns the slot to `to` on every node and waits until all of them agree. */
  finish(): Promise<void>;
}

export interface RedisCluster {
  readonly nodes: readonly ClusterNodeAddress[];
  readonly ports: readonly number[];
  /** A plain (non-cluster) connection to one node, for checks and administration. */
  node(port: number): Redis;
  /** `CLUSTER KEYSLOT key`. */
  keySlot(key: string): Promise<number>;
  /** The port of the master serving `slot`, as `port` (default: the first node) sees it. */
  slotOwner(slot: number, port?: number): Promise<number>;
  /** The ports of the nodes holding `key`, asked to each node directly. */
  nodesHolding(key: string): Promise<number[]>;
  /** Every key of every node matching `pattern`. */
  allKeys(pattern?: string): Promise<string[]>;
  /** How many `kind` errors (`MOVED`, `ASK`...) `port` has replied since it started. */
  errorCount(port: number, kind: string): Promise<number>;
  /** Starts moving `slot` to `to` (IMPORTING/MIGRATING); keys and ownership move on demand. */
  startSlotMigration(slot: number, to: number): Promise<SlotMigration>;
  /** Moves `slot` with its keys to `to`; returns the previous owner. */
  moveSlot(slot: number, to: number): Promise<number>;
  stop(): Promise<void>;
}

interface Started {
  port: number;
  dir: string;
  child: ChildProcess;
  log: string[];
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/** `count` ports whose cluster bus port (port + 10000) is free too. */
async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count && attempt < 500; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if (ports.some((p) => Math.abs(p - port) < 2 || Math.abs(p + BUS_OFFSET - port) < 2)) continue;
    if ((await canListen(port)) && (await canListen(port + BUS_OFFSET))) ports.push(port);
  }
  if (ports.length < count) throw new Error(`found only ${ports.length} of ${count} free port pairs`);
  return ports;
}

/** Ends a wait at once: nothing will change by waiting longer. */
class Fatal extends Error {}

async function until<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs: number,
  details: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof Fatal) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      const reason = last instanceof Error ? ` (last error: ${last.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${reason}${details()}`);
    }
    await sleep(50);
  }
}

function startNode(port: number, dir: string, binary: string): Started {
  const child = spawn(
    binary,
    [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      '5000',
      '--save',
      '',
      '--appendonly',
      'no',
      '--port',
      String(port),
      '--bind',
      HOST,
      '--daemonize',
      'no',
      '--dir',
      dir,
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const started: Started = { port, dir, child, log: [], exited: undefined };
  const keep = (chunk: Buffer) => {
    started.log.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (started.log.length > 40) started.log.splice(0, started.log.length - 40);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (error) => {
    started.log.push(`cannot run ${binary}: ${error.message}`);
    started.exited = { code: null, signal: null };
  });
  child.on('exit', (code, signal) => {
    started.exited = { code, signal };
  });
  return started;
}

function describeNodes(started: readonly Started[]): string {
  return started
    .map((node) => {
      const state = node.exited
        ? `exited (code ${node.exited.code}, signal ${node.exited.signal})`
        : `running (pid ${node.child.pid})`;
      return `\n  redis-server :${node.port} ${state}\n    ${node.log.slice(-8).join('\n    ')}`;
    })
    .join('');
}

async function stopNodes(started: readonly Started[], admins: readonly Redis[]): Promise<void> {
  for (const admin of admins) admin.disconnect();
  await Promise.all(
    started.map(async (node) => {
      if (node.exited === undefined && node.child.pid !== undefined) {
        const exited = new Promise<void>((resolve) => node.child.once('exit', () => resolve()));
        node.child.kill('SIGTERM');
        const timer = setTimeout(() => node.child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(node.dir, { recursive: true, force: true });
    }),
  );
}

/** Parses `CLUSTER SLOTS`: the port of the master serving `slot`. */
function ownerIn(slots: unknown, slot: number): number | undefined {
  for (const range of slots as Array<[number, number, [string, number, string]]>) {
    if (slot >= range[0] && slot <= range[1]) return Number(range[2][1]);
  }
  return undefined;
}

/**
 * Starts a cluster of `masters` masters (3 by default) from `redis-server` and `redis-cli` (on the
 * PATH, or `REDIS_SERVER` / `REDIS_CLI`), and waits until every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(
  options: { masters?: number; timeoutMs?: number } = {},
): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const server = process.env.REDIS_SERVER ?? 'redis-server';
  const cli = process.env.REDIS_CLI ?? 'redis-cli';
  const started: Started[] = [];
  const admins: Redis[] = [];
  const details = () => describeNodes(started);
  try {
    const ports = await freePorts(masters);
    for (const port of ports) {
      const dir = await mkdtemp(join(tmpdir(), `routing-context-redis-cluster-${port}-`));
      started.push(startNode(port, dir, server));
    }
    for (const node of started) {
      await until(
        async () => {
          if (node.exited) throw new Fatal(`redis-server :${node.port} exited${details()}`);
          const { stdout } = await run(cli, ['-h', HOST, '-p', String(node.port), 'PING'], {
            timeout: 2_000,
          });
          return stdout.trim() === 'PONG' ? true : undefined;
        },
        `redis-server on port ${node.port} to answer PING`,
        timeoutMs,
        details,
      );
    }
    try {
      await run(
        cli,
        [
          '--cluster',
          'create',
          ...ports.map((port) => `${HOST}:${port}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { timeout: timeoutMs },
      );
    } catch (error) {
      const {
        stdout = '',
        stderr = '',
        message,
      } = error as { stdout?: string; stderr?: string; message: string };
      throw new Error(`redis-cli --cluster create failed: ${message}\n${stdout}\n${stderr}${details()}`);
    }
    for (const port of ports) {
      const admin = new Redis({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 1 });
      admin.on('error', () => {});
      admins.push(admin);
      await admin.connect();
    }
    for (const admin of admins) {
      await until(
        async () => ((await admin.cluster('INFO')).includes('cluster_state:ok') ? true : undefined),
        `cluster_state:ok on port ${admin.options.port}`,
        timeoutMs,
        details,
      );
    }
    const ids = new Map<number, string>();
    for (let i = 0; i < ports.length; i++) ids.set(ports[i]!, (await admins[i]!.cluster('MYID')) as string);
    return makeHandle(ports, admins, ids, () => stopNodes(started, admins));
  } catch (error) {
    await stopNodes(started, admins).catch(() => {});
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      `A Redis Cluster could not be started from ${server} and ${cli} (set REDIS_SERVER / REDIS_CLI to other binaries): ${message}`,
      { cause: error },
    );
  }
}

function makeHandle(
  ports: number[],
  admins: Redis[],
  ids: ReadonlyMap<number, string>,
  stop: () => Promise<void>,
): RedisCluster {
  const node = (port: number): Redis => {
    const index = ports.indexOf(port);
    if (index < 0) throw new Error(`no cluster node on port ${port}`);
    return admins[index]!;
  };
  const slotOwner = async (slot: number, port = ports[0]!): Promise<number> => {
    const owner = ownerIn(await node(port).cluster('SLOTS'), slot);
    if (owner === undefined) throw new Error(`slot ${slot} has no owner in the view of port ${port}`);
    return owner;
  };
  const handle: RedisCluster = {
    nodes: ports.map((port) => ({ host: HOST, port })),
    ports,
    node,
    keySlot: async (key) => Number(await admins[0]!.cluster('KEYSLOT', key)),
    slotOwner,
    async nodesHolding(key) {
      // KEYS rather than EXISTS: a node answers MOVED for a key of a slot it does not serve.
      const exact = key.replace(/[*?[\]\\]/g, '\\$&');
      const holding: number[] = [];
      for (const port of ports) if ((await node(port).keys(exact)).includes(key)) holding.push(port);
      return holding;
    },
    async allKeys(pattern = '*') {
      const found: string[] = [];
      for (const admin of admins) found.push(...(await admin.keys(pattern)));
      return found.sort();
    },
    async errorCount(port, kind) {
      const info = await node(port).info('errorstats');
      const match = new RegExp(`^errorstat_${kind}:count=(\\d+)`, 'm').exec(info);
      return match ? Number(match[1]) : 0;
    },
    async startSlotMigration(slot, to) {
      const from = await slotOwner(slot);
      if (from === to) throw new Error(`slot ${slot} is already served by port ${to}`);
      const fromId = ids.get(from)!;
      const toId = ids.get(to)!;
      await node(to).cluster('SETSLOT', slot, 'IMPORTING', fromId);
      await node(from).cluster('SETSLOT', slot, 'MIGRATING', toId);
      return {
        from,
        to,
        async moveKeys() {
          let moved = 0;
          for (;;) {
            const keys = (await node(from).cluster('GETKEYSINSLOT', slot, 100)) as string[];
            if (keys.length === 0) return moved;
            await node(from).call('MIGRATE', HOST, String(to), '', '0', '5000', 'KEYS', ...keys);
            moved += keys.length;
          }
        },
        async finish() {
          // The new owner first, then the old one, then the rest (as `redis-cli --cluster` does).
          for (const port of [to, from, ...ports.filter((p) => p !== to && p !== from)]) {
            await node(port).cluster('SETSLOT', slot, 'NODE', toId);
          }
          for (const port of ports) {
            await until(
              async () => ((await slotOwner(slot, port)) === to ? true : undefined),
              `port ${port} to see slot ${slot} on port ${to}`,
              10_000,
            );
          }
        },
      };
    },
    async moveSlot(slot, to) {
      const migration = await handle.startSlotMigration(slot, to);
      await migration.moveKeys();
      await migration.finish();
      return migration.from;
    },
    stop,
  };
  return handle;
}
