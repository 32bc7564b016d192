import type { IncomingRequestLike, InvalidKeyInfo, PropagationTargets, RoutingOptions } from './types.js';

/** Hard cap on a routing key's length, applied before any user validator runs. */
export const MAX_KEY_LENGTH = 256;

/** @internal Default settings; see the TSDoc of {@link RoutingOptions} for each. */
export const DEFAULTS = {
  baggageKey: 'sd-routing-key',
  acceptKeys: ['sd-routing-key', 'sd-sandbox'],
  headers: [],
  legacyHeaders: { read: true, write: false },
  tracestate: { read: true, write: false },
  queryParam: 'sd-routing-key',
  hostPattern: undefined,
  validate: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
  propagateTo: undefined,
  trustIncoming: true,
  onInvalidKey: undefined,
} as const satisfies { [K in keyof Required<RoutingOptions>]: RoutingOptions[K] };

/** @internal Options after validation, with every lookup table prepared once. */
export interface NormalizedOptions {
  readonly raw: Readonly<RoutingOptions>;
  readonly baggageKey: string;
  /** Accepted member names; `baggageKey` first. */
  readonly acceptKeys: readonly string[];
  /** Dedicated header names, lower-case. */
  readonly headers: readonly string[];
  readonly legacyRead: boolean;
  readonly legacyWrite: boolean;
  /** `uberctx-<k>` and `ot-baggage-<k>` for every accepted name, lower-case, in precedence order. */
  readonly legacyNames: readonly string[];
  readonly tracestateRead: boolean;
  readonly tracestateWrite: boolean;
  readonly queryParam: string | undefined;
  readonly hostPattern: RegExp | undefined;
  readonly isValid: (key: string) => boolean;
  /** Whether an outbound request to `hostname` (no port) may carry the key. */
  readonly allowsHost: (hostname: string) => boolean;
  /** Whether this inbound request's routing headers are honoured. */
  readonly trusts: (request: IncomingRequestLike) => boolean;
  readonly reportInvalid: ((info: InvalidKeyInfo) => void) | undefined;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const KNOWN_OPTIONS = new Set(Object.keys(DEFAULTS));

function fail(option: string, message: string): never {
  throw new TypeError(`routing-context: option "${option}" ${message}`);
}

function checkToken(option: string, value: unknown): string {
  if (typeof value !== 'string' || !TOKEN.test(value) || value.length > 256) {
    fail(
      option,
      `must be a header/baggage token (letters, digits and !#$%&'*+-.^_\`|~), got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function checkTokenList(option: string, value: unknown): string[] {
  if (!Array.isArray(value)) fail(option, `must be an array of strings, got ${typeof value}`);
  return value.map((v, i) => checkToken(`${option}[${i}]`, v));
}

function formatSwitch(option: string, value: unknown, fallback: { read: boolean; write: boolean }) {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return { read: value, write: value };
  if (typeof value === 'object' && value !== null) {
    const { read, write } = value as { read?: unknown; write?: unknown };
    if (read !== undefined && typeof read !== 'boolean') fail(`${option}.read`, 'must be a boolean');
    if (write !== undefined && typeof write !== 'boolean') fail(`${option}.write`, 'must be a boolean');
    return { read: read ?? fallback.read, write: write ?? fallback.write };
  }
  fail(option, 'must be a boolean or { read?: boolean; write?: boolean }');
}

/** A RegExp with `g` or `y` keeps state between `test` calls; drop those flags. */
function stateless(re: RegExp): RegExp {
  return re.global || re.sticky ? new RegExp(re.source, re.flags.replace(/[gy]/g, '')) : re;
}

/**
 * The last key `isDefaultKey` accepted. A request's key is checked where it is read, again where
 * each outbound call writes it, and again at the next hop: the same string, or an equal one, which
 * a comparison settles faster than the loop.
 */
let lastDefaultKey: string | undefined;

/** The default `validate` as a character loop: same language as the RegExp, a fraction of its cost. */
function isDefaultKey(key: string): boolean {
  if (key === lastDefaultKey) return true;
  const len = key.length;
  if (len === 0 || len > 128) return false;
  for (let i = 0; i < len; i++) {
    const c = key.charCodeAt(i);
    const alnum = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
    if (!alnum && (i === 0 || (c !== 46 && c !== 95 && c !== 45))) return false;
  }
  lastDefaultKey = key;
  return true;
}

function validator(value: unknown): (key: string) => boolean {
  if (value === DEFAULTS.validate) return isDefaultKey;
  if (value instanceof RegExp) {
    const re = stateless(value);
    return (key) => key.length > 0 && key.length <= MAX_KEY_LENGTH && re.test(key);
  }
  if (typeof value === 'function') {
    const fn = value as (key: string) => unknown;
    return (key) => {
      if (key.length === 0 || key.length > MAX_KEY_LENGTH) return false;
      try {
        return fn(key) === true;
      } catch {
        return false;
      }
    };
  }
  fail('validate', 'must be a RegExp or a function (key: string) => boolean');
}

function hostMatcher(option: string, list: unknown): (host: string) => boolean {
  if (!Array.isArray(list)) fail(option, 'must be an array of hostnames or RegExps');
  const exact = new Set<string>();
  const suffixes: string[] = [];
  const patterns: RegExp[] = [];
  list.forEach((entry, i) => {
    if (entry instanceof RegExp) patterns.push(stateless(entry));
    else if (typeof entry === 'string' && entry.length > 0) {
      const host = entry.toLowerCase();
      if (host.startsWith('*.')) suffixes.push(host.slice(1));
      else exact.add(host);
    } else fail(`${option}[${i}]`, `must be a non-empty string or a RegExp, got ${JSON.stringify(entry)}`);
  });
  return (host) =>
    exact.has(host) || suffixes.some((s) => host.endsWith(s)) || patterns.some((re) => re.test(host));
}

function hostPolicy(value: unknown): (hostname: string) => boolean {
  if (value === undefined) return () => true;
  if (typeof value !== 'object' || value === null)
    fail('propagateTo', 'must be { allow?: [...], deny?: [...] }');
  const { allow, deny, ...rest } = value as PropagationTargets & Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) fail('propagateTo', `has unknown field "${extra[0]}" (expected allow and/or deny)`);
  const allowed = allow === undefined ? undefined : hostMatcher('propagateTo.allow', allow);
  const denied = deny === undefined ? undefined : hostMatcher('propagateTo.deny', deny);
  return (hostname) => {
    let host = hostname.toLowerCase();
    if (host.endsWith('.')) host = host.slice(0, -1);
    if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
    if (denied?.(host)) return false;
    return allowed === undefined || allowed(host);
  };
}

function trustPolicy(value: unknown): (request: IncomingRequestLike) => boolean {
  if (value === true) return () => true;
  if (value === false) return () => false;
  if (typeof value === 'function') {
    const fn = value as (request: IncomingRequestLike) => unknown;
    return (request) => {
      try {
        return fn(request) === true;
      } catch {
        // A predicate that throws cannot vouch for the caller.
        return false;
      }
    };
  }
  fail('trustIncoming', 'must be a boolean or a function (request) => boolean');
}

/**
 * Validates `options` (merged over the defaults) and prepares every lookup table.
 * Throws a `TypeError` naming the first bad option.
 * @internal
 */
export function normalizeOptions(options: RoutingOptions): NormalizedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('routing-context: options must be an object');
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name)) {
      throw new TypeError(
        `routing-context: unknown option "${name}" (known: ${[...KNOWN_OPTIONS].join(', ')})`,
      );
    }
  }
  const o = { ...DEFAULTS, ...stripUndefined(options) };
  const baggageKey = checkToken('baggageKey', o.baggageKey);
  const accepted = checkTokenList('acceptKeys', o.acceptKeys);
  const acceptKeys = [baggageKey, ...accepted.filter((k) => k !== baggageKey)];
  const headers = checkTokenList('headers', o.headers).map((h) => h.toLowerCase());
  const legacy = formatSwitch('legacyHeaders', options.legacyHeaders, DEFAULTS.legacyHeaders);
  const tracestate = formatSwitch('tracestate', options.tracestate, DEFAULTS.tracestate);
  let queryParam: string | undefined;
  if (o.queryParam !== false) {
    if (typeof o.queryParam !== 'string' || o.queryParam.length === 0 || /[&=#?\s]/.test(o.queryParam)) {
      fail('queryParam', `must be a non-empty parameter name or false, got ${JSON.stringify(o.queryParam)}`);
    }
    queryParam = o.queryParam;
  }
  let hostPattern: RegExp | undefined;
  if (o.hostPattern !== undefined) {
    if (!(o.hostPattern instanceof RegExp) || !/\(\?<key>/.test(o.hostPattern.source)) {
      fail('hostPattern', 'must be a RegExp with a named group "key", e.g. /^pr-(?<key>\\d+)\\.preview\\./');
    }
    hostPattern = stateless(o.hostPattern);
  }
  if (o.onInvalidKey !== undefined && typeof o.onInvalidKey !== 'function') {
    fail('onInvalidKey', 'must be a function');
  }
  const hook = o.onInvalidKey as ((info: InvalidKeyInfo) => void) | undefined;
  return Object.freeze({
    raw: Object.freeze({ ...options }),
    baggageKey,
    acceptKeys,
    headers,
    legacyRead: legacy.read,
    legacyWrite: legacy.write,
    legacyNames: acceptKeys.flatMap((k) => [`uberctx-${k}`.toLowerCase(), `ot-baggage-${k}`.toLowerCase()]),
    tracestateRead: tracestate.read,
    tracestateWrite: tracestate.write,
    queryParam,
    hostPattern,
    isValid: validator(o.validate),
    allowsHost: hostPolicy(o.propagateTo),
    trusts: trustPolicy(o.trustIncoming),
    reportInvalid: hook
      ? (info: InvalidKeyInfo) => {
          try {
            hook(info);
          } catch {
            // A reporting hook must never break request handling.
          }
        }
      : undefined,
  });
}

function stripUndefined(options: RoutingOptions): RoutingOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (v !== undefined) out[k] = v;
  return out as RoutingOptions;
}
