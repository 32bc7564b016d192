import type { HeaderCarrier, HeadersLike, MetadataLike } from './types.js';

/** Longest header value the library reads; longer ones are treated as absent. */
export const MAX_HEADER_LENGTH = 8192;

type AnyRecord = Record<string, unknown>;

function isMetadata(carrier: object): carrier is MetadataLike {
  return (
    typeof (carrier as MetadataLike).getMap === 'function' &&
    typeof (carrier as MetadataLike).remove === 'function'
  );
}

function hasGetter(carrier: object): carrier is HeadersLike {
  return typeof (carrier as HeadersLike).get === 'function';
}

/** ASCII case-insensitive comparison of `a` with the lower-case `lower`, without allocating. */
function equalsLower(a: string, lower: string): boolean {
  if (a.length !== lower.length) return false;
  for (let i = 0; i < a.length; i++) {
    let c = a.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** The raw value stored under `name` (lower-case) in a plain record, matched case-insensitively. */
function recordValue(carrier: AnyRecord, name: string): unknown {
  const direct = carrier[name];
  if (direct !== undefined) return direct;
  for (const k in carrier) {
    if (k.length === name.length && equalsLower(k, name) && Object.hasOwn(carrier, k)) return carrier[k];
  }
  return undefined;
}

/** `null` marks a value too long to read: the whole header then counts as absent. */
function bytesToString(value: Uint8Array): string | null {
  if (value.byteLength > MAX_HEADER_LENGTH) return null;
  return Buffer.isBuffer(value)
    ? value.toString('utf8')
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
}

function scalarToString(value: unknown): string | null | undefined {
  if (typeof value === 'string') return value.length > MAX_HEADER_LENGTH ? null : value;
  if (value instanceof Uint8Array) return bytesToString(value);
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * Every value of header `name` (lower-case) as strings: one entry for a single header, several for
 * repeated ones. A value over {@link MAX_HEADER_LENGTH}, or more than 64 repeats, makes the whole
 * header absent; values of unknown types are left out. Never throws.
 */
export function readHeader(
  carrier: HeaderCarrier,
  name: string,
  lowerCaseRecord = false,
): string | readonly string[] | undefined {
  let raw: unknown;
  try {
    if (carrier === null || typeof carrier !== 'object') return undefined;
    // Node's `IncomingHttpHeaders`: a plain record whose names the parser has lower-cased, so one
    // look-up answers (no scan of every name for other letter cases, which costs the no-key path).
    if (lowerCaseRecord) raw = (carrier as AnyRecord)[name];
    else if (isMetadata(carrier)) raw = carrier.get(name);
    else if (hasGetter(carrier)) raw = carrier.get(name);
    else raw = recordValue(carrier as AnyRecord, name);
  } catch {
    return undefined;
  }
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) return scalarToString(raw) ?? undefined;
  if (raw.length === 0 || raw.length > 64) return undefined;
  if (raw.length === 1) return scalarToString(raw[0]) ?? undefined;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    const s = scalarToString(raw[i]);
    if (s === null) return undefined;
    if (s !== undefined) out.push(s);
  }
  return out.length === 0 ? undefined : out;
}

/**
 * Header `name` with repeated values joined by `,` (the list headers `baggage` and `tracestate`),
 * or `undefined` when absent or longer than `limit` in all.
 */
export function readListHeader(
  carrier: HeaderCarrier,
  name: string,
  limit: number,
  lowerCaseRecord = false,
): string | undefined {
  const value = readHeader(carrier, name, lowerCaseRecord);
  if (value === undefined || typeof value === 'string') {
    return value !== undefined && value.length <= limit ? value : undefined;
  }
  let total = value.length - 1;
  for (const v of value) total += v.length;
  return total <= limit ? value.join(',') : undefined;
}

/**
 * Sets header `name` (lower-case) to `value`, replacing every earlier value under any letter case.
 * `lowerCaseRecord`: the carrier is a plain record whose names are all lower-case (one built by
 * the caller), so one assignment replaces the value.
 */
export function writeHeader(
  carrier: HeaderCarrier,
  name: string,
  value: string,
  lowerCaseRecord = false,
): void {
  if (lowerCaseRecord) {
    (carrier as AnyRecord)[name] = value;
    return;
  }
  if (isMetadata(carrier)) {
    carrier.set(name, value);
    return;
  }
  if (hasGetter(carrier) && typeof (carrier as HeadersLike).set === 'function') {
    (carrier as HeadersLike).set(name, value);
    return;
  }
  const record = carrier as AnyRecord;
  for (const k in record) {
    if (k !== name && k.length === name.length && equalsLower(k, name)) delete record[k];
  }
  record[name] = value;
}
