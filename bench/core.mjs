// Core codec benchmark: routing-context vs @opentelemetry/core's W3CBaggagePropagator doing the
// same work, measured in one run, alternating rounds, medians reported as ratios.
//
//   npm run bench:core            (builds first)
//   ROUNDS=15 node bench/core.mjs (more rounds)
//
// Allocation check: counts garbage collections during 2,000,000 calls of each no-key path; a path
// that allocates nothing triggers none. Needs --expose-gc, which the script adds itself.
import { spawnSync } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { defaultTextMapGetter, defaultTextMapSetter, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import { W3CBaggagePropagator } from '@opentelemetry/core';
import { extractRoutingKey, injectRoutingKey } from '../dist/index.js';
import { median } from './_stats.mjs';

if (typeof globalThis.gc !== 'function') {
  // Re-run ourselves with the flags the allocation check needs.
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: process.env,
  });
  process.exit(r.status ?? 1);
}

const ROUNDS = Number(process.env.ROUNDS ?? 9);
const ITER = Number(process.env.ITERATIONS ?? 200_000);
const KEY = 'vf0ju8vw50wpu';

// A realistic inbound request: 4 baggage members, the routing key third.
const incoming = {
  host: 'orders.hotrod.svc:8080',
  'user-agent': 'okhttp/4.12.0',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  baggage: `userId=alice,tenant=acme,sd-routing-key=${KEY},session=7f3a9c`,
};
const noKeyBaggage = { ...incoming, baggage: 'userId=alice,tenant=acme,region=eu-west-1,session=7f3a9c' };
const noBaggage = {
  host: incoming.host,
  'user-agent': incoming['user-agent'],
  traceparent: incoming.traceparent,
};
const outgoingExisting = 'userId=alice,tenant=acme,session=7f3a9c';

const otel = new W3CBaggagePropagator();
const otelBaggage = propagation.createBaggage({
  userId: { value: 'alice' },
  tenant: { value: 'acme' },
  session: { value: '7f3a9c' },
});

let sink = 0;
const cases = {
  'extract (key in 3rd of 4 members)': {
    ours: () => {
      sink += extractRoutingKey(incoming).length;
    },
    otel: () => {
      const ctx = otel.extract(ROOT_CONTEXT, incoming, defaultTextMapGetter);
      sink += propagation.getBaggage(ctx).getEntry('sd-routing-key').value.length;
    },
  },
  'inject with merge (3 members + key)': {
    ours: () => {
      const out = { baggage: outgoingExisting };
      injectRoutingKey(out, KEY);
      sink += out.baggage.length;
    },
    otel: () => {
      const out = {};
      const ctx = propagation.setBaggage(
        ROOT_CONTEXT,
        otelBaggage.setEntry('sd-routing-key', { value: KEY }),
      );
      otel.inject(ctx, out, defaultTextMapSetter);
      sink += out.baggage.length;
    },
  },
};

function time(fn) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITER; i++) fn();
  return Number(process.hrtime.bigint() - start) / ITER;
}

console.log(`Node ${process.version}, ${ROUNDS} alternating rounds of ${ITER} calls each; medians.\n`);
console.log('| operation | routing-context | OTel W3CBaggagePropagator | speed-up |');
console.log('|---|---:|---:|---:|');
const results = {};
for (const [name, { ours, otel: theirs }] of Object.entries(cases)) {
  for (let i = 0; i < 3; i++) {
    time(ours); // warm-up
    time(theirs);
  }
  const a = [];
  const b = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(time(ours));
    b.push(time(theirs));
  }
  const ma = median(a);
  const mb = median(b);
  results[name] = mb / ma;
  console.log(`| ${name} | ${ma.toFixed(0)} ns | ${mb.toFixed(0)} ns | **${(mb / ma).toFixed(1)}x** |`);
}

// Allocation check: count garbage collections during many calls. A path that allocates nothing
// triggers none, however many calls run; heap-size deltas are too noisy to prove a zero.
let collections = 0;
new PerformanceObserver((list) => {
  collections += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

async function collectionsDuring(fn, n = 2_000_000) {
  for (let i = 0; i < 10_000; i++) fn();
  globalThis.gc();
  await settle();
  collections = 0;
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) fn();
  const grown = process.memoryUsage().heapUsed - before;
  await settle();
  return { gcs: collections, bytes: collections === 0 ? Math.max(0, grown / n) : undefined };
}

console.log('\n| allocation check (2,000,000 calls each) | garbage collections | bytes per call |');
console.log('|---|---:|---:|');
const alloc = {
  'extract, no baggage header (no key)': () => {
    sink += extractRoutingKey(noBaggage) === undefined ? 1 : 0;
  },
  'extract, baggage without our member (no key)': () => {
    sink += extractRoutingKey(noKeyBaggage) === undefined ? 1 : 0;
  },
  'extract, key found (returns a new string)': () => {
    sink += extractRoutingKey(incoming).length;
  },
};
const noKeyCollections = [];
for (const [name, fn] of Object.entries(alloc)) {
  const { gcs, bytes } = await collectionsDuring(fn);
  if (name.includes('(no key)')) noKeyCollections.push(gcs);
  console.log(`| ${name} | ${gcs} | ${bytes === undefined ? '(collected)' : bytes.toFixed(1)} |`);
}

const [extractRatio, injectRatio] = Object.values(results);
const noAlloc = noKeyCollections.every((gcs) => gcs === 0);
console.log(
  `\nTargets: extract >= 10x (${extractRatio >= 10 ? 'met' : 'NOT met'}), inject with merge >= 5x (${injectRatio >= 5 ? 'met' : 'NOT met'}), no allocation on the no-key path (${noAlloc ? 'met' : 'NOT met'}).`,
);
if (sink === 42) console.log('');
