import {
  configureRouting,
  extractRoutingKey,
  getRoutingKey,
  resetRouting,
  withRoutingKey,
} from 'routing-context';
import { afterEach, describe, expect, it } from 'vitest';
import { normalizeOptions } from '../../src/core/options.js';

afterEach(() => resetRouting());

describe('configureRouting', () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['unknown option', { bagageKey: 'x' }, /unknown option "bagageKey"/],
    ['baggageKey', { baggageKey: 'has space' }, /option "baggageKey"/],
    ['acceptKeys', { acceptKeys: 'sd-routing-key' }, /option "acceptKeys"/],
    ['acceptKeys item', { acceptKeys: ['ok', 'no,pe'] }, /option "acceptKeys\[1\]"/],
    ['headers', { headers: ['x routing'] }, /option "headers\[0\]"/],
    ['legacyHeaders', { legacyHeaders: 'yes' }, /option "legacyHeaders"/],
    ['tracestate.write', { tracestate: { write: 1 } }, /option "tracestate.write"/],
    ['queryParam', { queryParam: '' }, /option "queryParam"/],
    [
      'hostPattern without key group',
      { hostPattern: /^pr-(\d+)/ },
      /option "hostPattern".*named group "key"/,
    ],
    ['hostPattern string', { hostPattern: '^pr-' }, /option "hostPattern"/],
    ['validate', { validate: 'abc' }, /option "validate"/],
    ['propagateTo', { propagateTo: ['x'] }, /option "propagateTo"/],
    ['propagateTo field', { propagateTo: { alow: [] } }, /unknown field "alow"/],
    ['propagateTo.deny item', { propagateTo: { deny: [3] } }, /option "propagateTo.deny\[0\]"/],
    ['trustIncoming', { trustIncoming: 'no' }, /option "trustIncoming"/],
    ['onInvalidKey', { onInvalidKey: 'log' }, /option "onInvalidKey"/],
  ];
  for (const [name, options, message] of bad) {
    it(`throws a TypeError naming ${name}, and changes nothing`, () => {
      configureRouting({ headers: ['x-before'] });
      expect(() => configureRouting(options)).toThrowError(TypeError);
      expect(() => configureRouting(options)).toThrowError(message);
      expect(extractRoutingKey({ 'x-before': 'still' })).toBe('still');
    });
  }

  it('merges over the current settings', () => {
    configureRouting({ headers: ['x-a'] });
    configureRouting({ baggageKey: 'my-key' });
    expect(extractRoutingKey({ 'x-a': 'h' })).toBe('h');
    expect(extractRoutingKey({ baggage: 'my-key=b' })).toBe('b');
    // The written name is always read, first, even when acceptKeys does not list it.
    expect(extractRoutingKey({ baggage: 'sd-routing-key=s,my-key=m' })).toBe('m');
  });

  it('drops the state of a global or sticky validate RegExp', () => {
    configureRouting({ validate: /^k\d$/g });
    for (let i = 0; i < 5; i++) expect(withRoutingKey('k1', () => getRoutingKey())).toBe('k1');
  });

  it('caps keys at 256 characters whatever the validator says', () => {
    configureRouting({ validate: () => true });
    expect(extractRoutingKey({ baggage: `sd-routing-key=${'k'.repeat(256)}` })).toHaveLength(256);
    expect(extractRoutingKey({ baggage: `sd-routing-key=${'k'.repeat(257)}` })).toBeUndefined();
  });

  it('treats a throwing validator as rejecting', () => {
    configureRouting({
      validate: () => {
        throw new Error('oops');
      },
    });
    expect(extractRoutingKey({ baggage: 'sd-routing-key=k' })).toBeUndefined();
  });
});

describe('propagateTo and trustIncoming', () => {
  it('matches exact hosts, wildcard subdomains and RegExps; deny wins', () => {
    const o = normalizeOptions({
      propagateTo: {
        allow: ['api.internal', '*.svc.cluster.local', /^10\./],
        deny: ['secret.svc.cluster.local'],
      },
    });
    expect(o.allowsHost('api.internal')).toBe(true);
    expect(o.allowsHost('API.Internal.')).toBe(true);
    expect(o.allowsHost('orders.svc.cluster.local')).toBe(true);
    expect(o.allowsHost('svc.cluster.local')).toBe(false);
    expect(o.allowsHost('10.0.0.1')).toBe(true);
    expect(o.allowsHost('secret.svc.cluster.local')).toBe(false);
    expect(o.allowsHost('api.stripe.com')).toBe(false);
    const denyOnly = normalizeOptions({ propagateTo: { deny: ['api.stripe.com'] } });
    expect(denyOnly.allowsHost('orders')).toBe(true);
    expect(denyOnly.allowsHost('api.stripe.com')).toBe(false);
    expect(normalizeOptions({}).allowsHost('anything')).toBe(true);
  });

  it('decides trust with a boolean or a predicate that may not throw', () => {
    const req = { headers: {}, socket: { remoteAddress: '10.1.2.3' } };
    expect(normalizeOptions({}).trusts(req)).toBe(true);
    expect(normalizeOptions({ trustIncoming: false }).trusts(req)).toBe(false);
    const internal = normalizeOptions({
      trustIncoming: (r) => r.socket?.remoteAddress?.startsWith('10.') === true,
    });
    expect(internal.trusts(req)).toBe(true);
    expect(internal.trusts({ headers: {}, socket: { remoteAddress: '8.8.8.8' } })).toBe(false);
    const throwing = normalizeOptions({
      trustIncoming: () => {
        throw new Error('x');
      },
    });
    expect(throwing.trusts(req)).toBe(false);
  });
});
