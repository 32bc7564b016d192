import { baggageMember, findInBaggage, MAX_BAGGAGE_BYTES, mergeBaggage } from './baggage.js';
import { MAX_HEADER_LENGTH, readHeader, readListHeader, writeHeader } from './carrier.js';
import { RoutingKeyError } from './errors.js';
import { MAX_KEY_LENGTH, type NormalizedOptions } from './options.js';
import { percentDecode } from './percent.js';
import { getRoutingKey, resolveOptions, state } from './state.js';
import { findInTracestate, MAX_TRACESTATE_LENGTH, mergeTracestate } from './tracestate.js';
import type { HeaderCarrier, KeySource, RoutingOptions } from './types.js';

/**
 * Options of {@link extractRoutingKey}: routing options plus what a header carrier does not hold.
 * @public
 */
export interface ExtractOptions extends RoutingOptions {
  /** The request URL (path and query), for the `queryParam` source. */
  url?: string | undefined;
  /** The request host, for the `hostPattern` source; read from the `host` header when omitted. */
  host?: string | undefined;
}

const URL_KEYS = new Set(['url', 'host']);
const localCache = new WeakMap<object, { version: number; options: NormalizedOptions }>();

/** The options in force for a call that passed `options` (cached per options object). */
function optionsFor(options: RoutingOptions | undefined): NormalizedOptions {
  if (options === undefined) return state.options;
  let routing: RoutingOptions | undefined;
  for (const k in options) {
    if (!URL_KEYS.has(k)) {
      routing = options;
      break;
    }
  }
  if (routing === undefined) return state.options;
  const hit = localCache.get(options);
  if (hit !== undefined && hit.version === state.version) return hit.options;
  const { url: _url, host: _host, ...rest } = options as ExtractOptions;
  const normalized = resolveOptions(rest);
  localCache.set(options, { version: state.version, options: normalized });
  return normalized;
}

function report(o: NormalizedOptions, source: KeySource, name: string, value: string): void {
  o.reportInvalid?.({ source, name, value: value.slice(0, 128) });
}

/** First valid whole-value key among the values of header `name`. */
function fromDedicatedHeader(
  carrier: HeaderCarrier,
  name: string,
  o: NormalizedOptions,
  source: KeySource,
  lowerCaseRecord: boolean,
) {
  const value = readHeader(carrier, name, lowerCaseRecord);
  if (value === undefined) return undefined;
  const values = typeof value === 'string' ? [value] : value;
  for (const v of values) {
    // A Fetch `Headers` joins repeated headers with ", ".
    const candidates = v.includes(',') ? v.split(',', 64) : [v];
    for (const c of candidates) {
      const key = source === 'legacy' ? decodeLegacy(c.trim()) : c.trim();
      if (key !== undefined && o.isValid(key)) return key;
      if (c.trim().length > 0) report(o, source, name, c);
    }
  }
  return undefined;
}

function decodeLegacy(value: string): string | undefined {
  if (value.length > MAX_KEY_LENGTH * 3) return undefined;
  return value.includes('%') ? percentDecode(value, 0, value.length) : value;
}

/**
 * Finds the value of query parameter `name` in `url` (first valid occurrence), bounded to the
 * first 8192 characters of the query.
 * @internal
 */
export function findQueryParam(
  url: string,
  name: string,
  isValid: (key: string) => boolean,
): string | undefined {
  const q = url.indexOf('?');
  if (q === -1) return undefined;
  let end = url.indexOf('#', q);
  if (end === -1) end = url.length;
  end = Math.min(end, q + 1 + MAX_HEADER_LENGTH);
  let start = q + 1;
  while (start < end) {
    let amp = url.indexOf('&', start);
    if (amp === -1 || amp > end) amp = end;
    const eq = url.indexOf('=', start);
    if (eq !== -1 && eq < amp && eq - start === name.length && url.startsWith(name, start)) {
      const value = percentDecode(url, eq + 1, amp, true);
      if (value !== undefined && isValid(value)) return value;
    }
    start = amp + 1;
  }
  return undefined;
}

/**
 * Removes every occurrence of query parameter `name` from `url`, keeping the rest byte for byte.
 * @internal
 */
export function stripQueryParam(url: string, name: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  let hash = url.indexOf('#', q);
  if (hash === -1) hash = url.length;
  const kept: string[] = [];
  let removed = false;
  for (const part of url.slice(q + 1, hash).split('&')) {
    const eq = part.indexOf('=');
    const key = eq === -1 ? part : part.slice(0, eq);
    if (key === name) removed = true;
    else if (part.length > 0) kept.push(part);
  }
  if (!removed) return url;
  return url.slice(0, q) + (kept.length > 0 ? `?${kept.join('&')}` : '') + url.slice(hash);
}

function fromHost(host: string, o: NormalizedOptions): string | undefined {
  if (host.length > 1024) return undefined;
  const key = o.hostPattern!.exec(host.toLowerCase())?.groups?.key;
  if (key === undefined) return undefined;
  if (o.isValid(key)) return key;
  report(o, 'host', 'host', key);
  return undefined;
}

/**
 * The extraction itself, with options already resolved. `lowerCaseRecord` says `carrier` is
 * Node's `IncomingHttpHeaders` (every name lower-cased by the parser): names are then looked up
 * once, exactly.
 * @internal
 */
export function extractWith(
  carrier: HeaderCarrier,
  o: NormalizedOptions,
  url?: string,
  host?: string,
  lowerCaseRecord = false,
): string | undefined {
  if (carrier !== null && typeof carrier === 'object') {
    // Indexed loops and no closures: this runs per request and must not allocate on the no-key path.
    const headers = o.headers;
    for (let i = 0; i < headers.length; i++) {
      const key = fromDedicatedHeader(carrier, headers[i]!, o, 'header', lowerCaseRecord);
      if (key !== undefined) return key;
    }
    const baggage = readListHeader(carrier, 'baggage', MAX_BAGGAGE_BYTES, lowerCaseRecord);
    if (baggage !== undefined) {
      const key = findInBaggage(baggage, o);
      if (key !== undefined) return key;
    }
    if (o.tracestateRead) {
      const tracestate = readListHeader(carrier, 'tracestate', MAX_TRACESTATE_LENGTH, lowerCaseRecord);
      if (tracestate !== undefined) {
        const key = findInTracestate(tracestate, o);
        if (key !== undefined) return key;
      }
    }
    if (o.legacyRead) {
      const legacy = o.legacyNames;
      for (let i = 0; i < legacy.length; i++) {
        const key = fromDedicatedHeader(carrier, legacy[i]!, o, 'legacy', lowerCaseRecord);
        if (key !== undefined) return key;
      }
    }
  }
  if (url !== undefined && o.queryParam !== undefined && typeof url === 'string') {
    const key = findQueryParam(url, o.queryParam, o.isValid);
    if (key !== undefined) return key;
  }
  if (o.hostPattern !== undefined) {
    let h = host;
    if (h === undefined && carrier !== null && typeof carrier === 'object') {
      const value =
        readHeader(carrier, 'host', lowerCaseRecord) ?? readHeader(carrier, ':authority', lowerCaseRecord);
      h = typeof value === 'string' ? value : value?.[0];
    }
    if (typeof h === 'string') return fromHost(h, o);
  }
  return undefined;
}

/**
 * Reads the routing key from an incoming carrier.
 *
 * Sources, in order: the dedicated `headers`, `baggage`, `tracestate`, legacy `uberctx-`/
 * `ot-baggage-` headers, the query parameter of `options.url`, the `hostPattern` applied to
 * `options.host` or the `host` header. The first valid key wins, also among duplicates within one
 * source.
 *
 * Never throws on untrusted input: a missing, malformed, invalid or oversized value counts as
 * absent.
 *
 * @param carrier - Node `IncomingHttpHeaders`, a Fetch `Headers`, a Kafka headers record or a gRPC
 *   `Metadata`
 * @param options - routing options for this call (merged over the process-wide ones), plus `url`
 *   and `host`. Pass the same object on every call: its merge is cached.
 * @returns the key, or `undefined` for baseline
 * @public
 */
export function extractRoutingKey(carrier: HeaderCarrier, options?: ExtractOptions): string | undefined {
  try {
    return extractWith(carrier, optionsFor(options), options?.url, options?.host);
  } catch {
    // Carriers with throwing getters and the like: untrusted input never throws.
    return undefined;
  }
}

/** Whether `key` can be written as a raw header value (printable ASCII, no spaces). */
function isHeaderSafe(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/**
 * The injection itself, with options resolved and the key validated. `lowerCaseRecord`: the
 * carrier is a plain record the caller built with lower-case names only, read and written with one
 * look-up per name.
 * @internal
 */
export function injectWith<C extends HeaderCarrier>(
  carrier: C,
  key: string,
  o: NormalizedOptions,
  lowerCaseRecord = false,
): C {
  const existing = readListHeader(carrier, 'baggage', Number.MAX_SAFE_INTEGER, lowerCaseRecord);
  writeHeader(
    carrier,
    'baggage',
    mergeBaggage(existing, baggageMember(o.baggageKey, key), o.acceptKeys),
    lowerCaseRecord,
  );
  if (o.headers.length === 0 && !o.tracestateWrite && !o.legacyWrite) return carrier;
  // Formats other than baggage carry the key raw: only printable ASCII may go there.
  const raw = isHeaderSafe(key);
  if (raw) for (const name of o.headers) writeHeader(carrier, name, key, lowerCaseRecord);
  if (o.tracestateWrite && raw && key.length <= 256 && !key.includes(',') && !key.includes('=')) {
    const tracestate = readListHeader(carrier, 'tracestate', Number.MAX_SAFE_INTEGER, lowerCaseRecord);
    writeHeader(
      carrier,
      'tracestate',
      mergeTracestate(tracestate, `${o.baggageKey}=${key}`, o.acceptKeys),
      lowerCaseRecord,
    );
  }
  if (o.legacyWrite) {
    const name = o.baggageKey.toLowerCase();
    writeHeader(carrier, `uberctx-${name}`, encodeURIComponent(key), lowerCaseRecord);
    if (raw) writeHeader(carrier, `ot-baggage-${name}`, key, lowerCaseRecord);
  }
  return carrier;
}

/**
 * Writes the routing key into an outbound carrier.
 *
 * Merges into an existing `baggage` header: our member first, stale members of any accepted name
 * removed, the other members kept within the W3C limits (8192 bytes, 64 members; a member that does
 * not fit is dropped whole). Also writes the dedicated `headers`, and `tracestate` and legacy
 * headers when their `write` switch is on. Without a key the carrier is left as it was.
 *
 * @param carrier - the outbound headers (mutated and returned)
 * @param key - the key to write; defaults to the active one
 * @param options - routing options for this call, merged over the process-wide ones
 * @returns `carrier`
 * @throws {@link RoutingKeyError} when an explicitly passed `key` fails validation
 * @public
 */
export function injectRoutingKey<C extends HeaderCarrier>(
  carrier: C,
  key: string | undefined = getRoutingKey(),
  options?: RoutingOptions,
): C {
  if (key === undefined) return carrier;
  const o = optionsFor(options);
  if (typeof key !== 'string' || !o.isValid(key)) throw new RoutingKeyError(String(key));
  return injectWith(carrier, key, o);
}

/**
 * The headers a test client (curl, Playwright, a load test) sends to reach sandbox `key`:
 * `baggage` and `tracestate` members, plus the configured dedicated headers.
 *
 * @example
 * ```ts
 * await fetch('https://shop.staging.example.com/api/cart', { headers: routingHeaders('pr-142') });
 * ```
 * @throws {@link RoutingKeyError} when `key` fails validation
 * @public
 */
export function routingHeaders(key: string, options?: RoutingOptions): Record<string, string> {
  const o = optionsFor(options);
  if (typeof key !== 'string' || !o.isValid(key)) throw new RoutingKeyError(String(key));
  const headers: Record<string, string> = {
    baggage: baggageMember(o.baggageKey, key),
  };
  if (isHeaderSafe(key) && !key.includes(',') && !key.includes('='))
    headers.tracestate = `${o.baggageKey}=${key}`;
  if (isHeaderSafe(key)) for (const name of o.headers) headers[name] = key;
  return headers;
}
