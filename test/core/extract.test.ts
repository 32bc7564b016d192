import { Metadata } from '@grpc/grpc-js';
import { extractRoutingKey, type InvalidKeyInfo, type RoutingOptions } from 'routing-context';
import { describe, expect, it } from 'vitest';

describe('extractRoutingKey: sources', () => {
  it('reads baggage by the W3C rules', () => {
    expect(extractRoutingKey({ baggage: 'sd-routing-key=pr-1' })).toBe('pr-1');
    expect(extractRoutingKey({ baggage: 'a=1,\t sd-routing-key \t=\t pr-1 \t;prop=1;flag, b=2' })).toBe(
      'pr-1',
    );
    // Value split on the FIRST '=': "k=v=w" has value "v=w" (invalid as a key here).
    expect(extractRoutingKey({ baggage: 'sd-routing-key=a=b' })).toBeUndefined();
    expect(extractRoutingKey({ baggage: 'sd-routing-key=pr%2D1' })).toBe('pr-1');
    // Keys are tokens, compared exactly and never percent-decoded.
    expect(extractRoutingKey({ baggage: 'sd%2Drouting-key=pr-1' })).toBeUndefined();
    expect(extractRoutingKey({ baggage: 'SD-ROUTING-KEY=pr-1' })).toBeUndefined();
  });

  it('prefers the configured names in order, and the first valid member among duplicates', () => {
    expect(extractRoutingKey({ baggage: 'sd-sandbox=s1,sd-routing-key=r1' })).toBe('r1');
    expect(extractRoutingKey({ baggage: 'sd-sandbox=s1' })).toBe('s1');
    expect(extractRoutingKey({ baggage: 'sd-routing-key=bad key,sd-routing-key=r2,sd-routing-key=r3' })).toBe(
      'r2',
    );
    expect(extractRoutingKey({ baggage: 'sd-routing-key=,sd-sandbox=s1' })).toBe('s1');
  });

  it('combines several baggage headers into one list', () => {
    expect(extractRoutingKey({ baggage: ['a=1', 'sd-routing-key=r1'] })).toBe('r1');
    const h = new Headers();
    h.append('baggage', 'a=1');
    h.append('baggage', 'sd-routing-key=r2');
    expect(extractRoutingKey(h)).toBe('r2');
  });

  it('reads tracestate, even without traceparent', () => {
    expect(extractRoutingKey({ tracestate: 'vendor=x,sd-routing-key=t1' })).toBe('t1');
    expect(extractRoutingKey({ tracestate: 'sd-sandbox=t2' })).toBe('t2');
    expect(extractRoutingKey({ tracestate: 'sd-routing-key=t1' }, { tracestate: false })).toBeUndefined();
  });

  it('reads legacy uberctx- and ot-baggage- headers (URL-decoded)', () => {
    expect(extractRoutingKey({ 'uberctx-sd-routing-key': 'l1' })).toBe('l1');
    expect(extractRoutingKey({ 'ot-baggage-sd-sandbox': 'l2' })).toBe('l2');
    expect(extractRoutingKey({ 'uberctx-sd-routing-key': 'l%2D3' })).toBe('l-3');
    expect(extractRoutingKey({ 'uberctx-sd-routing-key': 'l1' }, { legacyHeaders: false })).toBeUndefined();
  });

  it('reads dedicated headers first', () => {
    const options: RoutingOptions = { headers: ['X-Routing-Key'] };
    expect(extractRoutingKey({ 'x-routing-key': 'h1', baggage: 'sd-routing-key=b1' }, options)).toBe('h1');
    expect(extractRoutingKey({ 'x-routing-key': 'bad value', baggage: 'sd-routing-key=b1' }, options)).toBe(
      'b1',
    );
    expect(extractRoutingKey({ 'x-routing-key': ['bad value', 'h2'] }, options)).toBe('h2');
  });

  it('reads the query parameter and the host pattern last', () => {
    expect(extractRoutingKey({}, { url: '/hook?x=1&sd-routing-key=q1&sd-routing-key=q2' })).toBe('q1');
    expect(extractRoutingKey({}, { url: '/hook?sd-routing-key=bad%20key&sd-routing-key=q2' })).toBe('q2');
    expect(extractRoutingKey({}, { url: '/hook#sd-routing-key=q1' })).toBeUndefined();
    expect(extractRoutingKey({ baggage: 'sd-routing-key=b1' }, { url: '/?sd-routing-key=q1' })).toBe('b1');
    const hostPattern = /^pr-(?<key>\d+)\.preview\./;
    expect(extractRoutingKey({ host: 'pr-42.preview.example.com' }, { hostPattern })).toBe('42');
    expect(extractRoutingKey({ host: 'PR-43.Preview.example.com:8080' }, { hostPattern })).toBe('43');
    expect(extractRoutingKey({}, { hostPattern, host: 'pr-44.preview.x' })).toBe('44');
    expect(extractRoutingKey({ host: 'www.example.com' }, { hostPattern })).toBeUndefined();
    expect(extractRoutingKey({}, { url: '/?sd-routing-key=q1', queryParam: false })).toBeUndefined();
  });
});

describe('extractRoutingKey: carriers', () => {
  it('reads Node headers, Fetch Headers, Kafka records and gRPC Metadata', () => {
    expect(extractRoutingKey({ baggage: 'sd-routing-key=n1' })).toBe('n1');
    expect(extractRoutingKey(new Headers({ Baggage: 'sd-routing-key=f1' }))).toBe('f1');
    expect(extractRoutingKey({ baggage: Buffer.from('sd-routing-key=k1') })).toBe('k1');
    expect(extractRoutingKey({ baggage: [Buffer.from('a=1'), 'sd-routing-key=k2'] })).toBe('k2');
    expect(extractRoutingKey({ baggage: new Uint8Array(Buffer.from('sd-routing-key=k3')) })).toBe('k3');
    const md = new Metadata();
    md.set('baggage', 'sd-routing-key=g1');
    expect(extractRoutingKey(md)).toBe('g1');
  });

  it('matches record header names case-insensitively', () => {
    expect(extractRoutingKey({ Baggage: 'sd-routing-key=c1' })).toBe('c1');
    expect(extractRoutingKey({ TraceState: 'sd-routing-key=c2' })).toBe('c2');
  });

  it('treats carriers it cannot read as absent', () => {
    for (const carrier of [
      null,
      undefined,
      42,
      'baggage',
      [],
      {},
      { baggage: 42 },
      { baggage: {} },
      { baggage: [] },
    ]) {
      expect(extractRoutingKey(carrier as never)).toBeUndefined();
    }
    const throwing = Object.defineProperty({}, 'baggage', {
      get() {
        throw new Error('boom');
      },
      enumerable: true,
    });
    expect(extractRoutingKey(throwing)).toBeUndefined();
    const badGetter = {
      get: () => {
        throw new Error('boom');
      },
      set() {},
    };
    expect(extractRoutingKey(badGetter)).toBeUndefined();
  });
});

describe('extractRoutingKey: hostile input', () => {
  const cases: [string, unknown][] = [
    ['CRLF in the value', 'sd-routing-key=pr-1\r\nx-evil: 1'],
    ['quotes', 'sd-routing-key="pr-1"'],
    ['backslash', 'sd-routing-key=pr\\1'],
    ['empty', ''],
    ['only separators', ',,,;;;===,'],
    ['invalid UTF-8 percent sequence', 'sd-routing-key=%C3%28'],
    ['truncated percent', 'sd-routing-key=pr%2'],
    ['non-ASCII', 'sd-routing-key=prü'],
    ['NUL', 'sd-routing-key=pr\u00001'],
  ];
  for (const [name, value] of cases) {
    it(`drops ${name}`, () => {
      expect(extractRoutingKey({ baggage: value })).toBeUndefined();
    });
  }

  it('treats a 1 MB header as absent', () => {
    const big = `sd-routing-key=pr-1,${'a=b,'.repeat(262_144)}`;
    expect(extractRoutingKey({ baggage: big })).toBeUndefined();
    expect(extractRoutingKey({ 'uberctx-sd-routing-key': 'k'.repeat(1 << 20) })).toBeUndefined();
    expect(extractRoutingKey({ baggage: Buffer.alloc(1 << 20, 0x61) })).toBeUndefined();
  });

  it('treats more than 64 members or 8192 bytes as absent, and accepts up to the limits', () => {
    const members = (n: number) => Array.from({ length: n }, (_, i) => `m${i}=v`);
    expect(extractRoutingKey({ baggage: ['sd-routing-key=ok', ...members(63)].join(',') })).toBe('ok');
    expect(extractRoutingKey({ baggage: ['sd-routing-key=ok', ...members(64)].join(',') })).toBeUndefined();
    expect(
      extractRoutingKey({ baggage: ['sd-routing-key=ok', ...members(10_000)].join(',') }),
    ).toBeUndefined();
    const head = 'sd-routing-key=ok,pad=';
    expect(extractRoutingKey({ baggage: head + 'x'.repeat(8192 - head.length) })).toBe('ok');
    expect(extractRoutingKey({ baggage: head + 'x'.repeat(8193 - head.length) })).toBeUndefined();
    // The limit applies to several headers combined.
    expect(extractRoutingKey({ baggage: ['sd-routing-key=ok', `pad=${'x'.repeat(8190)}`] })).toBeUndefined();
  });

  it('reports dropped values through onInvalidKey, and survives a throwing hook', () => {
    const seen: InvalidKeyInfo[] = [];
    const options: RoutingOptions = { headers: ['x-key'], onInvalidKey: (info) => seen.push(info) };
    expect(extractRoutingKey({ 'x-key': 'bad key', baggage: 'sd-routing-key=a b' }, options)).toBeUndefined();
    expect(seen.map((s) => s.source)).toEqual(['header', 'baggage']);
    const throwing: RoutingOptions = {
      onInvalidKey: () => {
        throw new Error('hook');
      },
    };
    expect(extractRoutingKey({ baggage: 'sd-routing-key=a b' }, throwing)).toBeUndefined();
  });
});
