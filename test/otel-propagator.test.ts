// RoutingPropagator and the baggage bridge against the real OpenTelemetry API, context manager and
// W3C propagators (no SDK: the SDK-level tests run in child processes, see otel-sdk.test.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import {
  context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  type TextMapPropagator,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import * as traceBase from '@opentelemetry/sdk-trace-base';
import { getRoutingKey, withRoutingKey } from 'routing-context';
import { enableOtelBridge, RoutingPropagator } from 'routing-context/otel';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const contextManager = new AsyncLocalStorageContextManager();
const disposers: Array<() => void> = [];

beforeAll(() => {
  // A context manager is needed for `context.with`; no propagator is registered globally.
  contextManager.enable();
  expect(context.setGlobalContextManager(contextManager)).toBe(true);
});
afterAll(() => {
  context.disable();
});
afterEach(() => {
  for (const dispose of disposers.splice(0)) dispose();
});

function routingPropagator(options?: ConstructorParameters<typeof RoutingPropagator>[0]): RoutingPropagator {
  const p = new RoutingPropagator(options);
  disposers.push(() => p.disableBridge());
  return p;
}

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function extract(p: TextMapPropagator, headers: Record<string, string | string[]>) {
  return p.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
}

function inject(p: TextMapPropagator, ctx = context.active(), carrier: Record<string, unknown> = {}) {
  p.inject(ctx, carrier, defaultTextMapSetter);
  return carrier;
}

function members(header: unknown): string[] {
  expect(typeof header).toBe('string');
  return (header as string).split(',');
}

describe('RoutingPropagator.extract', () => {
  it('reads every format of the core with its precedence, and puts the key first in the baggage', () => {
    const p = routingPropagator({ headers: ['x-routing-key'] });
    const cases: Array<[Record<string, string | string[]>, string | undefined]> = [
      [{ baggage: 'a=1,sd-routing-key=k-bag,b=2' }, 'k-bag'],
      [{ baggage: 'sd-sandbox=k-alt' }, 'k-alt'],
      [{ 'x-routing-key': 'k-dedicated', baggage: 'sd-routing-key=k-bag' }, 'k-dedicated'],
      [{ tracestate: 'vendor=x,sd-routing-key=k-ts' }, 'k-ts'],
      [{ 'uberctx-sd-routing-key': 'k-jaeger' }, 'k-jaeger'],
      [{ 'ot-baggage-sd-sandbox': 'k-ot' }, 'k-ot'],
      [{ baggage: ['a=1', 'sd-routing-key=k-repeated'] }, 'k-repeated'],
      [{ baggage: 'sd-routing-key=bad%20key' }, undefined],
      [{ baggage: `sd-routing-key=${'x'.repeat(300)}` }, undefined],
      [{ baggage: `sd-routing-key=ok,${'z=1,'.repeat(100)}` }, undefined],
      [{}, undefined],
    ];
    for (const [headers, expected] of cases) {
      const ctx = extract(p, headers);
      const baggage = propagation.getBaggage(ctx);
      if (expected === undefined) {
        expect(ctx, JSON.stringify(headers)).toBe(ROOT_CONTEXT);
        continue;
      }
      expect(baggage?.getAllEntries()[0], JSON.stringify(headers)).toEqual([
        'sd-routing-key',
        { value: expected },
      ]);
      expect(baggage?.getEntry('sd-sandbox')).toBeUndefined();
      expect(context.with(ctx, getRoutingKey)).toBe(expected);
    }
  });

  it('keeps the other baggage members extracted by W3CBaggagePropagator, in either order', () => {
    const p = routingPropagator({ headers: ['x-routing-key'] });
    const headers = { baggage: 'user=alice,sd-sandbox=stale', 'x-routing-key': 'k1' };
    for (const order of [
      [new W3CBaggagePropagator(), p],
      [p, new W3CBaggagePropagator()],
    ]) {
      const ctx = extract(new CompositePropagator({ propagators: order }), headers);
      expect(propagation.getBaggage(ctx)?.getEntry('user')?.value).toBe('alice');
      // The dedicated header beats baggage, whichever propagator wrote the baggage last.
      expect(context.with(ctx, getRoutingKey)).toBe('k1');
    }
  });

  it('never throws on exotic carriers', () => {
    const p = routingPropagator();
    const throwing = {
      get: () => {
        throw new Error('boom');
      },
      keys: () => [],
    };
    expect(p.extract(ROOT_CONTEXT, {}, throwing)).toBe(ROOT_CONTEXT);
    expect(p.extract(ROOT_CONTEXT, null, defaultTextMapGetter)).toBe(ROOT_CONTEXT);
    expect(extract(p, { baggage: '%%%,=,sd-routing-key=%ZZ' })).toBe(ROOT_CONTEXT);
  });

  it('with trustIncoming: false, marks the context baseline even when W3CBaggagePropagator runs after it', () => {
    const p = routingPropagator({ trustIncoming: false });
    const composite = new CompositePropagator({ propagators: [p, new W3CBaggagePropagator()] });
    const ctx = extract(composite, { baggage: 'sd-routing-key=evil,user=bob' });
    expect(context.with(ctx, getRoutingKey)).toBeUndefined();
    expect(inject(p, ctx).baggage).toBeUndefined();
  });

  it('asks a trustIncoming predicate with the inbound headers', () => {
    const p = routingPropagator({ trustIncoming: (req) => req.headers['x-internal'] === '1' });
    const inbound = { baggage: 'sd-routing-key=k7' };
    expect(context.with(extract(p, inbound), getRoutingKey)).toBeUndefined();
    expect(context.with(extract(p, { ...inbound, 'x-internal': '1' }), getRoutingKey)).toBe('k7');
  });
});

describe('RoutingPropagator.inject', () => {
  const orders = {
    'trace-context, baggage, routing': (p: RoutingPropagator) => [
      new W3CTraceContextPropagator(),
      new W3CBaggagePropagator(),
      p,
    ],
    'routing, trace-context, baggage': (p: RoutingPropagator) => [
      p,
      new W3CTraceContextPropagator(),
      new W3CBaggagePropagator(),
    ],
  };

  for (const [name, order] of Object.entries(orders)) {
    it(`round-trips through a CompositePropagator (${name}) with exactly one member, ours first`, () => {
      const p = routingPropagator();
      const composite = new CompositePropagator({ propagators: order(p) });
      const inbound = { traceparent: TRACEPARENT, baggage: 'user=alice,sd-routing-key=k1,tenant=t%2C1' };
      const ctx = extract(composite, inbound);
      const out = inject(composite, ctx);
      const list = members(out.baggage);
      expect(list.filter((m) => m.startsWith('sd-routing-key='))).toEqual(['sd-routing-key=k1']);
      expect(list).toContain('user=alice');
      expect(list).toContain('tenant=t%2C1');
      expect(out.traceparent).toMatch(/^00-0af7651916cd43dd8448eb211c80319c-/);
    });

    it(`carries a key set with withRoutingKey through the OTel baggage (${name}), replacing a stale one`, async () => {
      const p = routingPropagator();
      const composite = new CompositePropagator({ propagators: order(p) });
      const outer = propagation.setBaggage(
        ROOT_CONTEXT,
        propagation.createBaggage({ user: { value: 'bob' }, 'sd-sandbox': { value: 'stale' } }),
      );
      const out = await context.with(outer, () =>
        withRoutingKey('k2', async () => {
          await sleep(1);
          return inject(composite);
        }),
      );
      expect(members(out.baggage).sort()).toEqual(['sd-routing-key=k2', 'user=bob']);
      expect((out.baggage as string).startsWith('sd-routing-key=k2')).toBe(true);
    });

    it(`keeps the key in a near-full baggage (${name})`, () => {
      const p = routingPropagator();
      const composite = new CompositePropagator({ propagators: order(p) });
      // 63 members of 129 bytes: 8189 bytes with separators, so the key added last overflows.
      const entries: Record<string, { value: string }> = {};
      for (let i = 0; i < 63; i++) entries[`m${String(i).padStart(2, '0')}`] = { value: 'v'.repeat(125) };
      const full = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage(entries));

      // Control: OTel alone loses a key appended to this baggage.
      const appended = propagation.setBaggage(
        ROOT_CONTEXT,
        propagation.createBaggage(entries).setEntry('sd-routing-key', { value: 'k3' }),
      );
      const control = inject(new W3CBaggagePropagator(), appended);
      expect(control.baggage).not.toContain('sd-routing-key');

      const out = context.with(full, () => withRoutingKey('k3', () => inject(composite)));
      const header = out.baggage as string;
      expect(header.startsWith('sd-routing-key=k3,')).toBe(true);
      expect(header.length).toBeLessThanOrEqual(8192);
      expect(members(header).length).toBeLessThanOrEqual(64);
      expect(members(header).filter((m) => m.startsWith('sd-routing-key='))).toHaveLength(1);
    });
  }

  it('merges into a baggage written before it within the 64-member limit', () => {
    const p = routingPropagator();
    const entries: Record<string, { value: string }> = {};
    for (let i = 0; i < 100; i++) entries[`m${i}`] = { value: String(i) };
    const ctx = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage(entries));
    const theirsOnly = inject(new W3CBaggagePropagator(), ctx);
    expect(members(theirsOnly.baggage)).toHaveLength(100);
    const out = context.with(ctx, () =>
      withRoutingKey('k4', () =>
        inject(new CompositePropagator({ propagators: [new W3CBaggagePropagator(), p] })),
      ),
    );
    const list = members(out.baggage);
    expect(list[0]).toBe('sd-routing-key=k4');
    expect(list).toHaveLength(64);
  });

  it('writes nothing for baseline, also inside a routed context set back to baseline', () => {
    const p = routingPropagator();
    const composite = new CompositePropagator({ propagators: [new W3CBaggagePropagator(), p] });
    expect(inject(composite, ROOT_CONTEXT)).toEqual({});
    const out = withRoutingKey('k5', () => withRoutingKey(undefined, () => inject(composite)));
    expect(out).toEqual({});
  });

  it('writes the extra formats configured and lists them in fields()', () => {
    const p = routingPropagator({
      headers: ['x-routing-key'],
      tracestate: true,
      legacyHeaders: { write: true },
    });
    expect(p.fields().sort()).toEqual(
      [
        'baggage',
        'ot-baggage-sd-routing-key',
        'tracestate',
        'uberctx-sd-routing-key',
        'x-routing-key',
      ].sort(),
    );
    expect(routingPropagator().fields()).toEqual(['baggage']);
    const out = withRoutingKey('k6', () => inject(p));
    expect(out).toEqual({
      baggage: 'sd-routing-key=k6',
      'x-routing-key': 'k6',
      tracestate: 'sd-routing-key=k6',
      'uberctx-sd-routing-key': 'k6',
      'ot-baggage-sd-routing-key': 'k6',
    });
  });

  it('does not write a key that fails validation', () => {
    const p = routingPropagator();
    const ctx = propagation.setBaggage(
      ROOT_CONTEXT,
      propagation.createBaggage({ 'sd-routing-key': { value: 'has space' } }),
    );
    expect(inject(p, ctx)).toEqual({});
  });

  it('throws TypeError naming the option on bad configuration', () => {
    expect(() => new RoutingPropagator({ spanAttribute: 3 as unknown as boolean })).toThrow(/spanAttribute/);
    expect(() => new RoutingPropagator({ baggageKey: 'bad key' })).toThrow(/baggageKey/);
    expect(() => enableOtelBridge({ nope: 1 } as never)).toThrow(/unknown option "nope"/);
  });
});

describe('the bridge', () => {
  it('makes a valid key in the active OTel baggage the routing key, and only while no store key is set', () => {
    const dispose = enableOtelBridge();
    disposers.push(dispose);
    const bag = (value: string) =>
      propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ 'sd-routing-key': { value } }));
    expect(context.with(bag('otel-key'), getRoutingKey)).toBe('otel-key');
    expect(context.with(bag('not valid!'), getRoutingKey)).toBeUndefined();
    expect(context.with(bag('otel-key'), () => withRoutingKey('store-key', getRoutingKey))).toBe('store-key');
    expect(context.with(bag('otel-key'), () => withRoutingKey(undefined, getRoutingKey))).toBeUndefined();
    dispose();
    expect(context.with(bag('otel-key'), getRoutingKey)).toBeUndefined();
  });

  it('keeps many interleaved contexts isolated, in both directions', async () => {
    disposers.push(enableOtelBridge());
    const seen = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const key = `key-${i}`;
        if (i % 2 === 0) {
          // Entered through our API: OTel baggage must follow.
          return withRoutingKey(key, async () => {
            await sleep(i % 7);
            const inner = await Promise.resolve().then(() => propagation.getActiveBaggage());
            return [key, getRoutingKey(), inner?.getEntry('sd-routing-key')?.value];
          });
        }
        // Entered through OTel: our API must follow.
        const ctx = propagation.setBaggage(
          ROOT_CONTEXT,
          propagation.createBaggage({ 'sd-routing-key': { value: key } }),
        );
        return context.with(ctx, async () => {
          await sleep(i % 5);
          return [key, getRoutingKey(), propagation.getActiveBaggage()?.getEntry('sd-routing-key')?.value];
        });
      }),
    );
    for (const [key, ours, otel] of seen) {
      expect(ours).toBe(key);
      expect(otel).toBe(key);
    }
  });

  it('removes every accepted member for baseline and leaves other members alone', () => {
    disposers.push(enableOtelBridge());
    const ctx = propagation.setBaggage(
      ROOT_CONTEXT,
      propagation.createBaggage({
        'sd-routing-key': { value: 'a' },
        'sd-sandbox': { value: 'b' },
        x: { value: '1' },
      }),
    );
    const entries = context.with(ctx, () =>
      withRoutingKey(undefined, () => propagation.getActiveBaggage()?.getAllEntries()),
    );
    expect(entries).toEqual([['x', { value: '1' }]]);
  });

  it('puts the key on spans when spanAttribute is set', () => {
    const exporter = new traceBase.InMemorySpanExporter();
    // The OTel 2.x line has BasicTracerProvider and a positional exporter; 3.x (test:matrix) has
    // TracerProvider and an options object.
    const sdkTrace: Record<string, any> = traceBase;
    const provider = sdkTrace.BasicTracerProvider
      ? new sdkTrace.BasicTracerProvider({ spanProcessors: [new sdkTrace.SimpleSpanProcessor(exporter)] })
      : new sdkTrace.TracerProvider({ spanProcessors: [new sdkTrace.SimpleSpanProcessor({ exporter })] });
    const tracer = provider.getTracer('test');
    const p = routingPropagator({ spanAttribute: true });
    const server = tracer.startSpan('server');
    context.with(trace.setSpan(ROOT_CONTEXT, server), () =>
      withRoutingKey('span-key', () => {
        const client = tracer.startSpan('client');
        inject(p, trace.setSpan(context.active(), client));
        client.end();
      }),
    );
    server.end();
    const plain = tracer.startSpan('plain');
    context.with(trace.setSpan(ROOT_CONTEXT, plain), () => withRoutingKey('other', () => undefined));
    plain.end();
    const attrs = Object.fromEntries(
      exporter.getFinishedSpans().map((s) => [s.name, s.attributes['routing.key']]),
    );
    expect(attrs).toEqual({ server: 'span-key', client: 'span-key', plain: 'other' });

    const named = routingPropagator({ spanAttribute: 'sandbox.key' });
    const span = tracer.startSpan('named');
    inject(named, trace.setSpan(ROOT_CONTEXT, span).setValue(Symbol('x'), 1), {});
    withRoutingKey('n-key', () => inject(named, trace.setSpan(context.active(), span)));
    span.end();
    const last = exporter.getFinishedSpans().at(-1);
    expect(last?.attributes['sandbox.key']).toBe('n-key');
    expect(last?.attributes['routing.key']).toBeUndefined();
  });
});
