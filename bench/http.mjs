// HTTP path benchmark: a two-hop Express chain (client → A → B, keep-alive) measured in one run,
// alternating rounds between variants, medians reported as ratios against the bare chain.
//
//   npm run bench:http                                   (builds first)
//   BENCH_ROUNDS=9 BENCH_DURATION=10 node bench/http.mjs  (longer, steadier run)
//   BENCH_CONNECTIONS=100 node bench/http.mjs             (more concurrent client connections)
//   BENCH_VARIANTS=bare,routed node bench/http.mjs        (a subset)
//   BENCH_FRESH=0 node bench/http.mjs                     (one process per variant for all rounds)
//   BENCH_TARGET=0.9 node bench/http.mjs                  (the share of bare's throughput to judge against)
//
// PROCESSES. By default every round starts a new process for each variant, warms it up, measures
// it and stops it. Two processes running the same code can differ by 5-8% in throughput for their
// whole life (code and heap layout, what the JIT decided while warming up), so with one process
// per variant a variant's luck would repeat in every round; with new processes it is one more
// source of noise that the median over rounds averages out.
//
// VARIANT CONTRACT. Every file bench/http-variants/<name>.mjs (names starting with `_` excluded) is
// one variant, run in its OWN child process (OpenTelemetry patches `http` globally and cannot be
// unloaded). A variant:
//   1. starts its servers: A on 127.0.0.1 answering `GET /a` by calling B (`GET /b`) over a
//      keep-alive agent and returning B's JSON body; `bench/http-variants/_chain.mjs`
//      (`startChain({ express, middleware? })`) does exactly that;
//   2. prints ONE line of JSON on stdout: `{"a": <port of A>, "b": <port of B>}`;
//   3. keeps serving until it gets SIGTERM or its stdin closes.
// B should answer `GET /__seen` with `{"baggage": <the header its last /b request received, or
// null>, "traceparent": <whether that request had one>}`, which the table shows as a sanity check,
// and answer `/b` with the same body whatever reached it. Optionally, A answers `GET /__cpu` with
// `{"cpu": process.cpuUsage(), "served": <number of /a requests>}` (outside any middleware) for the
// CPU-per-request column; `_chain.mjs` does. Without it that column shows n/a. `bare.mjs` is the
// baseline every ratio refers to; `control.mjs` is the same chain in a second process, so its
// ratios show how far two identical servers land apart in the run (its noise). Adding a variant
// (say `otel-routing-propagator.mjs`) needs no change here.
//
// Every request carries `baggage: sd-routing-key=<key>,user=bench` so routed variants do real work.
// Throughput is requests/s (autocannon's average over a round), p99 the latency percentile in ms;
// the table shows medians over rounds. "vs bare" is the median over rounds of the variant's
// throughput divided by bare's throughput IN THE SAME ROUND (paired, so a machine that slows down
// between rounds moves both sides), with the lowest and highest round beside it; CPU efficiency
// is paired the same way. No number here is a test: nothing asserts timing.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { median, settle } from './_stats.mjs';
import { BENCH_HEADERS, seenAtB, variantFile, variantNames } from './http-variants/_variants.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const DURATION = Number(process.env.BENCH_DURATION ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const FRESH = process.env.BENCH_FRESH !== '0';
/** The throughput target a routed variant is held to, as a share of bare's. */
const TARGET = Number(process.env.BENCH_TARGET ?? 0.95);
if (!(TARGET > 0))
  throw new Error(
    `BENCH_TARGET must be a positive number (a share of bare's throughput, such as 0.95), got ${process.env.BENCH_TARGET}`,
  );

const names = variantNames(process.env.BENCH_VARIANTS);

/** Starts a variant's process and waits for its contract line. */
function startVariant(name) {
  const child = spawn(process.execPath, [variantFile(name)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: process.env,
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    const timer = setTimeout(
      () => reject(new Error(`variant ${name} did not print its ports in 30 s`)),
      30_000,
    );
    child.once('exit', (code) => reject(new Error(`variant ${name} exited with ${code} before starting`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      const ports = JSON.parse(line);
      if (!Number.isInteger(ports.a))
        reject(new Error(`variant ${name} printed ${line}, expected {"a":port,"b":port}`));
      resolve({ name, child, ports });
    });
  });
}

/** Stops a variant's process; resolves once it has exited, so it takes no CPU from the next one. */
function stop(variant) {
  const { child } = variant;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin.end();
  child.kill('SIGTERM');
  return exited;
}

function run(port, duration) {
  return new Promise((resolve, reject) => {
    autocannon(
      { url: `http://127.0.0.1:${port}/a`, connections: CONNECTIONS, duration, headers: BENCH_HEADERS },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
}

async function cpuStats(port) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/__cpu`);
    if (!response.ok) return undefined;
    const { cpu, served } = await response.json();
    return { micros: cpu.user + cpu.system, served };
  } catch {
    return undefined;
  }
}

/**
 * `compare(bare, variant)` for every round both measured (a round without a CPU reading has none),
 * so each ratio comes from one round's conditions.
 */
function paired(bareRounds, variantRounds, compare) {
  const out = [];
  for (let i = 0; i < Math.min(bareRounds.length, variantRounds.length); i++) {
    if (bareRounds[i] !== undefined && variantRounds[i] !== undefined)
      out.push(compare(bareRounds[i], variantRounds[i]));
  }
  return out;
}

/**
 * Starts every variant and checks what reaches B. Each is warmed up just before it is measured, not
 * here: a process left idle between its warm-up and its measurement (V8 shrinks an idle heap) would
 * start its round colder the longer it waited, and the variants started first would always wait
 * longest.
 */
async function startAll() {
  const started = [];
  try {
    for (const name of names) started.push(await startVariant(name));
    for (const v of started) v.seenAtB = await seenAtB(v.name, v.ports);
  } catch (error) {
    await Promise.all(started.map(stop));
    throw error;
  }
  return started;
}

let variants = [];
try {
  const seenAtB = new Map();
  const samples = new Map(names.map((name) => [name, { rps: [], p99: [], cpu: [], errors: 0 }]));
  for (let round = 0; round < ROUNDS; round++) {
    if (round === 0 || FRESH) variants = await startAll();
    for (const v of variants) if (!seenAtB.has(v.name)) seenAtB.set(v.name, v.seenAtB);
    // Rotate the order each round so no variant always runs first or last.
    const order = variants.map((_, i) => variants[(i + round) % variants.length]);
    for (const v of order) {
      if (!v.warm) {
        await run(v.ports.a, WARMUP);
        v.warm = true;
      }
      const before = await cpuStats(v.ports.a);
      const result = await run(v.ports.a, DURATION);
      const after = await cpuStats(v.ports.a);
      const s = samples.get(v.name);
      // One entry per round (undefined without a reading), so rounds pair up by index.
      s.cpu.push(
        before !== undefined && after !== undefined && after.served > before.served
          ? (after.micros - before.micros) / (after.served - before.served)
          : undefined,
      );
      s.rps.push(result.requests.average);
      s.p99.push(result.latency.p99);
      s.errors += result.errors + result.non2xx;
    }
    if (FRESH) {
      await Promise.all(variants.map(stop));
      variants = [];
    }
    process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
  }

  const bare = samples.get('bare');
  const bareP99 = median(bare.p99);
  const rows = names.map((name) => {
    const s = samples.get(name);
    const rps = median(s.rps);
    const p99 = median(s.p99);
    const b = seenAtB.get(name);
    const ratios = paired(bare.rps, s.rps, (bareRound, round) => round / bareRound);
    const efficiency = paired(bare.cpu, s.cpu, (bareRound, round) => bareRound / round);
    const cpu = s.cpu.filter((micros) => micros !== undefined);
    const cpuCells =
      cpu.length === 0 || efficiency.length === 0
        ? 'n/a | n/a'
        : `${median(cpu).toFixed(0)} | ${median(efficiency).toFixed(3)}`;
    const range = `${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}`;
    const { interval, verdict } = settle(ratios, TARGET);
    const settled = name === 'bare' ? ' | ' : `${interval} | ${verdict}`;
    return `| ${name} | ${rps.toFixed(0)} | ${median(ratios).toFixed(3)} | ${range} | ${settled} | ${p99.toFixed(1)} | ${(p99 / bareP99).toFixed(2)} | ${cpuCells} | ${s.errors} | \`${b.baggage ?? '(none)'}\`${b.traceparent ? ' + traceparent' : ''} |`;
  });
  console.log(
    `\nTwo-hop Express chain, ${CONNECTIONS} connections, ${ROUNDS} alternating rounds of ${DURATION} s, ${FRESH ? 'new processes every round' : 'one process per variant'}, medians (Node ${process.version}):\n`,
  );
  console.log(
    `| variant | req/s | vs bare | rounds | median's interval | ≥ ${TARGET} | p99 ms | p99 vs bare | server CPU µs/req | efficiency vs bare | errors | what reached B |`,
  );
  console.log('|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|');
  for (const row of rows) console.log(row);
  console.log(
    '\n"vs bare" = median over rounds of req/s divided by bare\'s req/s in the same round; "rounds" = the lowest and highest of those.',
  );
  console.log(
    `"median's interval" = where the true median of those ratios lies with the confidence shown (order statistics, no assumption on the noise's shape); "≥ ${TARGET}": met when the whole interval is at or above ${TARGET}, missed when below, unresolved when this run cannot tell (BENCH_TARGET sets it).`,
  );
  console.log(
    '"efficiency vs bare" = bare CPU per request / variant CPU per request (1.000 = free): CPU time of the',
  );
  console.log(
    "servers' process (both hops) per request, paired by round like req/s, less sensitive to other load on the machine than req/s.",
  );
  if (samples.has('control'))
    console.log(
      '"control" is the bare chain again in a process of its own: how far its ratios stray from 1.000 is the resolution of this run.',
    );
} finally {
  await Promise.all(variants.map(stop));
}
