import type { Derive, KeyRouter, Namespace, RedisArg } from './commands.js';

type Method = (...args: any[]) => any;
/** @internal */
export type TransformReply = (reply: unknown, ...rest: unknown[]) => unknown;

interface ParserLike {
  readonly redisArgs: RedisArg[];
}

interface MultiLike {
  addCommand(args: RedisArg[] & { preserve?: unknown }, transformReply?: TransformReply): unknown;
}

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

/**
 * Wraps a node-redis v5 client.
 *
 * node-redis command methods call `this._self._executeCommand(command, parser, ...)`, where
 * `parser.redisArgs` holds the final arguments, and `_self` is the real client (whose private
 * fields the other methods need). The wrapper is a Proxy that hands command methods a `this`
 * whose `_self` routes `_executeCommand`, while every other method sees the real `_self`.
 * `sendCommand`, `multi` (queue time), `watch` and the pub/sub methods are routed too.
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
        const name = String(args[0]);
        router.rewrite(name, args, ns, 1, true);
        transform = withStrip(transform, router.stripperOf(name), ns);
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
        const name = String(args[0]);
        outbound = router.rewrite(name, args, ns, 1, false);
        const strip = router.stripperOf(name);
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

  function multi(this: unknown, ...args: unknown[]): unknown {
    // The MULTI belongs to the wrapped client itself: its commands are routed when queued, so its
    // executors run with no Proxy trap on their per-command path.
    const created = (target.multi as Method).apply(target, args) as MultiLike;
    const add = created.addCommand;
    created.addCommand = function addRouted(this: unknown, redisArgs, transformReply) {
      // Throws at queue time: a queued command would otherwise run with its shared keys.
      const ns = router.current();
      if (ns === undefined) return add.call(this, redisArgs, transformReply);
      const name = String(redisArgs[0]);
      const rewritten: RedisArg[] & { preserve?: unknown } = router.rewrite(name, redisArgs, ns, 1, false);
      if (redisArgs.preserve !== undefined) rewritten.preserve = redisArgs.preserve;
      return add.call(this, rewritten, withStrip(transformReply, router.stripperOf(name), ns));
    };
    return created;
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
  const commands = new Map<PropertyKey, unknown>();
  const derivers = new Map<PropertyKey, Method>();

  /** A method returning a client derived from this one, whose result is routed too. */
  function deriver(property: string): Method {
    let method = derivers.get(property);
    if (method === undefined) {
      method = function routedDerive(this: unknown, ...args: unknown[]) {
        return derive((target[property] as Method).apply(this, args));
      };
      derivers.set(property, method);
    }
    return method;
  }

  const proxy: T = new Proxy(client, {
    get(t, property, receiver) {
      switch (property) {
        // Read for every command by the real client's methods (`this._self.#queue`): keep it first.
        case '_self':
          return real;
        case 'sendCommand':
          return sendCommand;
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
      // Command methods, scripts and module namespaces live on the class node-redis builds per
      // configuration, the real client's prototype.
      if (Object.hasOwn(commandPrototype, property)) {
        let routed = commands.get(property);
        if (routed === undefined) {
          const value = Reflect.get(commandThis, property);
          routed = typeof value === 'function' ? value.bind(commandThis) : value;
          commands.set(property, routed);
        }
        return routed;
      }
      return Reflect.get(t, property, receiver);
    },
  });
  return proxy;
}
