// Redis benchmark: pipelined GET/SET through routedRedis (inside a routed context) against the
// raw client, on the machine's Redis (127.0.0.1:6379), in the same run: rotating rounds, medians,
// throughput reported as ratios (paired within each round, median over rounds).
//
// Two workloads per client: the same key names in every pipeline (an application reading and
// writing the same keys again; routedRedis then serves prefixed names from its cache), and a new
// name for every SET/GET pair, not seen again for 100,000 names (every variant builds its names per
// pipeline, and routedRedis's cache pauses itself).
//
//   npx tsup && node bench/redis.mjs
//   ROUNDS=15 PIPELINE=1000 BATCHES=40 node bench/redis.mjs
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { cacheKey, withRoutingKey } from '../dist/index.js';
import { routedRedis } from '../dist/redis/index.js';
import { median, settle } from './_stats.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 11);
const PIPELINE = Number(process.env.PIPELINE ?? 1000);
const BATCHES = Number(process.env.BATCHES ?? 30);
const RUN = randomBytes(4).toString('hex');
const KEY = 'vf0ju8vw50wpu';
/** The share of the raw client's ops/s that routedRedis is held to. */
const TARGET = 0.95;
const names = Array.from({ length: PIPELINE / 2 }, (_, i) => `bench:${RUN}:${i}`);
let sequence = 0;
const sameNames = () => names;
// New names cycle through 100,000: far more than routedRedis's cache holds, so none is ever found
// there again, while Redis keeps a bounded number of keys.
const newNames = () =>
  Array.from({ length: PIPELINE / 2 }, () => {
    sequence = (sequence + 1) % 100_000;
    return `bench:${RUN}:n${sequence}`;
  });

const io = new Redis({ host: '127.0.0.1', port: 6379 });
const ioRouted = routedRedis(io);
const nr = createClient({ url: 'redis://127.0.0.1:6379' });
await nr.connect();
const nrRouted = routedRedis(nr);

function ioredisBatch(client, names) {
  const p = client.pipeline();
  for (const name of names) p.set(name, 'v').get(name);
  return p.exec();
}

/** What an application does without the wrapper: prefix each key by hand with `cacheKey`. */
function ioredisByHand(client, names) {
  const p = client.pipeline();
  for (const name of names) {
    const key = cacheKey(name);
    p.set(key, 'v').get(key);
  }
  return p.exec();
}

function nodeRedisBatch(client, names) {
  const m = client.multi();
  for (const name of names) m.set(name, 'v').get(name);
  return m.execAsPipeline();
}

function nodeRedisByHand(client, names) {
  const m = client.multi();
  for (const name of names) {
    const key = cacheKey(name);
    m.set(key, 'v').get(key);
  }
  return m.execAsPipeline();
}

/**
 * One round: `{ wall, cpu }` = ops per wall-clock second, and ops per CPU-second of this process
 * (user + system). On a shared, loaded machine the CPU figure is the steadier estimate of what
 * the wrapper costs the client; Redis's own time is the same for every variant.
 */
async function opsPerSecond(workload, batch, client, key) {
  const run = async () => {
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (let i = 0; i < BATCHES; i++) await batch(client, workload());
    const wall = Number(process.hrtime.bigint() - start) / 1e9;
    const used = process.cpuUsage(cpu);
    return {
      wall: (BATCHES * PIPELINE) / wall,
      cpu: (BATCHES * PIPELINE) / ((used.user + used.system) / 1e6),
    };
  };
  return key === undefined ? run() : withRoutingKey(key, run);
}

const cases = [
  ['ioredis pipeline, same names', sameNames, ioredisBatch, ioredisByHand, io, ioRouted],
  ['node-redis execAsPipeline, same names', sameNames, nodeRedisBatch, nodeRedisByHand, nr, nrRouted],
  ['ioredis pipeline, a new name per pair', newNames, ioredisBatch, ioredisByHand, io, ioRouted],
  ['node-redis execAsPipeline, a new name per pair', newNames, nodeRedisBatch, nodeRedisByHand, nr, nrRouted],
];

const rows = [];
for (const [label, workload, batch, byHand, raw, routed] of cases) {
  // Four variants per round, in a rotating order: the raw client outside any context; the raw
  // client inside the routed context (the context itself costs the same with or without the
  // wrapper); the raw client with keys prefixed by hand (`cacheKey`), the alternative to the
  // wrapper; routedRedis inside the routed context.
  const variants = [
    () => opsPerSecond(workload, batch, raw),
    () => opsPerSecond(workload, batch, raw, KEY),
    () => opsPerSecond(workload, byHand, raw, KEY),
    () => opsPerSecond(workload, batch, routed, KEY),
  ];
  for (const warmUp of variants) await warmUp();
  const rates = variants.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let j = 0; j < variants.length; j++) {
      const v = (r + j) % variants.length;
      rates[v].push(await variants[v]());
    }
  }
  const wall = rates.map((r) => median(r.map((x) => x.wall)));
  const fmt = (x) => Math.round(x).toLocaleString('en');
  // Ratios are paired: variant a over variant b within each round, then the median over rounds,
  // so a machine that slows down between rounds moves both sides of every ratio.
  const perRound = (a, b, field = 'wall') => rates[a].map((x, r) => x[field] / rates[b][r][field]);
  const ratio = (a, b, field = 'wall') => median(perRound(a, b, field)).toFixed(3);
  const settled = (values) => {
    const { interval, verdict } = settle(values, TARGET);
    return `${interval}, ${verdict}`;
  };
  rows.push(
    `| ${label} | ${fmt(wall[0])} | ${fmt(wall[1])} | ${fmt(wall[2])} | ${fmt(wall[3])} | **${ratio(3, 1)}** | ${settled(perRound(3, 1))} | ${ratio(3, 2)} | ${ratio(3, 0)} | **${ratio(3, 1, 'cpu')}** | ${settled(perRound(3, 1, 'cpu'))} | ${ratio(3, 2, 'cpu')} |`,
  );
}

// Clean up what the benchmark wrote (every name of this run, with and without the routing key).
for (const match of [`bench:${RUN}:*`, `${KEY}:bench:${RUN}:*`]) {
  let cursor = '0';
  do {
    const [next, found] = await io.scan(cursor, 'MATCH', match, 'COUNT', 10_000);
    if (found.length > 0) await io.unlink(...found);
    cursor = next;
  } while (cursor !== '0');
}
io.disconnect();
nr.destroy();

console.log(
  `\nPipelined GET/SET, ${PIPELINE} commands per pipeline, ${BATCHES} pipelines per round, median of ${ROUNDS} rotating rounds (Node ${process.version})\n`,
);
console.log(
  `| client | raw, no context (ops/s) | raw (ops/s) | raw + cacheKey() by hand (ops/s) | routedRedis (ops/s) | routedRedis / raw | median's interval, ≥ ${TARGET} | routedRedis / by hand | routedRedis / raw without context | routedRedis / raw, per CPU-s | median's interval, ≥ ${TARGET} | routedRedis / by hand, per CPU-s |`,
);
console.log('|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|');
for (const row of rows) console.log(row);
console.log(
  '\nops/s are wall-clock medians. Ratios are medians over rounds of the two variants\' ratio within each round. Except for "raw, no context", every variant runs inside withRoutingKey, and the ratios compare variants in that same context. "per CPU-s" ratios use ops per CPU-second of this process, steadier on a loaded machine.',
);
console.log(
  `"median's interval" = where the true median of the per-round ratios lies with the confidence shown (order statistics); then met (the whole interval at or above ${TARGET}), missed (below) or unresolved (this run cannot tell).`,
);
console.log(
  `load average at the end: ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
