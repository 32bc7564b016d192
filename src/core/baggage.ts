import type { NormalizedOptions } from './options.js';
import { encodeBaggageValue, isBaggageOctet, percentDecode } from './percent.js';

/** W3C Baggage: a platform must propagate at least this many bytes and members; we never send more. */
export const MAX_BAGGAGE_BYTES = 8192;
export const MAX_BAGGAGE_MEMBERS = 64;

const SPACE = 32;
const TAB = 9;
const PERCENT = 37;

function isOws(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** Whether `s[start, end)` equals `name`, without allocating. */
function regionEquals(s: string, start: number, end: number, name: string): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (s.charCodeAt(start + i) !== name.charCodeAt(i)) return false;
  return true;
}

/** Index into `names` of the name equal to `s[start, end)`, or -1. */
function nameIndex(s: string, start: number, end: number, names: readonly string[]): number {
  for (let j = 0; j < names.length; j++) if (regionEquals(s, start, end, names[j]!)) return j;
  return -1;
}

/**
 * Finds the routing key in a (combined) `baggage` header value.
 *
 * Reads members named in `names`, preferring earlier names and, among members of one name, the
 * first valid one. A header over 8192 bytes or 64 members is treated as absent (W3C limits), so the
 * work is bounded whatever arrives. Percent-decoding follows W3C Baggage (invalid UTF-8 becomes
 * U+FFFD, which no sane validator accepts).
 */
export function findInBaggage(header: string, o: NormalizedOptions): string | undefined {
  const names = o.acceptKeys;
  const len = header.length;
  if (len === 0 || len > MAX_BAGGAGE_BYTES) return undefined;
  let best: string | undefined;
  let bestIndex = names.length;
  let members = 0;
  let start = 0;
  while (start <= len) {
    let end = header.indexOf(',', start);
    if (end === -1) end = len;
    // Trim OWS.
    let ks = start;
    while (ks < end && isOws(header.charCodeAt(ks))) ks++;
    if (ks < end) {
      if (++members > MAX_BAGGAGE_MEMBERS) return undefined;
      const eq = header.indexOf('=', ks);
      if (eq !== -1 && eq < end && bestIndex > 0) {
        let ke = eq;
        while (ke > ks && isOws(header.charCodeAt(ke - 1))) ke--;
        const j = nameIndex(header, ks, ke, names);
        if (j !== -1 && j < bestIndex) {
          const value = memberValue(header, eq + 1, end);
          if (value !== undefined && o.isValid(value)) {
            best = value;
            bestIndex = j;
          } else if (o.reportInvalid !== undefined) {
            o.reportInvalid({
              source: 'baggage',
              name: names[j]!,
              value: header
                .slice(eq + 1, end)
                .trim()
                .slice(0, 128),
            });
          }
        }
      }
    }
    start = end + 1;
  }
  return best;
}

/** The decoded value of a member whose value starts at `vs` and whose member ends at `end`. */
function memberValue(s: string, vs: number, end: number): string | undefined {
  let semi = s.indexOf(';', vs);
  if (semi === -1 || semi > end) semi = end;
  while (vs < semi && isOws(s.charCodeAt(vs))) vs++;
  let ve = semi;
  while (ve > vs && isOws(s.charCodeAt(ve - 1))) ve--;
  if (ve === vs) return undefined;
  let encoded = false;
  for (let i = vs; i < ve; i++) {
    const c = s.charCodeAt(i);
    if (!isBaggageOctet(c)) return undefined;
    if (c === PERCENT) encoded = true;
  }
  return encoded ? percentDecode(s, vs, ve) : s.slice(vs, ve);
}

/** Whether `s[start, end)` is an RFC 7230 token. */
function isToken(s: string, start: number, end: number): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 97 && c <= 122) ||
      (c >= 65 && c <= 90) ||
      (c >= 48 && c <= 57) ||
      c === 33 ||
      (c >= 35 && c <= 39) ||
      c === 42 ||
      c === 43 ||
      c === 45 ||
      c === 46 ||
      c === 94 ||
      c === 95 ||
      c === 96 ||
      c === 124 ||
      c === 126;
    if (!ok) return false;
  }
  return true;
}

/**
 * Builds a `baggage` value with `member` (already serialized) first, followed by the members of
 * `existing` except those named in `stale`, as long as the result stays within 8192 bytes and 64
 * members. Members that do not fit, are malformed or are not ASCII are dropped whole, never cut.
 */
export function mergeBaggage(existing: string | undefined, member: string, stale: readonly string[]): string {
  if (existing === undefined || existing.length === 0) return member;
  let out = member;
  let members = 1;
  const len = existing.length;
  let start = 0;
  while (start < len && members < MAX_BAGGAGE_MEMBERS) {
    let end = existing.indexOf(',', start);
    if (end === -1) end = len;
    let ms = start;
    while (ms < end && isOws(existing.charCodeAt(ms))) ms++;
    let me = end;
    while (me > ms && isOws(existing.charCodeAt(me - 1))) me--;
    start = end + 1;
    if (me === ms || out.length + 1 + (me - ms) > MAX_BAGGAGE_BYTES) continue;
    const eq = existing.indexOf('=', ms);
    if (eq === -1 || eq >= me) continue;
    let ke = eq;
    while (ke > ms && isOws(existing.charCodeAt(ke - 1))) ke--;
    if (!isToken(existing, ms, ke) || nameIndex(existing, ms, ke, stale) !== -1) continue;
    if (!isPrintableAscii(existing, eq + 1, me)) continue;
    out += `,${existing.slice(ms, me)}`;
    members++;
  }
  return out;
}

function isPrintableAscii(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== TAB) || c > 0x7e) return false;
  }
  return true;
}

/** Serializes one member `name=value`, percent-encoding the value as W3C Baggage requires. */
export function baggageMember(name: string, value: string): string {
  return `${name}=${encodeBaggageValue(value)}`;
}
