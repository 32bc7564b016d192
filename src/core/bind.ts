import { EventEmitter } from 'node:events';
import http from 'node:http';
import { isActiveKey, runWithKey } from './state.js';

type Emit = (this: EventEmitter, event: string | symbol, ...args: unknown[]) => boolean;

type EmitArgs = [string | symbol, ...unknown[]];

/** EventEmitter's own `listenerCount`, called directly: no look-up along a request's prototype chain. */
const listenerCount = EventEmitter.prototype.listenerCount as (
  this: EventEmitter,
  event: string | symbol,
) => number;

/** Calls `fn` with `args` in the routing context of `key`, opening a scope only if needed. */
function callIn<R>(
  key: string | undefined,
  fn: (...args: never[]) => R,
  self: unknown,
  args: ArrayLike<unknown>,
): R {
  if (isActiveKey(key)) return Reflect.apply(fn, self, args);
  return runWithKey(key, () => Reflect.apply(fn, self, args));
}

/**
 * Emits through `emit` in the routing context of `key`. No new scope for an event nobody listens
 * to (streams emit `readable`, `end` and `close` whether or not anyone listens), nor for one
 * emitted from that context already (`res.end()` in a handler).
 */
function emitIn(key: string | undefined, self: EventEmitter, emit: Emit, args: EmitArgs): boolean {
  if (listenerCount.call(self, args[0]) === 0) return emit.apply(self, args);
  return callIn(key, emit, self, args);
}

/** Marks an instance-level `emit` installed by `bindEmitter`. */
const BOUND_EMIT = Symbol.for('routing-context.bound-emit');
/**
 * Marks a framework prototype whose listener methods run each listener in the request's routing
 * context. Version 1 of this marker routed the prototype's `emit` instead.
 */
const ROUTED_PROTOTYPE = Symbol.for('routing-context.routed-prototype.v2');

/**
 * Makes every listener of `emitter` run in the routing context of `key`, whatever context emits.
 *
 * AsyncLocalStorage runs listeners in the emitter's context, so a body parser's `data`/`end`
 * listener (and the `next()` it calls) would lose the key. Binding `emit` once per request object
 * fixes that for every listener, added before or after. Idempotent per emitter.
 * @internal
 */
export function bindEmitter(emitter: EventEmitter, key: string | undefined): void {
  const emit = emitter.emit as Emit & { [BOUND_EMIT]?: true };
  if (emit[BOUND_EMIT]) return;
  const bound = function boundEmit(this: EventEmitter): boolean {
    // `arguments`, not a rest array: no allocation when no new scope is needed.
    // biome-ignore lint/complexity/noArguments: forwarded as they came, on a per-event path
    return emitIn(key, this, emit, arguments as unknown as EmitArgs);
  } as Emit & { [BOUND_EMIT]?: true };
  bound[BOUND_EMIT] = true;
  emitter.emit = bound;
}

/** Returns the object it is constructed with, so that a subclass can add private fields to it. */
class Receiver {
  constructor(object: object) {
    // biome-ignore lint/correctness/noConstructorReturn: the private-field stamp below needs it
    return object;
  }
}

/**
 * The routing key of a request, held in a private field added to the request itself: invisible to
 * its users (no property, no symbol, not copied by spread or `Object.assign`), gone with the
 * request. Used where adding a field to a request is cheap (see `createRequestKeys`).
 */
class RequestKeyStamp extends Receiver {
  #key: string;

  private constructor(request: object, key: string) {
    super(request);
    this.#key = key;
  }

  static write(request: object, key: string): void {
    if (#key in request) (request as RequestKeyStamp).#key = key;
    else new RequestKeyStamp(request, key);
  }

  static read(request: object): string | undefined {
    return #key in request ? (request as RequestKeyStamp).#key : undefined;
  }
}

/** @internal */
export interface RequestKeys {
  write(request: object, key: string): void;
  read(request: object): string | undefined;
}

/**
 * The routing key of each request whose events a routed framework prototype dispatches: the key,
 * or `BASELINE_MARK` for a request the middleware ran as baseline. Shared by every copy of this
 * module in the process (ESM and CJS builds), like the prototypes: whichever copy routed a
 * prototype reads what any copy's middleware wrote.
 */
const REQUEST_KEYS = Symbol.for('routing-context.request-keys.v2');
const BASELINE_MARK = '';
const keysRecord = globalThis as unknown as Record<symbol, RequestKeys | undefined>;
const requestKeys: RequestKeys =
  keysRecord[REQUEST_KEYS] ?? (keysRecord[REQUEST_KEYS] = createRequestKeys(fieldsAreCheap()));

/**
 * Whether adding a field to an Express request is cheap on this engine. Express swaps the
 * prototype of every request; V8 before 13 (Node 22 and older) then gives each request a hidden
 * class of its own, so adding any field to it builds a new hidden class. Measured on Express
 * requests, a private field cost about 2 µs per request on Node 20 and 22 against 0.4 µs for a
 * WeakMap entry; on Node 24 (V8 13.6), where such requests share hidden classes, 0.1 µs against
 * 0.2 µs. CPU profiles of the benchmark chain agree on both.
 */
function fieldsAreCheap(): boolean {
  const v8 = typeof process === 'object' ? process.versions?.v8 : undefined;
  return typeof v8 === 'string' && Number.parseInt(v8, 10) >= 13;
}

/**
 * The store of request keys: a private field on each request where that is cheap (`useFields`),
 * else a WeakMap entry. A request that refuses a private field (an engine that applies
 * `Object.freeze` to private fields, for a frozen request) goes to the WeakMap too.
 * @internal exported for tests
 */
export function createRequestKeys(useFields: boolean): RequestKeys {
  const entries = new WeakMap<object, string>();
  if (!useFields) {
    return {
      write: (request, key) => void entries.set(request, key),
      read: (request) => entries.get(request),
    };
  }
  return {
    write(request, key) {
      try {
        RequestKeyStamp.write(request, key);
      } catch {
        entries.set(request, key);
      }
    },
    read(request) {
      return RequestKeyStamp.read(request) ?? entries.get(request);
    },
  };
}

/** The routing key the middleware recorded for `req`, or `false` when it never saw `req`. */
function recordedKey(req: object | undefined): string | undefined | false {
  if (req === undefined) return false;
  const key = requestKeys.read(req);
  return key === undefined ? false : key === BASELINE_MARK ? undefined : key;
}

/**
 * The prototype a framework put between `object` and Node's `core` prototype (Express's
 * `request`/`response`, reached through `app.request`), or `undefined` for a plain Node object.
 */
function frameworkPrototype(object: object, core: object): object | undefined {
  let proto = Object.getPrototypeOf(object) as object | null;
  for (let depth = 0; proto !== null && proto !== core && depth < 8; depth++) {
    const parent = Object.getPrototypeOf(proto) as object | null;
    if (parent === core) return proto;
    proto = parent;
  }
  return undefined;
}

type Listener = (...args: unknown[]) => unknown;
type AddListener = (this: EventEmitter, event: string | symbol, listener: Listener) => EventEmitter;

/** The listener methods a routed prototype overrides: each adds through the parent's own. */
const ADDERS = ['on', 'addListener', 'prependListener'] as const;
const ONCE_ADDERS = [
  ['once', 'on'],
  ['prependOnceListener', 'prependListener'],
] as const;

/**
 * `listener`, run in the routing context of `key` whatever context emits. Carries `listener` as
 * `.listener`, as Node's own `once` wrappers do, so `removeListener(event, listener)`,
 * `listeners()`, `listenerCount(event, listener)` and `newListener` see the application's function.
 * With `once`, the wrapper removes itself from `emitter` before its first call, as Node's does (a
 * wrapper around Node's own once wrapper could not be removed by the application's function).
 */
function routedListener(
  key: string | undefined,
  listener: Listener,
  once?: { emitter: EventEmitter; event: string | symbol },
): Listener {
  let fired = false;
  const routed = function routedListener(this: unknown): unknown {
    if (once !== undefined) {
      if (fired) return undefined;
      fired = true;
      once.emitter.removeListener(once.event, routed);
    }
    // biome-ignore lint/complexity/noArguments: forwarded as they came, on a per-event path
    return callIn(key, listener, this, arguments);
  };
  (routed as { listener?: Listener }).listener = listener;
  return routed;
}

/**
 * Gives `proto` listener methods (`on`, `addListener`, `prependListener`, `once`,
 * `prependOnceListener`) that make each listener added to an instance run in the routing context
 * `keyOf` finds on it. Instances the middleware never saw, and non-function arguments, go to the
 * parent's methods untouched (looked up per call, so later patches of Node's classes still apply).
 * Events cost nothing extra: only listeners added after the middleware ran are wrapped, once.
 */
function routePrototype(
  proto: object,
  parent: object,
  keyOf: (self: object) => string | undefined | false,
): void {
  // Another copy of this module (the CJS build beside the ESM one) may have routed it already.
  if (Object.hasOwn(proto, ROUTED_PROTOTYPE)) return;
  const core = parent as Record<string, AddListener>;
  const define = (name: string, value: AddListener) =>
    Object.defineProperty(proto, name, { configurable: true, writable: true, value });
  for (const name of ADDERS) {
    define(name, function routedAddListener(this: EventEmitter, event, listener) {
      const key = typeof listener === 'function' ? keyOf(this) : false;
      return core[name]!.call(this, event, key === false ? listener : routedListener(key, listener));
    });
  }
  for (const [name, adder] of ONCE_ADDERS) {
    define(name, function routedAddOnceListener(this: EventEmitter, event, listener) {
      const key = typeof listener === 'function' ? keyOf(this) : false;
      if (key === false) return core[name]!.call(this, event, listener);
      return core[adder]!.call(this, event, routedListener(key, listener, { emitter: this, event }));
    });
  }
  Object.defineProperty(proto, ROUTED_PROTOTYPE, { value: true });
}

/**
 * Gives a framework's request prototype a `routingKey` accessor that reads what the middleware
 * recorded for each request; assigning `req.routingKey` stores an own property, as on any object.
 */
function exposeRoutingKey(proto: object): void {
  if (Object.hasOwn(proto, 'routingKey')) return;
  Object.defineProperty(proto, 'routingKey', {
    configurable: true,
    enumerable: false,
    get(this: object): string | undefined {
      const key = recordedKey(this);
      return key === false ? undefined : key;
    },
    set(this: object, value: unknown) {
      Object.defineProperty(this, 'routingKey', {
        configurable: true,
        enumerable: true,
        writable: true,
        value,
      });
    },
  });
}

const responseKey = (self: object) => recordedKey((self as { req?: object }).req);

/**
 * Gives an HTTP request the routing key `key` (`req.routingKey`), and runs the listeners of the
 * request and its response in that key's routing context. Call it before any event is emitted.
 *
 * Express swaps the prototype of every request and response (`app.request`, `app.response`), after
 * which V8 adds properties to them slowly: per object, a bound `emit` or an own `routingKey` would
 * cost microseconds. There, Express's shared prototypes get, once per process, listener methods
 * that wrap each listener added from then on in the key recorded for the request (through `res.req`
 * for the response), and a `routingKey` accessor; the request's key is recorded aside
 * (`createRequestKeys`). Events themselves go straight to Node: a request whose handler adds no
 * listener pays nothing per event. Plain Node objects get an own `routingKey` and `bindEmitter`,
 * which also routes listeners added before this call.
 * @internal
 */
export function routeRequest(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  key: string | undefined,
): void {
  if (routesListeners(req, http.IncomingMessage.prototype, recordedKey, true)) {
    requestKeys.write(req, key ?? BASELINE_MARK);
  } else {
    (req as { routingKey?: string | undefined }).routingKey = key;
    bindEmitter(req, key);
  }
  if (!routesListeners(res, http.ServerResponse.prototype, responseKey, false)) bindEmitter(res, key);
}

/**
 * Immediate prototypes (an Express app's `app.request`, `app.response`) known to be routed: their
 * objects are checked by identity, without a property read on the slow object itself.
 */
const routedChains = new WeakSet<object>();

/**
 * Whether the framework prototype of `emitter` routes listeners by routing key (routing it now if
 * needed); `false` for a plain Node object, which has no such prototype.
 */
function routesListeners(
  emitter: EventEmitter,
  core: object,
  keyOf: (self: object) => string | undefined | false,
  isRequest: boolean,
): boolean {
  const first = Object.getPrototypeOf(emitter) as object | null;
  if (first === null) return false;
  if (routedChains.has(first)) return true;
  const proto = frameworkPrototype(emitter, core);
  if (proto === undefined) return false;
  routePrototype(proto, core, keyOf);
  if (isRequest) exposeRoutingKey(proto);
  routedChains.add(first);
  return true;
}
