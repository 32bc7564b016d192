import { setTimeout as sleep } from 'node:timers/promises';
import { RoutesUnavailableError, routesApi, shouldProcess } from 'routing-context';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backoffDelay, parseRoutingRules } from '../src/core/routes-api.js';
import { type EmulatedRule, type RoutesEmulator, startRoutesEmulator } from './helpers/routes-emulator.js';

const baseline = { kind: 'Deployment', namespace: 'shop', name: 'orders' };
const other = { kind: 'Deployment', namespace: 'shop', name: 'payments' };
const RULES: EmulatedRule[] = [
  { routingKey: 'ka', sandbox: 'sb-a', baseline },
  { routingKey: 'kb', sandbox: 'sb-b', baseline },
  { routingKey: 'kz', sandbox: 'sb-z', baseline: other },
];

const ENV = [
  'SIGNADOT_ROUTESERVER',
  'SIGNADOT_BASELINE_KIND',
  'SIGNADOT_BASELINE_NAMESPACE',
  'SIGNADOT_BASELINE_NAME',
  'SIGNADOT_SANDBOX_NAME',
];

async function until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('routesApi', () => {
  let emulator: RoutesEmulator;
  const saved = new Map<string, string | undefined>();
  const sources: { close(): Promise<void> }[] = [];

  beforeEach(async () => {
    for (const name of ENV) {
      saved.set(name, process.env[name]);
      delete process.env[name];
    }
    emulator = await startRoutesEmulator(RULES.map((r) => ({ ...r })));
  });

  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.close()));
    await emulator.close();
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  function track<T extends { close(): Promise<void> }>(source: T): T {
    sources.push(source);
    return source;
  }

  it('names the missing option and its environment variable', () => {
    expect(() => routesApi({ baseline })).toThrow(/"url".*SIGNADOT_ROUTESERVER/);
    expect(() => routesApi({ url: emulator.url })).toThrow(/"baseline\.kind".*SIGNADOT_BASELINE_KIND/);
    expect(() =>
      routesApi({ url: emulator.url, baseline: { kind: 'Deployment', namespace: 'shop' } }),
    ).toThrow(/"baseline\.name".*SIGNADOT_BASELINE_NAME/);
    expect(() => routesApi({ url: 'ftp://x', baseline })).toThrow(TypeError);
    expect(() => routesApi({ url: 'not a url', baseline })).toThrow(/"url"/);
    expect(() => routesApi({ url: emulator.url, baseline, refreshMs: 0 })).toThrow(/"refreshMs"/);
    expect(() => routesApi({ url: emulator.url, baseline, refreshMs: Number.NaN })).toThrow(/"refreshMs"/);
  });

  it('takes its defaults from the environment (SIGNADOT_ROUTESERVER host, port 7778)', async () => {
    const port = new URL(emulator.url).port;
    // The HTTP port is fixed at 7778 by the convention; check the derived URL through a failed
    // request's error, then a working set-up through an explicit url with env baseline.
    process.env.SIGNADOT_ROUTESERVER = 'routeserver.invalid:7777';
    process.env.SIGNADOT_BASELINE_KIND = baseline.kind;
    process.env.SIGNADOT_BASELINE_NAMESPACE = baseline.namespace;
    process.env.SIGNADOT_BASELINE_NAME = baseline.name;
    const errors: Error[] = [];
    track(routesApi({ onError: (e) => errors.push(e) }));
    await until(() => errors.length > 0, 'the first failed request');
    const cause = (errors[0] as Error & { cause?: { message?: string; hostname?: string } }).cause;
    expect(`${cause?.message ?? ''} ${cause?.hostname ?? ''}`).toMatch(/routeserver\.invalid/);

    const routes = track(routesApi({ url: `http://127.0.0.1:${port}` }));
    await routes.ready();
    expect(routes.sandboxFor('ka')).toBe('sb-a');
    const q = emulator.queries.at(-1)!;
    expect(Object.fromEntries(q)).toEqual({
      baselineKind: 'Deployment',
      baselineNamespace: 'shop',
      baselineName: 'orders',
    });
  });

  it('loads the rules of this baseline; ready() resolves on the first good load', async () => {
    emulator.delayMs = 300;
    const routes = track(routesApi({ url: emulator.url, baseline, refreshMs: 60_000 }));
    let ready = false;
    const pending = routes.ready().then(() => (ready = true));
    await until(() => (emulator.requests.get('') ?? 0) > 0, 'the first request');
    expect(ready).toBe(false);
    expect(routes.sandboxFor('ka')).toBeUndefined();
    await pending;
    expect(emulator.answered.get('')).toBe(1);
    expect(routes.sandboxFor('ka')).toBe('sb-a');
    expect(routes.sandboxFor('kb')).toBe('sb-b');
    expect(routes.sandboxFor('kz')).toBeUndefined(); // another workload's sandbox
    expect(shouldProcess(routes, 'kz', undefined)).toBe(true);
    expect(shouldProcess(routes, 'ka', undefined)).toBe(false);
    expect(shouldProcess(routes, 'ka', 'sb-a')).toBe(true);
    expect(shouldProcess(routes, 'ka', 'sb-b')).toBe(false);
    await routes.ready(); // resolves again at once
  });

  it('asks only for its own rules in a sandbox (destinationSandboxName)', async () => {
    const routes = track(routesApi({ url: emulator.url, baseline, sandboxName: 'sb-b' }));
    await routes.ready();
    expect(emulator.queries.at(-1)!.get('destinationSandboxName')).toBe('sb-b');
    expect(routes.sandboxFor('kb')).toBe('sb-b');
    expect(routes.sandboxFor('ka')).toBeUndefined();
  });

  it('keeps the last good routes through garbage, wrong shapes, HTTP errors and an outage, and picks up changes', async () => {
    const errors: string[] = [];
    const routes = track(
      routesApi({ url: emulator.url, baseline, refreshMs: 20, onError: (e) => errors.push(e.message) }),
    );
    await routes.ready();
    expect(routes.sandboxFor('ka')).toBe('sb-a');

    for (const mode of ['garbage', 'wrong-shape', 'http-500'] as const) {
      emulator.mode = mode;
      const before = errors.length;
      await until(() => errors.length > before, `an error in mode ${mode}`, 15_000);
      expect(routes.sandboxFor('ka')).toBe('sb-a');
      expect(routes.sandboxFor('kb')).toBe('sb-b');
      emulator.mode = 'ok';
      const answered = emulator.answered.get('') ?? 0;
      await until(() => (emulator.answered.get('') ?? 0) > answered, 'recovery', 15_000);
    }
    expect(errors.some((m) => /not JSON/.test(m))).toBe(true);
    expect(errors.some((m) => /destinationSandbox\.name/.test(m))).toBe(true);
    expect(errors.some((m) => /HTTP 500/.test(m))).toBe(true);

    await emulator.down();
    const before = errors.length;
    await until(() => errors.length > before, 'a connection error', 15_000);
    expect(routes.sandboxFor('ka')).toBe('sb-a');

    emulator.rules.push({ routingKey: 'kc', sandbox: 'sb-c', baseline });
    emulator.rules = emulator.rules.filter((r) => r.routingKey !== 'ka');
    await emulator.up();
    await until(() => routes.sandboxFor('kc') === 'sb-c', 'the new rule', 40_000);
    expect(routes.sandboxFor('ka')).toBeUndefined();
  }, 60_000);

  it('backs off after failures: 1 s doubling to 30 s, jittered', () => {
    expect(backoffDelay(1, () => 0)).toBe(500);
    expect(backoffDelay(1, () => 1)).toBe(1000);
    expect(backoffDelay(2, () => 1)).toBe(2000);
    expect(backoffDelay(5, () => 1)).toBe(16_000);
    expect(backoffDelay(6, () => 1)).toBe(30_000);
    expect(backoffDelay(1000, () => 1)).toBe(30_000);
    expect(backoffDelay(1000, () => 0)).toBe(15_000);
  });

  it('parses strictly: a bad rule rejects the whole answer; other baselines are ignored; null is empty', () => {
    expect(parseRoutingRules({ routingRules: null }, baseline).size).toBe(0);
    expect(() => parseRoutingRules({}, baseline)).toThrow();
    expect(() => parseRoutingRules([], baseline)).toThrow();
    expect(() => parseRoutingRules({ routingRules: {} }, baseline)).toThrow();
    expect(() =>
      parseRoutingRules(
        {
          routingRules: [
            { routingKey: 'ka', destinationSandbox: { name: 'sb-a' } },
            { routingKey: 7, destinationSandbox: { name: 'sb-b' } },
          ],
        },
        baseline,
      ),
    ).toThrow(/routingRules\[1\]\.routingKey/);
    expect(() =>
      parseRoutingRules({ routingRules: [{ routingKey: 'ka', destinationSandbox: { name: '' } }] }, baseline),
    ).toThrow();
    expect(() =>
      parseRoutingRules(
        { routingRules: [{ routingKey: 'ka', destinationSandbox: { name: 'a' }, baseline: 5 }] },
        baseline,
      ),
    ).toThrow(/baseline/);
    const table = parseRoutingRules(
      {
        routingRules: [
          { routingKey: 'ka', destinationSandbox: { name: 'sb-a' }, baseline },
          { routingKey: 'kz', destinationSandbox: { name: 'sb-z' }, baseline: other },
        ],
      },
      baseline,
    );
    expect([...table]).toEqual([['ka', 'sb-a']]);
  });

  it('close() stops polling and rejects a pending ready(); a signal does the same', async () => {
    emulator.mode = 'http-500';
    const routes = routesApi({ url: emulator.url, baseline, refreshMs: 10 });
    const pending = routes.ready();
    await until(() => (emulator.requests.get('') ?? 0) > 0, 'the first request');
    await routes.close();
    await expect(pending).rejects.toBeInstanceOf(RoutesUnavailableError);
    const count = emulator.requests.get('') ?? 0;
    await sleep(1500);
    expect(emulator.requests.get('') ?? 0).toBe(count);

    emulator.mode = 'ok';
    const controller = new AbortController();
    const polled = routesApi({ url: emulator.url, baseline, refreshMs: 10, signal: controller.signal });
    await polled.ready();
    controller.abort();
    await until(() => true, 'abort');
    const after = emulator.requests.get('') ?? 0;
    await sleep(300);
    expect(emulator.requests.get('') ?? 0).toBeLessThanOrEqual(after + 1);
    expect(polled.sandboxFor('ka')).toBe('sb-a'); // the snapshot stays readable

    const aborted = new AbortController();
    aborted.abort(new Error('gave up'));
    emulator.mode = 'http-500';
    const never = track(routesApi({ url: emulator.url, baseline }));
    await expect(never.ready(aborted.signal)).rejects.toThrow('gave up');
  });
});
