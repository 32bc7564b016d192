import { Metadata } from '@grpc/grpc-js';
import { defaultTextMapGetter, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import { W3CBaggagePropagator } from '@opentelemetry/core';
import {
  extractRoutingKey,
  injectRoutingKey,
  RoutingKeyError,
  routingHeaders,
  withRoutingKey,
} from 'routing-context';
import { describe, expect, it } from 'vitest';

const bytes = (s: string) => Buffer.byteLength(s);
const count = (s: string) => s.split(',').length;

describe('injectRoutingKey', () => {
  it('writes the active key, and leaves the carrier alone without one', () => {
    const carrier: Record<string, string> = { baggage: 'a=1' };
    expect(injectRoutingKey(carrier)).toBe(carrier);
    expect(carrier).toEqual({ baggage: 'a=1' });
    withRoutingKey('pr-1', () => injectRoutingKey(carrier));
    expect(carrier).toEqual({ baggage: 'sd-routing-key=pr-1,a=1' });
  });

  it('puts our member first, removes stale members of every accepted name, keeps the others', () => {
    const carrier = { baggage: ['x=1;p', ' sd-routing-key=old , sd-sandbox=old2', 'y=2'] };
    injectRoutingKey(carrier, 'new');
    expect(carrier).toEqual({ baggage: 'sd-routing-key=new,x=1;p,y=2' });
  });

  it('replaces differently-cased header names instead of adding a second header', () => {
    const carrier: Record<string, string> = { Baggage: 'a=1' };
    injectRoutingKey(carrier, 'k');
    expect(carrier).toEqual({ baggage: 'sd-routing-key=k,a=1' });
  });

  it('drops malformed and non-ASCII members whole', () => {
    const carrier = { baggage: 'noequals,=v,bad key=1,ok=1,uni=ü,ok2=2' };
    injectRoutingKey(carrier, 'k');
    expect(carrier.baggage).toBe('sd-routing-key=k,ok=1,ok2=2');
  });

  it('respects 64 members and 8192 bytes, never sending a partial member', () => {
    const many = { baggage: Array.from({ length: 100 }, (_, i) => `m${i}=v`).join(',') };
    injectRoutingKey(many, 'k');
    expect(count(many.baggage)).toBe(64);
    expect(many.baggage.startsWith('sd-routing-key=k,m0=v,')).toBe(true);

    const big = { baggage: Array.from({ length: 40 }, (_, i) => `m${i}=${'x'.repeat(300)}`).join(',') };
    injectRoutingKey(big, 'k');
    expect(bytes(big.baggage)).toBeLessThanOrEqual(8192);
    for (const member of big.baggage.split(',').slice(1)) expect(member).toMatch(/^m\d+=x{300}$/);

    // A key added to a near-full baggage is never the one dropped (unlike OTel's propagator).
    const full = { baggage: `pad=${'x'.repeat(8180)}` };
    injectRoutingKey(full, 'k');
    expect(full.baggage).toBe('sd-routing-key=k');
  });

  it('writes dedicated, tracestate and legacy headers when configured', () => {
    const carrier: Record<string, string> = { tracestate: 'v=1,sd-sandbox=old' };
    injectRoutingKey(carrier, 'k', {
      headers: ['x-routing-key'],
      tracestate: { write: true },
      legacyHeaders: { write: true },
    });
    expect(carrier).toEqual({
      baggage: 'sd-routing-key=k',
      'x-routing-key': 'k',
      tracestate: 'sd-routing-key=k,v=1',
      'uberctx-sd-routing-key': 'k',
      'ot-baggage-sd-routing-key': 'k',
    });
  });

  it('writes into Fetch Headers and gRPC Metadata, one value each', () => {
    const h = new Headers({ baggage: 'a=1' });
    h.append('baggage', 'sd-routing-key=old');
    injectRoutingKey(h, 'k');
    expect(h.get('baggage')).toBe('sd-routing-key=k,a=1');
    const md = new Metadata();
    md.add('baggage', 'a=1');
    md.add('baggage', 'b=2');
    injectRoutingKey(md, 'k');
    expect(md.get('baggage')).toEqual(['sd-routing-key=k,a=1,b=2']);
  });

  it('percent-encodes values a custom validator allows, and round-trips them', () => {
    const options = { validate: (k: string) => k.length > 0 };
    const carrier: Record<string, string> = {};
    injectRoutingKey(carrier, 'a b,c;d%ü', options);
    expect(carrier.baggage).toBe('sd-routing-key=a%20b%2Cc%3Bd%25%C3%BC');
    expect(extractRoutingKey(carrier, options)).toBe('a b,c;d%ü');
  });

  it('agrees with OpenTelemetry’s W3C Baggage propagator', () => {
    const carrier: Record<string, string> = { baggage: 'a=1' };
    injectRoutingKey(carrier, 'pr-7');
    const ctx = new W3CBaggagePropagator().extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
    const baggage = propagation.getBaggage(ctx);
    expect(baggage?.getEntry('sd-routing-key')?.value).toBe('pr-7');
    expect(baggage?.getEntry('a')?.value).toBe('1');
  });

  it('throws RoutingKeyError for an invalid explicit key', () => {
    expect(() => injectRoutingKey({}, 'bad key')).toThrowError(RoutingKeyError);
  });
});

describe('routingHeaders', () => {
  it('gives what a test client sends', () => {
    expect(routingHeaders('pr-142')).toEqual({
      baggage: 'sd-routing-key=pr-142',
      tracestate: 'sd-routing-key=pr-142',
    });
    expect(routingHeaders('pr-142', { headers: ['x-routing-key'] })).toEqual({
      baggage: 'sd-routing-key=pr-142',
      tracestate: 'sd-routing-key=pr-142',
      'x-routing-key': 'pr-142',
    });
    expect(extractRoutingKey(routingHeaders('pr-142'))).toBe('pr-142');
    expect(() => routingHeaders('bad key')).toThrowError(RoutingKeyError);
  });
});
