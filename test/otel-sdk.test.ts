// routing-context/otel with the REAL OpenTelemetry SDK. Every scenario runs in its own Node
// process (a fixture under test/otel/), so OTel globals never leak between scenarios; the fixture
// prints its observations as JSON and this file asserts them.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

interface Downstream {
  baggage?: string[];
  traceparent?: string[];
  'x-routing-key'?: string[];
}

function fixture<T>(name: string, env: Record<string, string> = {}): Promise<T> {
  const file = fileURLToPath(new URL(`./otel/${name}`, import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [file],
      { env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`fixture ${name} failed (${error.message}):\n${stderr}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as T);
        } catch {
          reject(new Error(`fixture ${name} printed no JSON result:\n${stdout}\n${stderr}`));
        }
      },
    );
  });
}

/** Every routing member (`sd-routing-key=` / `sd-sandbox=`) across raw `baggage` header values. */
function routingMembers(baggage: string[] | undefined): string[] {
  return (baggage ?? [])
    .flatMap((h) => h.split(','))
    .map((m) => m.trim())
    .filter((m) => m.startsWith('sd-routing-key=') || m.startsWith('sd-sandbox='));
}

function otherMembers(baggage: string[] | undefined): string[] {
  return (baggage ?? [])
    .flatMap((h) => h.split(','))
    .map((m) => m.trim())
    .filter((m) => m.length > 0 && !m.startsWith('sd-routing-key=') && !m.startsWith('sd-sandbox='))
    .sort();
}

/** Asserts what the next hop received: one `baggage` header with exactly one member of `key`. */
function expectOneKey(downstream: Downstream, key: string | undefined, first = true) {
  if (key === undefined) {
    expect(routingMembers(downstream.baggage)).toEqual([]);
    return;
  }
  expect(downstream.baggage).toHaveLength(1);
  expect(routingMembers(downstream.baggage)).toEqual([`sd-routing-key=${key}`]);
  // Ours first, so no OTel size limit can drop it. (Not so when W3CBaggagePropagator runs after
  // ours and no middleware re-sets the baggage: it rebuilds the baggage in the inbound order.)
  if (first) expect(downstream.baggage?.[0]?.startsWith(`sd-routing-key=${key}`)).toBe(true);
}

describe('NodeSDK + instrumentation-http, no routing middleware', () => {
  interface Result {
    key?: string;
    baggage: string;
    before?: string;
    after?: string;
    downstream: Downstream;
  }
  for (const order of ['routing last', 'routing first', 'bridge only']) {
    it(`sees an inbound baggage key in the handler and forwards it once, other members kept (${order})`, async () => {
      const { results } = await fixture<{ results: Result[] }>('sdk-http-only.cjs', {
        ROUTING_FIRST: order === 'routing first' ? '1' : '0',
        BRIDGE_ONLY: order === 'bridge only' ? '1' : '0',
      });
      expect(results).toHaveLength(60);
      for (const r of results) {
        expect(r.before).toBe(r.key);
        expect(r.after).toBe(r.key);
        expectOneKey(r.downstream, r.key, order === 'routing last');
        expect(otherMembers(r.downstream.baggage)).toEqual(otherMembers([r.baggage]));
        expect(r.downstream.traceparent).toHaveLength(1);
      }
    });
  }
});

describe('NodeSDK + our Express middleware + our http propagation together', () => {
  it('sends exactly one routing member and never two baggage headers, over http.request and fetch', async () => {
    interface Result {
      key?: string;
      headers: Record<string, string>;
      post: boolean;
      before?: string;
      after?: string;
      downstream: Downstream;
      viaFetch: Downstream;
      body: unknown;
    }
    const { results } = await fixture<{ results: Result[] }>('sdk-with-middleware.cjs');
    expect(results).toHaveLength(60);
    for (const r of results) {
      expect(r.before).toBe(r.key);
      expect(r.after).toBe(r.key);
      for (const hop of [r.downstream, r.viaFetch]) {
        expectOneKey(hop, r.key);
        expect(hop['x-routing-key']).toEqual(r.key === undefined ? undefined : [r.key]);
        expect(otherMembers(hop.baggage)).toEqual(otherMembers([r.headers.baggage ?? '']));
        expect(hop.traceparent).toHaveLength(1);
      }
      if (r.post) expect(r.body).toEqual({ i: results.indexOf(r) });
    }
  });
});

describe('NodeSDK + instrumentation-kafkajs on the real broker', () => {
  it('delivers a routed send to eachMessage with its key, wrapped producer and OTel agreeing', async () => {
    interface Received {
      value: string;
      before: string | null;
      after: string | null;
      baggage?: string[];
      dedicated?: string[];
      app?: string[];
    }
    interface Sent {
      i: number;
      key?: string;
      path: string;
      seen: string | null;
    }
    const { responses, received } = await fixture<{ responses: Sent[]; received: Received[] }>(
      'sdk-kafka.cjs',
    );
    expect(responses).toHaveLength(30);
    for (const s of responses) expect(s.seen).toBe(s.key ?? null);
    expect(received).toHaveLength(60);
    const byValue = new Map(received.map((m) => [m.value, m]));
    for (const s of responses) {
      for (const kind of ['wrapped', 'plain']) {
        const m = byValue.get(`${kind}-${s.i}`);
        expect(m, `${kind}-${s.i}`).toBeDefined();
        expect(m?.before).toBe(s.key ?? null);
        expect(m?.after).toBe(s.key ?? null);
        expect(m?.baggage).toHaveLength(1);
        expect(routingMembers(m?.baggage)).toEqual(s.key === undefined ? [] : [`sd-routing-key=${s.key}`]);
        expect(otherMembers(m?.baggage)).toEqual([`user=u${s.i}`]);
        if (kind === 'wrapped') expect(m?.dedicated).toEqual(s.key === undefined ? undefined : [s.key]);
        else expect(m?.app).toEqual(['x']);
      }
    }
  });
});

describe('tracing suppressed for a route (ignoreIncomingRequestHook)', () => {
  it('still propagates the key through our own middleware and http propagation', async () => {
    interface Result {
      key?: string;
      path: string;
      seen?: string;
      downstream: Downstream;
    }
    const { results } = await fixture<{ results: Result[] }>('sdk-suppressed.cjs');
    expect(results).toHaveLength(40);
    const quiet = results.filter((r) => r.path === '/quiet');
    expect(quiet.length).toBeGreaterThan(20);
    for (const r of results) {
      expect(r.seen).toBe(r.key);
      expectOneKey(r.downstream, r.key);
      // Proof that tracing really was off on the quiet route (and on on the traced one).
      if (r.path === '/quiet') expect(r.downstream.traceparent).toBeUndefined();
      else expect(r.downstream.traceparent).toHaveLength(1);
    }
  });
});

describe('no OpenTelemetry SDK registered', () => {
  it('leaves a routed Express -> http hop working with the otel entry point loaded', async () => {
    interface Result {
      key?: string;
      seen?: string;
      downstream: Downstream;
      body: { i: number };
    }
    const out = await fixture<{
      results: Result[];
      standalone: Record<string, string>;
      globals: { propagatorFields: string[] };
    }>('no-sdk.cjs');
    expect(out.results).toHaveLength(40);
    out.results.forEach((r, i) => {
      expect(r.seen).toBe(r.key);
      expectOneKey(r.downstream, r.key);
      expect(r.body).toEqual({ i });
    });
    expect(out.standalone).toEqual({ baggage: 'sd-routing-key=standalone' });
    // Loading the entry point registered no global propagator.
    expect(out.globals.propagatorFields).toEqual([]);
  });
});
