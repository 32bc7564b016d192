// installHttpPropagation next to a running OpenTelemetry SDK (instrumentation-http and
// instrumentation-undici, W3C trace context + baggage, sampler off): OTel injects its own
// `baggage` on http.get and fetch, we merge into it, and the wire carries ONE baggage header with
// ONE routing member. Both orders of the undici channel subscribers are covered: ours before the
// SDK's (OTel's later `addHeader` is merged) and after. The scenario runs in its own process
// (test/http-otel-fixture.mjs), so OTel's global patches stay out of other tests.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

interface Wire {
  baggage: string[];
}
interface Exchange {
  key: string | null;
  user: string;
  answer: { key: string | null; ctx: string | null; wire: Wire };
}
type Phase = { fetch: Exchange[]; http: Exchange[] };

function members(lines: string[], name: string): string[] {
  return lines
    .join(',')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m.startsWith(`${name}=`));
}

let result: { ourSubscriberFirst: Phase; ourSubscriberLast: Phase };

beforeAll(async () => {
  const file = fileURLToPath(new URL('./http-otel-fixture.mjs', import.meta.url));
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      [file],
      { timeout: 120_000, maxBuffer: 32 * 1024 * 1024 },
      (error, out, err) =>
        error ? reject(new Error(`fixture failed (${error.message}):\n${err}`)) : resolve(out),
    );
  });
  result = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
});

function check(exchanges: Exchange[], viaFetch: boolean): void {
  expect(exchanges).toHaveLength(120);
  let keyed = 0;
  for (const { key, user, answer } of exchanges) {
    expect(answer.key).toBe(key);
    expect(answer.ctx).toBe(key);
    // OTel is active: the `user` member reached the next hop only through OTel's own baggage
    // propagation (the application never forwards it).
    expect(members(answer.wire.baggage, 'user')).toEqual([`user=${user}`]);
    if (key === null) {
      expect(members(answer.wire.baggage, 'sd-routing-key')).toEqual([]);
      continue;
    }
    keyed++;
    // One header, one routing member, ours first; the fetch caller's own member kept.
    expect(answer.wire.baggage).toHaveLength(1);
    expect(members(answer.wire.baggage, 'sd-routing-key')).toEqual([`sd-routing-key=${key}`]);
    expect(answer.wire.baggage[0]!.startsWith(`sd-routing-key=${key},`)).toBe(true);
    if (viaFetch) expect(members(answer.wire.baggage, 'hop')).toEqual(['hop=a']);
  }
  expect(keyed).toBe(100);
}

describe('with the OpenTelemetry SDK running (http + undici instrumentation, W3C propagators, sampler off)', () => {
  it('fetch, our undici subscriber first: OTel’s later baggage merged into our one header', () => {
    check(result.ourSubscriberFirst.fetch, true);
  });
  it('http.get: OTel injects before the request is built, we merge after', () => {
    check(result.ourSubscriberFirst.http, false);
  });
  it('fetch and http.get with our install after the SDK’s: same wire', () => {
    check(result.ourSubscriberLast.fetch, true);
    check(result.ourSubscriberLast.http, false);
  });
});
