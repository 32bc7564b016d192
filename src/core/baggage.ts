import type { NormalizedOptions } from './options.js';
import { encodeBaggageValue, isBaggageOctet, percentDecode } from './percent.js';

/** W3C Baggage: a platform must propagate at least this many bytes and members; we never send more. */
export const MAX_BAGGAGE_BYTES = 8192;
export const MAX_BAGGAGE_MEMBERS = 64;

const SPACE = 32;
const TAB = 9;
const PERCENT = 37;
const COMMA = 44;
const EQUALS = 61;

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
 * Reads members named in `o.acceptKeys`, preferring earlier names and, among members of one name,
 * the first valid one. A header over 8192 bytes or 64 members is treated as absent (W3C limits), so
 * the work is bounded whatever arrives. Percent-decoding follows W3C Baggage (invalid UTF-8 becomes
 * U+FFFD, which no sane validator accepts).
 *
 * Names are located with native `indexOf` and accepted only at a member boundary, which keeps the
 * common case to a few native scans instead of a walk over every member.
 */
export function findInBaggage(header: string, o: NormalizedOptions): string | undefined {
  const len = header.length;
  if (len === 0 || len > MAX_BAGGAGE_BYTES || tooManyMembers(header)) return undefined;
  const names = o.acceptKeys;
  for (let j = 0; j < names.length; j++) {
    const name = names[j]!;
    for (let at = header.indexOf(name); at !== -1; at = header.indexOf(name, at + 1)) {
      // The name must be a whole member key: after a comma (or the start) and OWS, before OWS and '='.
      let before = at - 1;
      while (before >= 0 && isOws(header.charCodeAt(before))) before--;
      if (before >= 0 && header.charCodeAt(before) !== COMMA) continue;
      let eq = at + name.length;
      while (eq < len && isOws(header.charCodeAt(eq))) eq++;
      if (header.charCodeAt(eq) !== EQUALS) continue;
      let end = header.indexOf(',', eq);
      if (end === -1) end = len;
      const value = memberValue(header, eq + 1, end);
      if (value !== undefined && o.isValid(value)) return value;
      o.reportInvalid?.({
        source: 'baggage',
        name,
        value: header
          .slice(eq + 1, end)
          .trim()
          .slice(0, 128),
      });
    }
  }
  return undefined;
}

/** Whether the list has more than 64 non-empty members; counts commas natively first. */
function tooManyMembers(header: string): boolean {
  let commas = 0;
  for (let i = header.indexOf(','); i !== -1; i = header.indexOf(',', i + 1)) commas++;
  if (commas < MAX_BAGGAGE_MEMBERS) return false;
  // Empty members (",,") do not count: walk the members only for such long lists.
  let members = 0;
  let start = 0;
  while (start <= header.length) {
    let end = header.indexOf(',', start);
    if (end === -1) end = header.length;
    let i = start;
    while (i < end && isOws(header.charCodeAt(i))) i++;
    if (i < end && ++members > MAX_BAGGAGE_MEMBERS) return true;
    start = end + 1;
  }
  return false;
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
  const fast = appendWellFormed(existing, member, stale);
  if (fast !== undefined) return fast;
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

/**
 * A baggage list with no OWS around members, token keys and printable-ASCII values: what every
 * well-behaved sender writes. Linear-time (a key cannot contain `=`, a value cannot contain `,`).
 */
const WELL_FORMED =
  /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+=[\x21-\x2b\x2d-\x7e]*(?:,[!#$%&'*+\-.^_`|~0-9A-Za-z]+=[\x21-\x2b\x2d-\x7e]*)*$/;

/**
 * The common case of {@link mergeBaggage} in one native pass: a well-formed list that mentions no
 * stale name and fits within the limits with our member added is appended whole. Anything else
 * (`undefined`) goes member by member.
 */
function appendWellFormed(existing: string, member: string, stale: readonly string[]): string | undefined {
  if (member.length + 1 + existing.length > MAX_BAGGAGE_BYTES) return undefined;
  for (let j = 0; j < stale.length; j++) if (existing.includes(stale[j]!)) return undefined;
  let members = 2;
  for (let i = existing.indexOf(','); i !== -1; i = existing.indexOf(',', i + 1)) {
    if (++members > MAX_BAGGAGE_MEMBERS) return undefined;
  }
  return WELL_FORMED.test(existing) ? `${member},${existing}` : undefined;
}

function isPrintableAscii(s: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== TAB) || c > 0x7e) return false;
  }
  return true;
}

// The last member serialized: a service sends its key on every outbound call, so the same member is
// asked for again and again.
let lastName = '';
let lastValue = '';
let lastMember = '';

/** Serializes one member `name=value`, percent-encoding the value as W3C Baggage requires. */
export function baggageMember(name: string, value: string): string {
  if (value !== lastValue || name !== lastName) {
    lastMember = `${name}=${encodeBaggageValue(value)}`;
    lastName = name;
    lastValue = value;
  }
  return lastMember;
}
