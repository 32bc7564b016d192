import dc from 'node:diagnostics_channel';
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { injectWith } from '../core/codec.js';
import type { NormalizedOptions } from '../core/options.js';
import { getRoutingKey, optionsResolver } from '../core/state.js';
import type { HeaderValue } from '../core/types.js';
import type { HttpPropagationOptions, UninstallHttpPropagation } from './types.js';

/** The part of Node's `ClientRequest` this module uses. */
interface ClientRequestLike {
  readonly host?: string;
  readonly headersSent: boolean;
  getHeader(name: string): HeaderValue;
  setHeader(name: string, value: string): unknown;
}

/** The state of one `undici` request we routed, for headers other instrumentations add later. */
interface RoutedUndiciRequest {
  readonly key: string;
  readonly options: NormalizedOptions;
}

const ROUTED = Symbol('routing-context.routed-undici-request');

/** The part of undici's internal `Request` (the `undici:request:create` message) this module uses. */
interface UndiciRequestLike {
  origin?: unknown;
  /** `[name, value, name, value, …]` in undici 6+, `"name: value\r\n…"` in undici 5. */
  headers: unknown;
  addHeader?: (name: string, value: string) => unknown;
  [ROUTED]?: RoutedUndiciRequest;
}

type RequestFunction = (...args: unknown[]) => ClientRequestLike;

interface Install {
  readonly getOptions: () => NormalizedOptions;
}

interface PropagationState {
  /** Active installs; the most recent one's options apply. */
  readonly installs: Install[];
  /** The `undici:request:create` subscriber, shared by every copy of this module in the process. */
  onUndiciRequest: ((message: unknown) => void) | undefined;
  /** The `http.client.request.created` subscriber (Node versions that publish it), likewise. */
  onClientRequest?: ((message: unknown) => void) | undefined;
  /** The request that subscriber routed last, so the wrapper of `http.request` does not again. */
  lastRouted?: object | undefined;
}

// One state per process, shared by the ESM and CJS builds, so installing from both is harmless.
const STATE_KEY = Symbol.for('routing-context.http-propagation.v1');
// Marks our wrappers (and holds what they wrap) so no copy of this module wraps twice.
const ORIGINAL = Symbol.for('routing-context.http-propagation.original');
const UNDICI_REQUEST_CREATE = 'undici:request:create';
// Published by newer Node versions (not Node 20) from the `ClientRequest` constructor, before the
// head is written: it reaches `new http.ClientRequest()` and `http.request` references taken before
// the install, which the wrappers cannot.
const CLIENT_REQUEST_CREATED = 'http.client.request.created';

const globalRecord = globalThis as unknown as Record<symbol, PropagationState | undefined>;
const propagation: PropagationState =
  globalRecord[STATE_KEY] ?? (globalRecord[STATE_KEY] = { installs: [], onUndiciRequest: undefined });

type PatchableModule = Record<'request' | 'get', RequestFunction>;
const MODULES = [http, https] as unknown as PatchableModule[];
const METHODS = ['request', 'get'] as const;

/** The options of the most recent active install, or `undefined` when none is active. */
function activeOptions(): NormalizedOptions | undefined {
  const installs = propagation.installs;
  return installs.length === 0 ? undefined : installs[installs.length - 1]!.getOptions();
}

/**
 * Adds the active key to a `ClientRequest` whose headers are not written yet, merging it into the
 * `baggage` header already set (by the caller or by OpenTelemetry's http instrumentation, which
 * injects before the request is built). Never throws into the caller.
 */
function routeClientRequest(request: ClientRequestLike, key: string): void {
  try {
    const o = activeOptions()!;
    // Headers given as an array, or an `Expect` header, make Node write the head in the
    // constructor: `routeEarlyHead` has handled those before.
    if (request.headersSent || !o.isValid(key) || !o.allowsHost(request.host ?? 'localhost')) return;
    const carrier: Record<string, HeaderValue> = { baggage: request.getHeader('baggage') };
    if (o.tracestateWrite) carrier.tracestate = request.getHeader('tracestate');
    injectWith(carrier, key, o, true);
    for (const name in carrier) {
      const value = carrier[name];
      if (typeof value === 'string') request.setHeader(name, value);
    }
  } catch {
    // A header the runtime refuses must not break the application's request.
  }
}

/** Whether a headers object sends `Expect` (Node looks at its own enumerable keys, as here). */
function sendsExpect(headers: object): boolean {
  // for-in with an own check: no key array per request, unlike Object.keys.
  for (const name in headers) {
    if (name.length === 6 && name.toLowerCase() === 'expect' && Object.hasOwn(headers, name)) return true;
  }
  return false;
}

/** The host a request built from these arguments goes to, as Node's `ClientRequest.host`. */
function requestHost(input: unknown, options: { hostname?: unknown; host?: unknown }): string | undefined {
  if (typeof options.hostname === 'string' && options.hostname !== '') return options.hostname;
  if (typeof options.host === 'string' && options.host !== '') return options.host;
  if (input === undefined) return 'localhost';
  let url: URL;
  try {
    url = typeof input === 'string' ? new URL(input) : (input as URL);
  } catch {
    return undefined;
  }
  const hostname = url.hostname;
  return hostname.startsWith('[') ? hostname.slice(1, -1) : hostname || 'localhost';
}

/**
 * Node writes a request's head in its constructor when the headers are given as an array (flat or
 * as pairs) or include `Expect`, so no hook can change them afterwards: in those cases the key goes
 * into a copy of the options before the request is built. Returns the arguments to call Node with:
 * the caller's own, untouched, in every other case and whenever anything looks unusual (Node then
 * reports its own errors).
 */
function routeEarlyHead(args: unknown[], key: string): unknown[] {
  const input = args[0];
  const hasInput = typeof input === 'string' || input instanceof URL;
  const at = hasInput ? 1 : 0;
  const options = args[at];
  if (options === null || typeof options !== 'object' || options instanceof URL) return args;
  const headers = (options as { headers?: unknown }).headers;
  if (headers === null || typeof headers !== 'object') return args;
  const pairs = Array.isArray(headers) && headers.length > 0 && Array.isArray(headers[0]);
  let flat: unknown[];
  if (pairs) {
    flat = [];
    for (const pair of headers as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2) return args;
      flat.push(pair[0], pair[1]);
    }
  } else if (Array.isArray(headers)) {
    if (headers.length % 2 !== 0) return args;
    flat = headers;
  } else if (sendsExpect(headers)) {
    flat = [];
    for (const name of Object.keys(headers)) flat.push(name, (headers as Record<string, unknown>)[name]);
  } else {
    return args;
  }
  const o = activeOptions()!;
  const host = requestHost(hasInput ? input : undefined, options);
  if (host === undefined || !o.isValid(key) || !o.allowsHost(host)) return args;
  const routed = routeFlatHeaders(flat, key, o);
  let next: unknown;
  if (pairs) {
    const out: unknown[][] = [];
    for (let i = 0; i + 1 < routed.length; i += 2) out.push([routed[i], routed[i + 1]]);
    next = out;
  } else if (Array.isArray(headers)) {
    next = routed;
  } else {
    const out: Record<string, unknown> = {};
    for (let i = 0; i + 1 < routed.length; i += 2) out[routed[i] as string] = routed[i + 1];
    next = out;
  }
  const copy = args.slice();
  copy[at] = { ...options, headers: next };
  return copy;
}

function wrapRequest(original: RequestFunction): RequestFunction {
  const routed = function routedRequest(this: unknown, ...args: unknown[]): ClientRequestLike {
    // Read once, as the request is created: a key read later could belong to another context.
    const key = propagation.installs.length === 0 ? undefined : getRoutingKey();
    if (key !== undefined) {
      try {
        args = routeEarlyHead(args, key);
      } catch {
        // Leave the caller's arguments as they were.
      }
    }
    const request = Reflect.apply(original, this, args) as ClientRequestLike;
    if (key !== undefined && propagation.lastRouted !== request) routeClientRequest(request, key);
    propagation.lastRouted = undefined;
    return request;
  };
  Object.defineProperty(routed, ORIGINAL, { value: original });
  return routed;
}

/**
 * Node's `get` calls the module's internal `request` and ends the request before returning, so
 * wrapping it cannot add headers in time: ours goes through the module's (wrapped) `request`
 * instead, then ends, exactly as Node's does.
 */
function wrapGet(mod: PatchableModule, original: RequestFunction): RequestFunction {
  const routed = function routedGet(...args: unknown[]): ClientRequestLike {
    const request = Reflect.apply(mod.request, mod, args) as ClientRequestLike & { end(): void };
    request.end();
    return request;
  };
  Object.defineProperty(routed, ORIGINAL, { value: original });
  return routed;
}

/** The hostname (no port, IPv6 in brackets) of an undici origin such as `http://[::1]:8080`. */
function hostnameOf(origin: unknown): string {
  if (typeof origin !== 'string') return origin instanceof URL ? origin.hostname : '';
  const scheme = origin.indexOf('://');
  let start = scheme === -1 ? 0 : scheme + 3;
  let end = origin.length;
  for (let i = start; i < end; i++) {
    const c = origin.charCodeAt(i);
    if (c === 47 || c === 63 || c === 35) {
      end = i;
      break;
    }
  }
  const at = origin.lastIndexOf('@', end - 1);
  if (at >= start) start = at + 1;
  if (origin.charCodeAt(start) === 91) {
    const close = origin.indexOf(']', start);
    return origin.slice(start, close === -1 || close > end ? end : close + 1);
  }
  const colon = origin.indexOf(':', start);
  return origin.slice(start, colon === -1 || colon > end ? end : colon);
}

function isMergedHeader(lowerName: string, o: NormalizedOptions): boolean {
  return lowerName === 'baggage' || (o.tracestateWrite && lowerName === 'tracestate');
}

function pushValue(into: string[], value: unknown): void {
  if (typeof value === 'string') into.push(value);
  else if (Array.isArray(value)) for (const v of value) if (typeof v === 'string') into.push(v);
}

/**
 * `headers` (a flat `[name, value, name, value, …]` list) with `key` injected: every `baggage` (and
 * `tracestate`) value merged into ONE header with our member first, the headers written by
 * `injectWith` replacing earlier ones of the same name, every other header kept in order.
 */
function routeFlatHeaders(headers: readonly unknown[], key: string, o: NormalizedOptions): unknown[] {
  const baggage: string[] = [];
  const tracestate: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i];
    if (typeof name !== 'string' || (name.length !== 7 && name.length !== 10)) continue;
    const lower = name.toLowerCase();
    if (lower === 'baggage') pushValue(baggage, headers[i + 1]);
    else if (lower === 'tracestate') pushValue(tracestate, headers[i + 1]);
  }
  const carrier: Record<string, HeaderValue> = { baggage: baggage.length > 0 ? baggage : undefined };
  if (o.tracestateWrite) carrier.tracestate = tracestate.length > 0 ? tracestate : undefined;
  injectWith(carrier, key, o, true);
  const out: unknown[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i];
    if (typeof name === 'string' && typeof carrier[name.toLowerCase()] === 'string') continue;
    out.push(name, headers[i + 1]);
  }
  for (const name in carrier) {
    const value = carrier[name];
    if (typeof value === 'string') out.push(name, value);
  }
  return out;
}

/**
 * Rewrites an undici request's headers so they carry `key` (see `routeFlatHeaders`): undici 6+
 * holds them as a flat array, changed in place; undici 5 as one `"name: value\r\n…"` string.
 */
function routeUndiciHeaders(request: UndiciRequestLike, key: string, o: NormalizedOptions): void {
  const headers = request.headers;
  if (Array.isArray(headers)) {
    const routed = routeFlatHeaders(headers, key, o);
    headers.length = 0;
    for (const item of routed) headers.push(item);
    return;
  }
  if (typeof headers !== 'string') return;
  const flat: string[] = [];
  let unparsed = '';
  for (const line of headers.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) flat.push(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    else if (line.length > 0) unparsed += `${line}\r\n`;
  }
  const routed = routeFlatHeaders(flat, key, o);
  let out = '';
  for (let i = 0; i + 1 < routed.length; i += 2)
    out += `${routed[i] as string}: ${routed[i + 1] as string}\r\n`;
  request.headers = out + unparsed;
}

/**
 * Replaces `addHeader` on one routed undici request: an instrumentation that subscribed to
 * `undici:request:create` after us (OpenTelemetry's undici instrumentation adds its `baggage`
 * this way) gets its value merged into our header instead of sending a second one.
 */
function mergingAddHeader(this: UndiciRequestLike, name: string, value: string): unknown {
  const own = (Object.getPrototypeOf(this) as UndiciRequestLike).addHeader!;
  const result = own.call(this, name, value);
  const routed = this[ROUTED];
  if (
    routed !== undefined &&
    typeof name === 'string' &&
    isMergedHeader(name.toLowerCase(), routed.options)
  ) {
    try {
      routeUndiciHeaders(this, routed.key, routed.options);
    } catch {
      // Leave the request as the other instrumentation made it.
    }
  }
  return result;
}

function onUndiciRequest(message: unknown): void {
  if (propagation.installs.length === 0) return;
  const key = getRoutingKey();
  if (key === undefined) return;
  try {
    const request = (message as { request?: UndiciRequestLike } | null)?.request;
    if (request === null || typeof request !== 'object') return;
    const o = activeOptions()!;
    if (!o.isValid(key) || !o.allowsHost(hostnameOf(request.origin))) return;
    routeUndiciHeaders(request, key, o);
    const own = (Object.getPrototypeOf(request) as UndiciRequestLike).addHeader;
    if (typeof own === 'function' && request.addHeader === own) {
      request[ROUTED] = { key, options: o };
      request.addHeader = mergingAddHeader;
    }
  } catch {
    // Never break the caller's fetch.
  }
}

/** Routes a `ClientRequest` as Node builds it, in the context that builds it. */
function onClientRequest(message: unknown): void {
  if (propagation.installs.length === 0) return;
  const key = getRoutingKey();
  if (key === undefined) return;
  const request = (message as { request?: ClientRequestLike } | null)?.request;
  if (request === null || typeof request !== 'object') return;
  routeClientRequest(request, key);
  propagation.lastRouted = request;
}

function enable(): void {
  for (const mod of MODULES) {
    for (const method of METHODS) {
      const current = mod[method] as RequestFunction & { [ORIGINAL]?: RequestFunction };
      if (current[ORIGINAL] === undefined) {
        mod[method] = method === 'request' ? wrapRequest(current) : wrapGet(mod, current);
      }
    }
  }
  // `import { request } from 'node:http'` bindings see the wrappers only after this.
  syncBuiltinESMExports();
  if (propagation.onUndiciRequest === undefined) {
    propagation.onUndiciRequest = onUndiciRequest;
    dc.subscribe(UNDICI_REQUEST_CREATE, onUndiciRequest);
  }
  if (propagation.onClientRequest === undefined) {
    propagation.onClientRequest = onClientRequest;
    dc.subscribe(CLIENT_REQUEST_CREATED, onClientRequest);
  }
}

function disable(): void {
  for (const mod of MODULES) {
    for (const method of METHODS) {
      const current = mod[method] as RequestFunction & { [ORIGINAL]?: RequestFunction };
      // Someone wrapped over us (an APM agent): leave the chain alone; our wrapper is now a
      // pass-through because no install is active.
      if (current[ORIGINAL] !== undefined) mod[method] = current[ORIGINAL];
    }
  }
  syncBuiltinESMExports();
  const subscriber = propagation.onUndiciRequest;
  if (subscriber !== undefined) {
    propagation.onUndiciRequest = undefined;
    dc.unsubscribe(UNDICI_REQUEST_CREATE, subscriber);
  }
  const clientSubscriber = propagation.onClientRequest;
  if (clientSubscriber !== undefined) {
    propagation.onClientRequest = undefined;
    propagation.lastRouted = undefined;
    dc.unsubscribe(CLIENT_REQUEST_CREATED, clientSubscriber);
  }
}

/**
 * Makes every outbound `http.request`, `http.get`, `https.request`, `https.get` and global `fetch`
 * made inside a routed context carry the routing key, with no OpenTelemetry required.
 *
 * The key is merged into the request's `baggage` header (one header, our member first, never
 * duplicated, other members kept), plus the dedicated `headers` and, when switched on,
 * `tracestate` and legacy headers. Requests made outside a routed context are left untouched, and
 * hosts that `propagateTo` denies never receive the key. Works alongside OpenTelemetry's http and
 * undici instrumentations: their `baggage` is merged, not sent twice.
 *
 * Installing more than once is harmless; the most recent active install's options apply.
 * Requests whose headers are given as an array, or that send `Expect`, get the key in a copy of
 * their options, because Node writes their head before returning them. On Node versions that
 * publish the `http.client.request.created` diagnostics channel (not Node 20), requests built with
 * `new http.ClientRequest()` or through an `http.request` taken before the install carry the key
 * too (except those two head-first shapes).
 *
 * @param options - routing options for outbound requests, merged over the process-wide ones
 * @returns a function that removes this install
 * @throws `TypeError` naming the option when `options` is invalid
 * @example
 * ```ts
 * import { installHttpPropagation } from 'routing-context/http';
 *
 * installHttpPropagation({ propagateTo: { deny: ['api.stripe.com'] } });
 * // inside a request handled by routingMiddleware():
 * await fetch('http://inventory/api/items'); // carries `baggage: sd-routing-key=<key>`
 * ```
 * @public
 */
export function installHttpPropagation(options?: HttpPropagationOptions): UninstallHttpPropagation {
  const install: Install = { getOptions: optionsResolver(options) };
  propagation.installs.push(install);
  if (propagation.installs.length === 1) enable();
  let removed = false;
  return function uninstallHttpPropagation(): void {
    if (removed) return;
    removed = true;
    const index = propagation.installs.lastIndexOf(install);
    if (index !== -1) propagation.installs.splice(index, 1);
    if (propagation.installs.length === 0) disable();
  };
}
