// HTTP path cost in CPU instructions: the two-hop Express chain of bench/http.mjs (same variants,
// same requests), each variant's servers run under valgrind's callgrind, which counts the
// instructions every thread of the process executes. Instruction counts do not depend on what else
// the machine is doing, so this answers "what does the library cost per request" on a shared,
// noisy machine where throughput ratios swing by 10-20% between runs.
//
//   npm run bench:http:instructions                    (builds first; about 3 minutes per variant)
//   BENCH_VARIANTS=routed node bench/http-instructions.mjs
//   BENCH_WARMUP_REQUESTS=3000 BENCH_REQUESTS=2000 BENCH_REPEAT=2 node bench/http-instructions.mjs
//   BENCH_KEEP_DUMPS=/tmp/dumps node bench/http-instructions.mjs   (keeps each callgrind dump, to
//   compare variants function by function: callgrind_annotate /tmp/dumps/routed-1.out)
//
// Per variant: start its servers under callgrind with V8 in predictable mode (`--predictable
// --predictable-gc-schedule`: no background compilation or GC threads, a fixed heap growth
// schedule, so the work a request causes lands in the window that measures it); warm up with
// BENCH_WARMUP_REQUESTS requests; zero the counters (`callgrind_control -z`); send BENCH_REQUESTS
// requests (BENCH_CONNECTIONS connections, 10 by default); dump the counters (`callgrind_control -d`). The result is
// instructions per request, both hops, every thread, less those of V8's optimizing compilers
// (shown in a column of their own; see `JIT_COMPILER`): the client is not counted. BENCH_REPEAT
// measures each variant several times (the table shows the median, and the spread).
//
// Needs valgrind (Debian/Ubuntu: `apt install valgrind`). Counts are for relative comparison in
// one run: valgrind slows the servers down about 50 times, so no timing is reported.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { BENCH_HEADERS, seenAtB, variantFile, variantNames } from './http-variants/_variants.mjs';

const WARMUP_REQUESTS = positive('BENCH_WARMUP_REQUESTS', 3000);
const REQUESTS = positive('BENCH_REQUESTS', 2000);
const REPEAT = positive('BENCH_REPEAT', 1);
const CONNECTIONS = positive('BENCH_CONNECTIONS', 10);
const V8_FLAGS = ['--predictable', '--predictable-gc-schedule'];
const KEEP_DUMPS = process.env.BENCH_KEEP_DUMPS || undefined;

function positive(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

function requireTool(tool) {
  const found = spawnSync(tool, ['--version'], { encoding: 'utf8' });
  // callgrind_annotate 3.19 prints its version and exits with 255: the version is the proof.
  if (found.error !== undefined || !`${found.stdout}${found.stderr}`.includes(tool)) {
    throw new Error(
      `${tool} is needed to count instructions and was not found (${found.error?.message ?? found.stderr.trim()}); install valgrind (Debian/Ubuntu: apt install valgrind)`,
    );
  }
}

/** Starts a variant under callgrind and waits for its contract line. */
function start(name, dir) {
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${join(dir, 'callgrind.out')}`,
      // V8 writes and rewrites machine code at run time.
      '--smc-check=all-non-file',
      '--dump-instr=no',
      process.execPath,
      ...V8_FLAGS,
      variantFile(name),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`variant ${name} did not start under valgrind in 180 s:\n${stderr}`));
    }, 180_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`variant ${name} exited with ${code} under valgrind before starting:\n${stderr}`));
    });
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      const ports = JSON.parse(line);
      if (!Number.isInteger(ports.a))
        reject(new Error(`variant ${name} printed ${line}, expected {"a":port,"b":port}`));
      resolve({ child, ports });
    });
  });
}

async function load(port, amount) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/a`,
    connections: CONNECTIONS,
    amount,
    headers: BENCH_HEADERS,
    timeout: 120,
  });
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed > 0) throw new Error(`${failed} of ${amount} requests failed (errors, timeouts or non-2xx)`);
}

/**
 * V8's optimizing compilers (TurboFan/Turboshaft, Maglev). With `--predictable` they compile on the
 * main thread, and they are still at work well after thousands of requests: in one process they
 * took 16-29% of the measured instructions on Node 24 (4% on Node 20), and 45,000 instructions per request more in the bare
 * chain than in by-hand. That is warm-up, varying with what the JIT decided to compile when, not a
 * cost of the code under test, so the table ranks variants without it (and shows it beside).
 */
const JIT_COMPILER = /v8::internal::(?:compiler|maglev)::/;

/** Instructions spent in V8's optimizing compilers in a dump (self cost, every function). */
function compilerInstructions(path) {
  const out = execFileSync('callgrind_annotate', ['--inclusive=no', '--threshold=100', '--auto=no', path], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  let total = 0;
  for (const line of out.split('\n')) {
    const m = /^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$/.exec(line);
    if (m !== null && JIT_COMPILER.test(m[2])) total += Number(m[1].replaceAll(',', ''));
  }
  return total;
}

/** The newest callgrind dump in `dir` (`callgrind.out.<n>`): its path and instruction total. */
function newestDump(dir) {
  const dumps = readdirSync(dir)
    .map((f) => /^callgrind\.out\.(\d+)$/.exec(f))
    .filter((m) => m !== null)
    .sort((x, y) => Number(y[1]) - Number(x[1]));
  if (dumps.length === 0) throw new Error(`callgrind wrote no dump in ${dir}`);
  const path = join(dir, dumps[0][0]);
  const total = /^(?:summary|totals): (\d+)/m.exec(readFileSync(path, 'utf8'));
  if (total === null) throw new Error(`no instruction total in ${dumps[0][0]}`);
  return { path, instructions: Number(total[1]) };
}

/** Instructions per request of one variant, measured once (the `round`-th time). */
async function measure(name, round) {
  const dir = mkdtempSync(join(tmpdir(), 'routing-context-callgrind-'));
  const { child, ports } = await start(name, dir);
  const port = ports.a;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const seen = await seenAtB(name, ports);
    await load(port, WARMUP_REQUESTS);
    execFileSync('callgrind_control', ['-z', String(child.pid)], { stdio: 'ignore' });
    await load(port, REQUESTS);
    execFileSync('callgrind_control', ['-d', String(child.pid)], { stdio: 'ignore' });
    child.stdin.end();
    await exited;
    const dump = newestDump(dir);
    if (KEEP_DUMPS !== undefined) {
      mkdirSync(KEEP_DUMPS, { recursive: true });
      copyFileSync(dump.path, join(KEEP_DUMPS, `${name}-${round + 1}.out`));
    }
    return {
      perRequest: dump.instructions / REQUESTS,
      compilerPerRequest: compilerInstructions(dump.path) / REQUESTS,
      seen,
    };
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

function count(n) {
  return Math.round(n).toLocaleString('en-US');
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

requireTool('valgrind');
requireTool('callgrind_control');
requireTool('callgrind_annotate');
const names = variantNames(process.env.BENCH_VARIANTS);
const results = new Map(names.map((n) => [n, { counts: [], compiler: [], seen: undefined }]));
for (let round = 0; round < REPEAT; round++) {
  for (const name of names) {
    const { perRequest, compilerPerRequest, seen } = await measure(name, round);
    const r = results.get(name);
    r.counts.push(perRequest - compilerPerRequest);
    r.compiler.push(compilerPerRequest);
    r.seen = seen;
    process.stderr.write(
      `${name}: ${count(perRequest - compilerPerRequest)} instructions per request (${count(compilerPerRequest)} more in the JIT compilers)\n`,
    );
  }
}

const bare = median(results.get('bare').counts);
const lines = [
  `\nInstructions per request, two-hop Express chain, both hops and every server thread (Node ${process.version}, V8 ${V8_FLAGS.join(' ')}; ${WARMUP_REQUESTS} warm-up, ${REQUESTS} measured requests over ${CONNECTIONS} connection(s), ${REPEAT} measurement(s) per variant):\n`,
  '| variant | instructions per request | vs bare | efficiency vs bare | spread | JIT compilers (left out) | what reached B |',
  '|---|---:|---:|---:|---:|---:|---|',
];
for (const [name, r] of results) {
  const m = median(r.counts);
  const spread =
    r.counts.length > 1
      ? `${(((Math.max(...r.counts) - Math.min(...r.counts)) / m) * 100).toFixed(1)}%`
      : 'n/a';
  lines.push(
    `| ${name} | ${count(m)} | ${(m / bare).toFixed(3)} | ${(bare / m).toFixed(3)} | ${spread} | ${count(median(r.compiler))} | \`${r.seen?.baggage ?? '(none)'}\` |`,
  );
}
lines.push(
  '\n"instructions per request" leaves out V8\'s optimizing compilers (TurboFan, Maglev), still warming up in the',
  'measured window by amounts that differ from process to process; their share is shown beside.',
  '"efficiency vs bare" = bare instructions / variant instructions (1.000 = free). Counts, not timings:',
  'they leave out what instructions do not show (cache misses, system calls), and hold on a busy machine.',
);
console.log(lines.join('\n'));
