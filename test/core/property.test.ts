import fc from 'fast-check';
import { extractRoutingKey, injectRoutingKey, type RoutingOptions } from 'routing-context';
import { describe, expect, it } from 'vitest';
import { percentDecode } from '../../src/core/percent.js';

const validKey = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);
const token = fc
  .stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,20}$/)
  .filter((t) => t !== 'sd-routing-key' && t !== 'sd-sandbox');
const octets = fc.stringMatching(/^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{0,30}$/);
const member = fc.tuple(token, octets).map(([k, v]) => `${k}=${v}`);
const baggage = fc.array(member, { maxLength: 20 }).map((m) => m.join(','));

/** Adversarial header text: separators, OWS, CR/LF, quotes, percent signs, non-ASCII and our names. */
const hostileText = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        'sd-routing-key',
        'sd-sandbox',
        '=',
        ',',
        ';',
        ' ',
        '\t',
        '\r\n',
        '"',
        '%',
        '%2',
        '%zz',
        '%C3',
        'ü',
        '\u0000',
        '\\',
      ),
      fc.string({ maxLength: 8 }),
      validKey,
    ),
    { maxLength: 60 },
  )
  .map((parts) => parts.join(''));

const headerValue = fc.oneof(
  hostileText,
  fc.array(hostileText, { maxLength: 5 }),
  hostileText.map((s) => Buffer.from(s)),
  fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
  fc.array(
    fc.oneof(
      hostileText,
      hostileText.map((s) => Buffer.from(s)),
    ),
    { maxLength: 4 },
  ),
  fc.constantFrom(null, undefined, 42, {}, [], Number.NaN),
);

const carrier = fc.dictionary(
  fc.constantFrom(
    'baggage',
    'Baggage',
    'tracestate',
    'uberctx-sd-routing-key',
    'ot-baggage-sd-sandbox',
    'x-routing-key',
    'host',
    'other',
  ),
  headerValue,
);

const options: RoutingOptions = { headers: ['x-routing-key'], hostPattern: /^pr-(?<key>[a-z0-9]+)\./ };
const defaultValid = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

describe('properties', () => {
  it('inject then extract gives the key back, whatever baggage was already there', () => {
    fc.assert(
      fc.property(validKey, baggage, (key, existing) => {
        const headers: Record<string, string> = existing ? { baggage: existing } : {};
        injectRoutingKey(headers, key);
        expect(extractRoutingKey(headers)).toBe(key);
        expect(Buffer.byteLength(headers.baggage!)).toBeLessThanOrEqual(8192);
        expect(headers.baggage!.split(',').length).toBeLessThanOrEqual(64);
        // Exactly one member of ours, first.
        expect(headers.baggage!.split(',').filter((m) => m.startsWith('sd-routing-key=')).length).toBe(1);
        expect(headers.baggage!.startsWith(`sd-routing-key=${key}`)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps every other well-formed member when within limits', () => {
    fc.assert(
      fc.property(validKey, fc.array(member, { maxLength: 30 }), (key, members) => {
        const headers = { baggage: members.join(',') };
        injectRoutingKey(headers, key);
        expect(headers.baggage.split(',').slice(1)).toEqual(members.filter((m) => m.length > 0));
      }),
      { numRuns: 300 },
    );
  });

  it('never throws on any carrier, and returns either nothing or a valid key', () => {
    fc.assert(
      fc.property(carrier, fc.option(hostileText, { nil: undefined }), (c, url) => {
        const key = extractRoutingKey(c, { ...options, url: url === undefined ? undefined : `/p?${url}` });
        if (key !== undefined) expect(key).toMatch(defaultValid);
      }),
      { numRuns: 2000 },
    );
  });

  it('merging into hostile existing baggage never throws and stays within the limits', () => {
    fc.assert(
      fc.property(
        validKey,
        fc.oneof(hostileText, fc.array(hostileText, { maxLength: 4 })),
        (key, existing) => {
          const headers: Record<string, unknown> = { baggage: existing };
          injectRoutingKey(headers, key);
          const written = headers.baggage as string;
          expect(Buffer.byteLength(written)).toBeLessThanOrEqual(8192);
          expect(written.split(',').length).toBeLessThanOrEqual(64);
          expect(extractRoutingKey(headers)).toBe(key);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('a member hidden among up to 63 random members is found, in any position', () => {
    fc.assert(
      fc.property(validKey, fc.array(member, { maxLength: 63 }), fc.nat(), (key, members, at) => {
        const list = [...members];
        list.splice(at % (list.length + 1), 0, `sd-routing-key=${key}`);
        expect(extractRoutingKey({ baggage: list.join(',') })).toBe(
          list.join(',').length <= 8192 ? key : undefined,
        );
      }),
      { numRuns: 500 },
    );
  });

  it('reads baggage exactly as a member-by-member reading of W3C Baggage does', () => {
    // The reference: split into members, the value before any `;`, OWS trimmed, baggage octets
    // only, the first valid member of the first accepted name (`sd-routing-key`, then
    // `sd-sandbox`); lists over 8192 characters or 64 non-empty members count as absent.
    const ows = (s: string) => s.replace(/^[ \t]+|[ \t]+$/g, '');
    const octet = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+$/;
    const reference = (header: string): string | undefined => {
      if (header.length === 0 || header.length > 8192) return undefined;
      const members = header.split(',');
      if (members.filter((m) => ows(m).length > 0).length > 64) return undefined;
      for (const name of ['sd-routing-key', 'sd-sandbox']) {
        for (const m of members) {
          const eq = m.indexOf('=');
          if (eq === -1 || ows(m.slice(0, eq)) !== name) continue;
          const raw = ows(m.slice(eq + 1).split(';')[0]!);
          if (!octet.test(raw)) continue;
          const value = raw.includes('%') ? percentDecode(raw, 0, raw.length) : raw;
          if (value !== undefined && defaultValid.test(value)) return value;
        }
      }
      return undefined;
    };
    const piece = fc.oneof(
      fc.constantFrom('sd-routing-key', 'sd-sandbox', 'xsd-routing-key', 'sd-routing-keyx', '='),
      fc.constantFrom(',', ';', ' ', '\t', '"', '%', '%41', '%2D', '%C3%BC', 'ü', ';p=1', ',,'),
      validKey,
      octets,
    );
    const pad = fc.constantFrom('', ' ', '\t', ' \t ');
    const valueText = fc
      .array(fc.oneof(validKey, fc.constantFrom(' ', '\t', '"', '%41', '%2D', '%C3%BC', '%zz', 'ü', '=')), {
        maxLength: 4,
      })
      .map((parts) => parts.join(''));
    const ourMember = fc
      .tuple(fc.constantFrom('sd-routing-key', 'sd-sandbox', 'xsd-routing-key'), pad, pad, valueText, pad)
      .chain(([name, p1, p2, value, p3]) =>
        fc
          .constantFrom('', ';p=1', ' ;q', ';', ';x=a,b')
          .map((props) => `${p1}${name}${p2}=${p2}${value}${p3}${props}`),
      );
    const headerText = fc.oneof(
      fc.array(piece, { maxLength: 30 }).map((parts) => parts.join('')),
      fc.array(fc.oneof(ourMember, member, fc.constant('')), { maxLength: 6 }).map((m) => m.join(',')),
      fc
        .tuple(fc.array(member, { maxLength: 70 }), validKey, fc.nat(), fc.constantFrom('', ' ', '\t '))
        .map(([members, key, at, pad]) => {
          const list = [...members];
          list.splice(at % (list.length + 1), 0, `${pad}sd-routing-key${pad}=${pad}${key}${pad}`);
          return list.join(',');
        }),
    );
    fc.assert(
      fc.property(headerText, (header) => {
        expect(extractRoutingKey({ baggage: header })).toBe(reference(header));
      }),
      { numRuns: 5000 },
    );
  });
});
