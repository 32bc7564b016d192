// Runs the demo (examples/demo/run.mjs) the way a newcomer does, against the suite's real Kafka
// broker and the machine's Redis, and checks its table hop by hop. Needs the built package
// (`npx tsup`): the demo imports routing-context by its public name.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const DEMO = resolve(ROOT, 'examples/demo/run.mjs');
const RUN_TIMEOUT_MS = 120_000;

const KEY_142 = 'pr142rkdemo01';
const KEY_7 = 'pr7rkdemo0001';

/** What every hop must do, written out independently of the demo's own expectations. */
const EXPECTED = [
  { id: 'r1', sandbox: null, via: 'none', key: null, orders: 'baseline', fulfilment: 'baseline' },
  { id: 'r2', sandbox: 'pr-142', via: 'baggage', key: KEY_142, orders: 'pr-142', fulfilment: 'pr-142' },
  { id: 'r3', sandbox: 'pr-7', via: 'routingHeaders()', key: KEY_7, orders: 'baseline', fulfilment: 'pr-7' },
  { id: 'r4', sandbox: null, via: 'baggage (other)', key: null, orders: 'baseline', fulfilment: 'baseline' },
  {
    id: 'r5',
    sandbox: 'pr-142',
    via: '?sd-routing-key=',
    key: KEY_142,
    orders: 'pr-142',
    fulfilment: 'pr-142',
  },
  { id: 'r6', sandbox: 'pr-7', via: '?sd-routing-key=', key: KEY_7, orders: 'baseline', fulfilment: 'pr-7' },
  {
    id: 'r7',
    sandbox: 'pr-142',
    via: 'routingHeaders()',
    key: KEY_142,
    orders: 'pr-142',
    fulfilment: 'pr-142',
  },
  { id: 'r8', sandbox: 'pr-7', via: 'baggage', key: KEY_7, orders: 'baseline', fulfilment: 'pr-7' },
] as const;

/** The --json run sends every kind of request this many times, all interleaved. */
const ROUNDS = 4;
const VERSIONS = ['baseline', 'pr-142', 'pr-7'];
const SHIPPING: Record<string, string> = { baseline: 'standard', 'pr-142': 'express', 'pr-7': 'drone' };

interface Row {
  id: string;
  sandbox: string | null;
  via: string;
  routingKey: string | null;
  status: number;
  web: string | null;
  router: string | null;
  orders: string | null;
  ordersDetail: string | null;
  fulfilment: string[];
  fulfilmentDetail: string[];
  skippedBy: string[];
  cacheKeys: string[];
  keys: { web: string | null; router: string | null; orders: string | null; fulfilment: (string | null)[] };
  problems: string[];
}

interface Report {
  ok: boolean;
  runId: string;
  routes: string;
  routesApiRequests?: number;
  broken: string | null;
  kafkaBrokers: string;
  ownBroker: boolean;
  consumerGroups: string[];
  rows: Row[];
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runDemo(args: string[], brokers: string): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [DEMO, ...args], {
      cwd: ROOT,
      env: { ...process.env, KAFKA_BROKERS: brokers },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`demo ${args.join(' ')} did not finish in ${RUN_TIMEOUT_MS} ms\n${stderr}`));
    }, RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

function parseReport(run: Run): Report {
  try {
    return JSON.parse(run.stdout) as Report;
  } catch {
    throw new Error(`the demo printed no JSON report (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
}

function cacheKey(runId: string, id: string, key: string | null): string {
  const name = `demo:${runId}:ship:ord-${id}`;
  return key === null ? name : `${key}:${name}`;
}

/** The cells of the printed table's request rows, by request id. */
function tableRows(stdout: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    if (!/^\| r\d /.test(line)) continue;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((cell) => cell.trim());
    rows.set(cells[0] as string, cells);
  }
  return rows;
}

describe('the demo (examples/demo/run.mjs)', () => {
  let brokers: string;
  let runs: { json: Run; routesApi: Run; brokenConsumer: Run; brokenRouter: Run };

  beforeAll(async () => {
    brokers = inject('kafkaBrokers') ?? process.env.KAFKA_BROKERS ?? '';
    if (brokers === '') throw new Error('no Kafka broker: the global set-up should provide KAFKA_BROKERS');
    // Four runs at once: each uses its own topic, groups and cache keys, so they must not collide.
    const [json, routesApi, brokenConsumer, brokenRouter] = await Promise.all([
      runDemo(['--json', '--rounds', String(ROUNDS)], brokers),
      runDemo(['--routes-api'], brokers),
      runDemo(['--json', '--break', 'consumer'], brokers),
      runDemo(['--break', 'router'], brokers),
    ]);
    runs = { json, routesApi, brokenConsumer, brokenRouter };
  }, RUN_TIMEOUT_MS + 30_000);

  it('sends every hop to the right version, with static routes (--json)', () => {
    const run = runs.json;
    const report = parseReport(run);
    expect(
      report.rows.flatMap((row) => row.problems),
      run.stderr,
    ).toEqual([]);
    expect(report.ok).toBe(true);
    expect(run.code).toBe(0);
    expect(report.routes).toBe('static');
    // The suite's broker, not a second one started by the demo.
    expect(report.ownBroker).toBe(false);
    expect(report.kafkaBrokers).toBe(brokers);
    expect(report.consumerGroups).toEqual([
      `fulfilment.${report.runId}`,
      `fulfilment.${report.runId}-pr-142`,
      `fulfilment.${report.runId}-pr-7`,
    ]);

    // Row n is request r<n>, of the kind EXPECTED[(n - 1) % 8]: all were sent at once.
    expect(report.rows).toHaveLength(ROUNDS * EXPECTED.length);
    for (const [i, row] of report.rows.entries()) {
      const want = EXPECTED[i % EXPECTED.length] as (typeof EXPECTED)[number];
      const id = `r${i + 1}`;
      expect(row, id).toMatchObject({
        id,
        sandbox: want.sandbox,
        via: want.via,
        routingKey: want.key,
        status: 201,
        web: 'baseline',
        router: want.orders,
        orders: want.orders,
        ordersDetail: want.orders === 'pr-142' ? 'total 90' : 'total 100',
        fulfilment: [want.fulfilment],
        fulfilmentDetail: [SHIPPING[want.fulfilment]],
        skippedBy: VERSIONS.filter((v) => v !== want.fulfilment),
        cacheKeys: [cacheKey(report.runId, id, want.key)],
      });
      // The routing key every handler saw with getRoutingKey(): the request's own, at every hop.
      expect(row.keys, id).toEqual({
        web: want.key,
        router: want.key,
        orders: want.key,
        fulfilment: [want.key],
      });
    }
  });

  it('prints the same table with routes from the Routes API emulator (--routes-api)', () => {
    const run = runs.routesApi;
    expect(run.stdout, run.stderr).toContain('demo: OK — every hop went to the right version');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/routes: routesApi\(\) against the local Routes API emulator \([1-9]\d* rule/);
    const runId = /Kafka topic demo\.order\.created\.([0-9a-f]+)/.exec(run.stdout)?.[1] as string;
    expect(runId).toBeDefined();
    const rows = tableRows(run.stdout);
    expect([...rows.keys()]).toEqual(EXPECTED.map((e) => e.id));
    for (const want of EXPECTED) {
      expect(rows.get(want.id), want.id).toEqual([
        want.id,
        want.sandbox ?? '—',
        want.via,
        'baseline',
        want.orders,
        `${want.orders} (${want.orders === 'pr-142' ? 'total 90' : 'total 100'})`,
        `${want.fulfilment} (${SHIPPING[want.fulfilment]})`,
        cacheKey(runId, want.id, want.key),
        'ok',
      ]);
    }
  });

  it('exits 1 and names the wrong hops when consumers stop selecting (--break consumer)', () => {
    const run = runs.brokenConsumer;
    const report = parseReport(run);
    expect(report.ok).toBe(false);
    expect(run.code).toBe(1);
    for (const row of report.rows) {
      const want = EXPECTED.find((e) => e.id === row.id);
      // Every fulfilment version took every message: two of the three takes are wrong.
      expect(row.fulfilment, row.id).toEqual(VERSIONS);
      expect(row.problems, row.id).toEqual([
        `taken by fulfilment@baseline, fulfilment@pr-142, fulfilment@pr-7, expected fulfilment@${want?.fulfilment} only`,
      ]);
    }
  });

  it('exits 1 and flags exactly the pr-142 requests when the router ignores keys (--break router)', () => {
    const run = runs.brokenRouter;
    expect(run.stdout, run.stderr).toMatch(/demo: FAILED — 6 wrong hop\(s\):/);
    expect(run.code).toBe(1);
    const rows = tableRows(run.stdout);
    for (const want of EXPECTED) {
      const cells = rows.get(want.id) as string[];
      // Requests for pr-142 land on orders@baseline; everything else is still right.
      expect(cells[4], want.id).toBe('baseline');
      expect(cells[8], want.id).toBe(want.orders === 'pr-142' ? 'WRONG' : 'ok');
    }
    expect(run.stdout).toContain('r2 (pr-142, baggage): handled by orders@baseline, expected orders@pr-142');
  });
});
