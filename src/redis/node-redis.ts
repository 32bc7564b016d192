import { RoutingContextError } from '../core/errors.js';
import {
  type Derive,
  type KeyRouter,
  type Namespace,
  planFor,
  type RedisArg,
  rewriteArgs,
} from './commands.js';

type Method = (...args: any[]) => any;
/** @internal */
export type TransformReply = (reply: unknown, ...rest: unknown[]) => unknown;
type Args = RedisArg[] & { preserve?: unknown };

interface ParserLike {
  readonly redisArgs: RedisArg[];
}

/** One entry of a node-redis multi queue; the executors read only `args`. */
interface Queued {
  readonly args: Args;
  readonly transformReply?: TransformReply | undefined;
}

/** `executeMulti` / `executePipeline` of a node-redis v5 multi: sends the queue at `exec`. */
type Execute = (queue: readonly Queued[], selectedDB?: number) => Promise<unknown>;

/** node-redis v5 `RedisClientMultiCommand`, the `Multi` class of a client configuration. */
interface MultiBase {
  addCommand(args: Args, transformReply?: TransformReply): unknown;
  sendCommand(args: RedisArg[]): unknown;
  SELECT(db: number, transformReply?: TransformReply): unknown;
}
export type MultiClass = new (
  executeMulti: Execute,
  executePipeline: Execute,
  typeMapping: unknown,
) => MultiBase;

/**
 * Names of node-redis pub/sub methods, and whether they take patterns.
 * @internal
 */
export const PUBSUB_METHODS: ReadonlyMap<string, boolean> = new Map([
  ['subscribe', false],
  ['SUBSCRIBE', false],
  ['unsubscribe', false],
  ['UNSUBSCRIBE', false],
  ['sSubscribe', false],
  ['SSUBSCRIBE', false],
  ['sUnsubscribe', false],
  ['SUNSUBSCRIBE', false],
  ['pSubscribe', true],
  ['PSUBSCRIBE', true],
  ['pUnsubscribe', true],
  ['PUNSUBSCRIBE', true],
]);

/**
 * `transformReply` preceded by the reply stripper of a command, if it has one.
 * @internal
 */
export function withStrip(
  transformReply: TransformReply | undefined,
  strip: ((reply: unknown, ns: Namespace) => unknown) | undefined,
  ns: Namespace,
): TransformReply | undefined {
  if (strip === undefined) return transformReply;
  return (reply, ...rest) => {
    const stripped = strip(reply, ns);
    return transformReply === undefined ? stripped : transformReply(stripped, ...rest);
  };
}

function commandName(args: RedisArg[]): string {
  const name = args[0];
  return typeof name === 'string' ? name : String(name);
}

/** The routed `Multi` subclass per `Multi` class and router: one per routed client configuration. */
const routedMultis = new WeakMap<MultiClass, WeakMap<KeyRouter, MultiClass>>();

/**
 * The routed subclass of a node-redis v5 `Multi` class, for `router` (see `createRoutedMulti`).
 * @internal
 */
export function routedMultiClass(
  Base: MultiClass,
  router: KeyRouter,
  scriptNames: readonly string[],
): MultiClass {
  let byRouter = routedMultis.get(Base);
  if (byRouter === undefined) {
    byRouter = new WeakMap();
    routedMultis.set(Base, byRouter);
  }
  let Routed = byRouter.get(router);
  if (Routed === undefined) {
    Routed = createRoutedMulti(Base, router, scriptNames);
    byRouter.set(router, Routed);
  }
  return Routed;
}

/**
 * A subclass of a node-redis v5 `Multi` class that routes every command in the context that
 * queues it. Commands, module and function commands queue through `addCommand`, raw commands
 * through `sendCommand`: both are rewritten when queued. Scripts are queued by node-redis's
 * private `#addScript`, which builds their `EVAL`/`EVALSHA` out of reach: the subclass notes the
 * queue position and namespace of each, and rewrites them in a copy of the queue handed to the
 * executors at `exec` (the multi's own queue is never changed, so `exec` can run again). A queue
 * that holds commands none of these methods queued is refused at `exec` in a namespace.
 */
function createRoutedMulti(Base: MultiClass, router: KeyRouter, scriptNames: readonly string[]): MultiClass {
  const basePrototype = Base.prototype as unknown as Record<string, unknown>;

  class RoutedMulti extends Base {
    /** Commands queued through the methods below. */
    #queued = 0;
    /** Whether one of them was queued in a namespace. */
    #namespaced = false;
    /** Queue positions of the scripts queued in a namespace, and their namespaces. */
    #scriptPositions: number[] | undefined;
    #scriptNamespaces: Namespace[] | undefined;

    constructor(executeMulti: Execute, executePipeline: Execute, typeMapping: unknown) {
      // The executors read `this` when `exec` calls them, once the multi is built.
      super(
        (queue, selectedDB) => this.#execute(executeMulti, queue, selectedDB),
        (queue, selectedDB) => this.#execute(executePipeline, queue, selectedDB),
        typeMapping,
      );
    }

    override addCommand(args: Args, transformReply?: TransformReply): this {
      // Throws at queue time: a queued command would otherwise run with its shared keys.
      const ns = router.current();
      if (ns === undefined) {
        super.addCommand(args, transformReply);
      } else {
        const plan = planFor(commandName(args));
        // node-redis's command methods hand over a fresh array with an own `preserve`: it is
        // rewritten in place. An array from the caller is copied.
        const fresh = 'preserve' in args;
        const routed = rewriteArgs(plan, args, ns, 1, fresh);
        super.addCommand(
          routed,
          plan.strip === undefined ? transformReply : withStrip(transformReply, plan.strip, ns),
        );
        this.#namespaced = true;
      }
      this.#queued++;
      return this;
    }

    override sendCommand(args: RedisArg[]): this {
      const ns = router.current();
      if (ns === undefined) {
        super.sendCommand(args);
      } else {
        // What the base method does (queue a copy, no reply transform), with the copy rewritten.
        const plan = planFor(commandName(args));
        const routed = rewriteArgs(plan, args, ns, 1, false);
        super.addCommand(routed, plan.strip === undefined ? undefined : withStrip(undefined, plan.strip, ns));
        this.#namespaced = true;
      }
      this.#queued++;
      return this;
    }

    override SELECT(db: number, transformReply?: TransformReply): this {
      super.SELECT(db, transformReply);
      this.#queued++;
      return this;
    }

    #execute(execute: Execute, queue: readonly Queued[], selectedDB: number | undefined): Promise<unknown> {
      try {
        if (queue.length !== this.#queued && (this.#namespaced || router.current() !== undefined)) {
          throw new RoutingContextError(
            'ERR_UNROUTABLE_COMMAND',
            `routing-context: this node-redis multi holds ${queue.length} commands, but routedRedis routed ${this.#queued}: ` +
              'some were queued by a method it does not know, with keys it cannot place in a namespace. Nothing was sent.',
          );
        }
        const positions = this.#scriptPositions;
        if (positions === undefined) return execute(queue, selectedDB);
        const namespaces = this.#scriptNamespaces!;
        const routed = queue.slice();
        for (let i = 0; i < positions.length; i++) {
          const at = positions[i]!;
          const entry = queue[at]!;
          const args = rewriteArgs(planFor(commandName(entry.args)), entry.args, namespaces[i]!, 1, false);
          routed[at] = { args, transformReply: entry.transformReply };
        }
        return execute(routed, selectedDB);
      } catch (error) {
        return Promise.reject(error);
      }
    }

    static {
      for (const name of scriptNames) {
        const queueScript = basePrototype[name];
        if (typeof queueScript !== 'function') continue;
        Object.defineProperty(RoutedMulti.prototype, name, {
          configurable: true,
          writable: true,
          value: function routedScript(this: RoutedMulti, ...args: unknown[]) {
            const ns = router.current();
            (queueScript as Method).apply(this, args);
            if (ns !== undefined) {
              (this.#scriptPositions ??= []).push(this.#queued);
              (this.#scriptNamespaces ??= []).push(ns);
              this.#namespaced = true;
            }
            this.#queued++;
            return this;
          },
        });
      }
    }
  }
  return RoutedMulti;
}

/**
 * Names of the scripts a pool's clients are configured with, by the pool's `_self`: known for a
 * pool created by a routed client's `createPool()` (a pool does not expose its client options).
 */
const poolScriptNames = new WeakMap<object, readonly string[]>();

function rememberPoolScripts(pool: unknown, names: readonly string[]): void {
  const self = (pool as { _self?: unknown } | null)?._self;
  if (typeof self === 'object' && self !== null) poolScriptNames.set(self, names);
}

/**
 * The script names of `pool`'s client configuration when known, else none.
 * @internal
 */
export function poolScripts(pool: object): readonly string[] {
  const self = (pool as { _self?: unknown })._self;
  return (typeof self === 'object' && self !== null && poolScriptNames.get(self)) || [];
}

/**
 * What a node-redis client or pool wrapper returns for a command method, script or module
 * namespace: these live on the class node-redis builds per configuration (`commandPrototype`, the
 * real object's prototype), and are handed out bound to `commandThis`, the object whose `_self`
 * routes. `undefined` for any other property.
 * @internal
 */
export function commandLookup(
  commandPrototype: object,
  commandThis: Record<PropertyKey, unknown>,
): (property: PropertyKey) => unknown {
  const commands = new Map<PropertyKey, unknown>();
  return (property) => {
    if (!Object.hasOwn(commandPrototype, property)) return undefined;
    let routed = commands.get(property);
    if (routed === undefined) {
      const value = Reflect.get(commandThis, property);
      routed = typeof value === 'function' ? value.bind(commandThis) : value;
      commands.set(property, routed);
    }
    return routed;
  };
}

/**
 * Methods of a node-redis wrapper that return a client or pool derived from `target`
 * (`withTypeMapping()`...): the result is routed too.
 * @internal
 */
export function derivers(target: Record<PropertyKey, unknown>, derive: Derive): (property: string) => Method {
  const methods = new Map<string, Method>();
  return (property) => {
    let method = methods.get(property);
    if (method === undefined) {
      method = function routedDerive(...args: unknown[]) {
        return derive((target[property] as Method).apply(target, args));
      };
      methods.set(property, method);
    }
    return method;
  };
}

/**
 * Wraps a node-redis v5 client.
 *
 * node-redis command methods call `this._self._executeCommand(command, parser, ...)`, where
 * `parser.redisArgs` holds the final arguments, and `_self` is the real client (whose private
 * fields the other methods need). The wrapper is a Proxy that hands command methods a `this`
 * whose `_self` routes `_executeCommand`, while every other method sees the real `_self`.
 * `sendCommand`, `watch` and the pub/sub methods are routed too; `multi` builds a routed subclass
 * of the client's `Multi` class (see `createRoutedMulti`).
 * @internal
 */
export function wrapNodeRedis<T extends object>(client: T, router: KeyRouter, derive: Derive): T {
  const target = client as unknown as Record<PropertyKey, unknown>;
  const real = target._self as Record<PropertyKey, unknown>;
  const commandPrototype = Object.getPrototypeOf(real) as object;

  function executeCommand(
    command: unknown,
    parser: ParserLike,
    options: unknown,
    transform?: TransformReply,
  ) {
    let ns: Namespace | undefined;
    try {
      ns = router.current();
      if (ns !== undefined) {
        // `parser` belongs to this call only: rewrite its arguments in place.
        const args = parser.redisArgs;
        const plan = planFor(commandName(args));
        rewriteArgs(plan, args, ns, 1, true);
        if (plan.strip !== undefined) transform = withStrip(transform, plan.strip, ns);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return (real._executeCommand as Method).call(real, command, parser, options, transform);
  }

  function sendCommand(this: unknown, args: RedisArg[], options?: unknown): Promise<unknown> {
    let ns: Namespace | undefined;
    let outbound = args;
    try {
      ns = router.current();
      if (ns !== undefined) {
        const plan = planFor(commandName(args));
        outbound = rewriteArgs(plan, args, ns, 1, false);
        const strip = plan.strip;
        if (strip !== undefined) {
          const namespace = ns;
          return (target.sendCommand as Method)
            .call(target, outbound, options)
            .then((reply: unknown) => strip(reply, namespace));
        }
      }
    } catch (error) {
      return Promise.reject(error);
    }
    return (target.sendCommand as Method).call(target, outbound, options);
  }

  // node-redis `MULTI()` builds `new this.Multi(...)` on executors bound to `this`: called on an
  // object that inherits from the client, with the routed subclass as `Multi`, it builds a routed
  // multi whose executors run on the real client, with no Proxy trap per command.
  let multiThis: Record<PropertyKey, unknown> | undefined;
  function multi(this: unknown): unknown {
    if (multiThis === undefined) {
      const scripts = (target.options as { scripts?: object } | undefined)?.scripts;
      multiThis = Object.create(client) as Record<PropertyKey, unknown>;
      multiThis.Multi = routedMultiClass(
        target.Multi as MultiClass,
        router,
        scripts === undefined ? [] : Object.keys(scripts),
      );
    }
    return (target.MULTI as Method).call(multiThis);
  }

  function watch(this: unknown, key: RedisArg | RedisArg[]): unknown {
    const ns = router.current();
    const keys =
      ns === undefined ? key : router.rewrite('watch', Array.isArray(key) ? key : [key], ns, 0, false);
    return (target.watch as Method).call(proxy, keys);
  }

  const pubsub = new Map<string, Method>();
  function pubsubMethod(name: string, patterns: boolean): Method {
    let method = pubsub.get(name);
    if (method === undefined) {
      const original = target[name] as Method;
      const command = patterns ? 'psubscribe' : 'subscribe';
      method = function routedPubSub(this: unknown, channels?: RedisArg | RedisArg[], ...rest: unknown[]) {
        const ns = router.current();
        if (ns === undefined || channels === undefined) return original.call(proxy, channels, ...rest);
        const list = Array.isArray(channels) ? channels : [channels];
        return original.call(proxy, router.rewrite(command, list, ns, 0, false), ...rest);
      };
      pubsub.set(name, method);
    }
    return method;
  }

  // The `this` of command methods: its `_self` routes `_executeCommand`; scripts call
  // `this._executeScript`, which calls `this.sendCommand`.
  const commandThis = Object.create(client) as Record<PropertyKey, unknown>;
  commandThis._self = commandThis;
  commandThis._executeCommand = executeCommand;
  commandThis.sendCommand = sendCommand;
  const command = commandLookup(commandPrototype, commandThis);
  const deriver = derivers(target, derive);

  // A pool hands its routed view of a member client to `execute` callbacks, and its command
  // methods call these two directly on it.
  function executeScript(this: unknown, ...args: unknown[]): unknown {
    return (real._executeScript as Method).apply(commandThis, args);
  }

  // A pool created from the routed client is routed too (its members are separate connections).
  function createPool(this: unknown, ...args: unknown[]): unknown {
    const pool = (target.createPool as Method).apply(target, args);
    const scripts = (target.options as { scripts?: object } | undefined)?.scripts;
    if (scripts !== undefined) rememberPoolScripts(pool, Object.keys(scripts));
    return derive(pool);
  }

  const proxy: T = new Proxy(client, {
    get(t, property, receiver) {
      switch (property) {
        // Read for every command by the real client's methods (`this._self.#queue`): keep it first.
        case '_self':
          return real;
        case 'sendCommand':
          return sendCommand;
        case '_executeCommand':
          return executeCommand;
        case '_executeScript':
          return executeScript;
        case 'createPool':
          return createPool;
        case 'multi':
        case 'MULTI':
          return multi;
        case 'watch':
        case 'WATCH':
          return watch;
        case 'Multi':
          return Reflect.get(t, property, receiver);
        case 'duplicate':
        case 'withCommandOptions':
        case 'withTypeMapping':
        case 'withAbortSignal':
        case 'asap':
          return deriver(property);
      }
      if (typeof property === 'string') {
        const patterns = PUBSUB_METHODS.get(property);
        if (patterns !== undefined) return pubsubMethod(property, patterns);
      }
      return command(property) ?? Reflect.get(t, property, receiver);
    },
  });
  return proxy;
}
