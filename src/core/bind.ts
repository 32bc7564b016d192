import type { EventEmitter } from 'node:events';
import http from 'node:http';
import { isActiveKey, runWithKey } from './state.js';

type Emit = (this: EventEmitter, event: string | symbol, ...args: unknown[]) => boolean;

type EmitArgs = [string | symbol, ...unknown[]];

/**
 * Emits through `emit` in the routing context of `key`. No new scope for an event nobody listens
 * to (streams emit `readable`, `end` and `close` whether or not anyone listens), nor for one
 * emitted from that context already (`res.end()` in a handler).
 */
function emitIn(key: string | undefined, self: EventEmitter, emit: Emit, args: EmitArgs): boolean {
  if (self.listenerCount(args[0]) === 0 || isActiveKey(key)) return emit.apply(self, args);
  return runWithKey(key, () => emit.apply(self, args));
}

/** Marks an instance-level `emit` installed by `bindEmitter`. */
const BOUND_EMIT = Symbol.for('routing-context.bound-emit');
/** Marks a framework prototype whose `emit` runs events in the request's routing context. */
const ROUTED_PROTOTYPE = Symbol.for('routing-context.routed-prototype');

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

/** An Express request as far as the routed prototype needs it. */
interface KeyedRequest {
  routingKey?: string | undefined;
}

/** The routing key marked on `req` by the middleware, or `false` when it never ran. */
function markedKey(req: KeyedRequest | undefined): string | undefined | false {
  return req !== undefined && Object.hasOwn(req, 'routingKey') ? req.routingKey : false;
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

/**
 * Gives `proto` an `emit` that runs each event of an instance in the routing context `keyOf`
 * finds on it, and the emit of Node's class (looked up per call, so later patches of the class
 * still apply) for instances the middleware never saw.
 */
function routePrototype(
  proto: object,
  parent: object,
  keyOf: (self: object) => string | undefined | false,
): void {
  if (Object.hasOwn(proto, ROUTED_PROTOTYPE)) return;
  const core = parent as { emit: Emit };
  Object.defineProperty(proto, 'emit', {
    configurable: true,
    writable: true,
    value: function routedEmit(this: EventEmitter): boolean {
      // biome-ignore lint/complexity/noArguments: forwarded as they came, on a per-event path
      const args = arguments as unknown as EmitArgs;
      const key = keyOf(this);
      // Instances the middleware never saw keep Node's behaviour.
      if (key === false) return core.emit.apply(this, args);
      return emitIn(key, this, core.emit, args);
    },
  });
  Object.defineProperty(proto, ROUTED_PROTOTYPE, { value: true });
}

const requestKey = (self: object) => markedKey(self as KeyedRequest);
const responseKey = (self: object) => markedKey((self as { req?: KeyedRequest }).req);

/**
 * Runs every event of an HTTP request and its response in the routing context `req.routingKey`
 * holds, which the caller must have set (as an own property) before any event is emitted.
 *
 * Express swaps the prototype of every request and response (`app.request`, `app.response`), after
 * which V8 adds properties to them slowly: per object, a bound `emit` would cost microseconds.
 * There, Express's shared prototypes get an `emit` that reads the key from the request (and from
 * `res.req` for the response), once per process; plain Node objects get `bindEmitter`.
 * @internal
 */
export function bindRequestEvents(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  key: string | undefined,
): void {
  bindEvents(req, http.IncomingMessage.prototype, requestKey, key);
  bindEvents(res, http.ServerResponse.prototype, responseKey, key);
}

/**
 * Immediate prototypes (an Express app's `app.request`, `app.response`) known to be routed: their
 * objects are checked by identity, without a property read on the slow object itself.
 */
const routedChains = new WeakSet<object>();

function bindEvents(
  emitter: EventEmitter,
  core: object,
  keyOf: (self: object) => string | undefined | false,
  key: string | undefined,
): void {
  const first = Object.getPrototypeOf(emitter) as object | null;
  if (first !== null && routedChains.has(first)) return;
  // Read through the prototype chain: true once Express's prototype is routed.
  if ((emitter as { [ROUTED_PROTOTYPE]?: true })[ROUTED_PROTOTYPE] === true) {
    if (first !== null) routedChains.add(first);
    return;
  }
  const proto = frameworkPrototype(emitter, core);
  if (proto === undefined) bindEmitter(emitter, key);
  else routePrototype(proto, core, keyOf);
}
