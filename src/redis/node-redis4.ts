import type { Derive, KeyRouter, RedisArg } from './commands.js';
import { PUBSUB_METHODS, type TransformReply, withStrip } from './node-redis.js';

type Method = (...args: any[]) => any;
type Args = RedisArg[] & { preserve?: unknown };

/** A node-redis v4 script definition (`defineScript`), as its executor receives it. */
interface ScriptLike {
  readonly SCRIPT: string;
  readonly SHA1: string;
  readonly NUMBER_OF_KEYS?: number;
  readonly transformArguments: (...args: unknown[]) => Args;
  readonly transformReply?: TransformReply;
}

/** A node-redis v4 function definition (`functions` extension), as its executor receives it. */
interface FunctionLike {
  readonly NUMBER_OF_KEYS?: number;
  readonly IS_READ_ONLY?: boolean;
  readonly transformArguments: (...args: unknown[]) => Args;
  readonly transformReply?: TransformReply;
}

/** A node-redis v4 command definition, as `commandsExecutor` receives it. */
interface CommandLike {
  readonly transformArguments: (...args: unknown[]) => Args;
  readonly transformReply?: TransformReply;
}

interface Captured {
  args: Args;
  transformReply: TransformReply | undefined;
}

interface MultiLike {
  addCommand(args: Args, transformReply?: TransformReply): MultiLike;
}

/** Methods shared by the v4 client and multi prototypes that are not Redis commands. */
const NOT_COMMANDS = new Set<PropertyKey>(['constructor', 'commandsExecutor', 'SELECT']);

/** Iterators that call `this.scan`/`this.hScan`...: they run on the routed client. */
const ITERATORS = new Set<PropertyKey>([
  'scanIterator',
  'hScanIterator',
  'hScanNoValuesIterator',
  'sScanIterator',
  'zScanIterator',
]);

// A script or function executor awaits this forever once its arguments have been captured.
const NEVER = new Promise<never>(() => {});

function prototypeOwning(start: object | null, property: string): Record<PropertyKey, unknown> | undefined {
  for (let proto = start; proto !== null; proto = Object.getPrototypeOf(proto) as object | null) {
    if (Object.hasOwn(proto, property)) return proto as Record<PropertyKey, unknown>;
  }
  return undefined;
}

function scriptArgs(script: ScriptLike, args: RedisArg[], sha: boolean): Args {
  const out: Args = sha ? ['EVALSHA', script.SHA1] : ['EVAL', script.SCRIPT];
  if (script.NUMBER_OF_KEYS !== undefined) out.push(String(script.NUMBER_OF_KEYS));
  for (const arg of args) out.push(arg);
  return out;
}

function functionArgs(name: string, fn: FunctionLike, args: RedisArg[]): Args {
  const out: Args = [fn.IS_READ_ONLY ? 'FCALL_RO' : 'FCALL', name];
  if (fn.NUMBER_OF_KEYS !== undefined) out.push(String(fn.NUMBER_OF_KEYS));
  for (const arg of args) out.push(arg);
  return out;
}

/**
 * Wraps a node-redis v4 client (`@redis/client` 1.x).
 *
 * v4 command methods transform their arguments and send them through the private
 * `#sendCommand`, reachable only with the real client as `this`, so no `this` substitute can
 * see the final arguments. The multi class shares the command definitions and queues through a
 * public `this.addCommand(args, transformReply)`: the wrapper runs the multi's command method
 * against a capturing `this` to get the final arguments and reply transform, rewrites them once
 * and sends them with the real client's public `sendCommand`, which also serves
 * `commandOptions({ isolated: true })`. Scripts and functions call `this.executeScript` /
 * `this.executeFunction`, which the wrapper routes; modules go through the multi capture too.
 * `multi()` rewrites at queue time in the queuing context; `executeIsolated` hands `fn` a routed
 * isolated client. Every other method runs on the real client.
 * @internal
 */
export function wrapNodeRedis4<T extends object>(client: T, router: KeyRouter, derive: Derive): T {
  const real = client as unknown as Record<PropertyKey, unknown>;
  if ((real.options as { legacyMode?: boolean } | undefined)?.legacyMode === true) {
    throw new TypeError(
      'routing-context: routedRedis does not support node-redis v4 clients in legacyMode; wrap a client created without it',
    );
  }
  const clientBase = prototypeOwning(real, 'commandsExecutor');
  const MultiClass = real.Multi as { prototype: object } | undefined;
  const multiBase =
    MultiClass === undefined ? undefined : prototypeOwning(MultiClass.prototype, 'execAsPipeline');
  if (clientBase === undefined || multiBase === undefined || typeof real.sendCommand !== 'function') {
    throw new TypeError('routing-context: routedRedis does not recognise this node-redis v4 client');
  }
  const multiPrototype = MultiClass!.prototype as Record<PropertyKey, unknown>;
  const optionsMark = Object.getOwnPropertySymbols((real.commandOptions as Method)({}))[0];

  function isOptions(arg: unknown): boolean {
    return (
      optionsMark !== undefined &&
      typeof arg === 'object' &&
      arg !== null &&
      (arg as Record<symbol, unknown>)[optionsMark] === true
    );
  }

  // Scripts live on the prototypes that `RedisClient.extend` adds above the base class.
  const scriptNames: string[] = [];
  for (
    let proto = Object.getPrototypeOf(real) as object;
    proto !== clientBase;
    proto = Object.getPrototypeOf(proto)
  ) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      if (name !== 'constructor' && typeof (proto as Record<string, unknown>)[name] === 'function') {
        scriptNames.push(name);
      }
    }
  }

  // `this` of a multi command method whose arguments are wanted: its `addCommand` keeps them.
  let captured: Captured | undefined;
  const multiCapture = {
    addCommand(args: Args, transformReply?: TransformReply) {
      captured = { args, transformReply };
      return multiCapture;
    },
  };
  function takeCaptured(): Captured {
    const found = captured;
    captured = undefined;
    if (found === undefined) throw new TypeError('routing-context: node-redis v4 queued no command');
    return found;
  }

  // `this` of a client script or function method whose arguments are wanted.
  const extensionCapture = {
    executeScript(script: ScriptLike, args: RedisArg[]) {
      captured = { args: scriptArgs(script, args, false), transformReply: script.transformReply };
      if ((args as Args).preserve !== undefined) captured.args.preserve = (args as Args).preserve;
      return NEVER;
    },
    executeFunction(name: string, fn: FunctionLike, args: RedisArg[]) {
      captured = { args: functionArgs(name, fn, args), transformReply: fn.transformReply };
      if ((args as Args).preserve !== undefined) captured.args.preserve = (args as Args).preserve;
      return NEVER;
    },
  };

  /** Rewrites `args` (a copy) in the active namespace, sends them, strips and transforms the reply. */
  function send(args: Args, options: unknown, transformReply: TransformReply | undefined): Promise<unknown> {
    let transform = transformReply;
    let outbound: RedisArg[] = args;
    try {
      const ns = router.current();
      if (ns !== undefined) {
        const name = String(args[0]);
        outbound = router.rewrite(name, args, ns, 1, false);
        transform = withStrip(transformReply, router.stripperOf(name), ns);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    const sent = (real.sendCommand as Method).call(real, outbound, options) as Promise<unknown>;
    if (transform === undefined) return sent;
    const preserve = args.preserve;
    return sent.then((reply) => transform(reply, preserve));
  }

  function sendCommand(args: RedisArg[], options?: unknown): Promise<unknown> {
    return send(args, options, undefined);
  }

  function routedCommand(queueCommand: Method, thisArg: unknown): Method {
    return function routed(...args: unknown[]) {
      let options: unknown;
      try {
        if (isOptions(args[0])) options = args.shift();
        captured = undefined;
        queueCommand.apply(thisArg, args);
      } catch (error) {
        return Promise.reject(error);
      }
      const { args: redisArgs, transformReply } = takeCaptured();
      return send(redisArgs, options, transformReply);
    };
  }

  async function executeScript(script: ScriptLike, args: RedisArg[], options?: unknown): Promise<unknown> {
    try {
      return await send(scriptArgs(script, args, true), options, undefined);
    } catch (error) {
      if (!(error as Error | undefined)?.message?.startsWith?.('NOSCRIPT')) throw error;
      return send(scriptArgs(script, args, false), options, undefined);
    }
  }

  function executeFunction(
    name: string,
    fn: FunctionLike,
    args: RedisArg[],
    options?: unknown,
  ): Promise<unknown> {
    return send(functionArgs(name, fn, args), options, undefined);
  }

  // The client's public command executor: a command method with the definition passed in.
  function commandsExecutor(command: CommandLike, args: unknown[]): Promise<unknown> {
    let options: unknown;
    let commandArgs = args;
    if (isOptions(args[0])) {
      options = args[0];
      commandArgs = args.slice(1);
    }
    let redisArgs: Args;
    try {
      redisArgs = command.transformArguments(...commandArgs);
    } catch (error) {
      return Promise.reject(error);
    }
    return send(redisArgs, options, command.transformReply);
  }

  // The `this` of script and function methods: their executors call these two.
  const commandThis = Object.create(client) as Record<PropertyKey, unknown>;
  commandThis.executeScript = executeScript;
  commandThis.executeFunction = executeFunction;
  commandThis.sendCommand = sendCommand;

  /** Captures what a script or function method of the client would send, without sending it. */
  function captureExtension(method: Method, thisArg: unknown, args: unknown[]): Captured | undefined {
    captured = undefined;
    try {
      // A module command reaches the private `#sendCommand` instead and rejects: nothing captured.
      (method.apply(thisArg, args) as Promise<unknown>).catch(() => {});
    } catch {
      // A synchronous failure is the module command's, reported when it is queued the normal way.
    }
    const found = captured;
    captured = undefined;
    return found;
  }

  /** A module or functions namespace (`client.json`, `client.myLib`) whose commands are routed. */
  function routedNamespace(namespace: string, methods: Record<string, unknown>): Record<string, unknown> {
    const multiMethods = multiPrototype[namespace] as Record<string, unknown> | undefined;
    const out: Record<string, unknown> = {};
    for (const name in methods) {
      const method = methods[name];
      if (typeof method !== 'function') continue;
      const multiMethod = multiMethods?.[name] as Method | undefined;
      const queueThis = { self: multiCapture };
      const viaClient = (method as Method).bind({ self: commandThis });
      out[name] = (...args: unknown[]) => {
        const commandArgs = isOptions(args[0]) ? args.slice(1) : args;
        captured = undefined;
        try {
          // A module command queues through `addCommand`; a function throws (the multi queues
          // functions through a private field) and goes through the client's `executeFunction`.
          multiMethod?.apply(queueThis, commandArgs);
        } catch {
          captured = undefined;
        }
        if (captured === undefined) return viaClient(...args);
        const { args: redisArgs, transformReply } = takeCaptured();
        return send(redisArgs, isOptions(args[0]) ? args[0] : undefined, transformReply);
      };
    }
    return out;
  }

  function multi(): unknown {
    const created = (real.multi as Method).call(real) as MultiLike & Record<PropertyKey, unknown>;
    const add = created.addCommand;
    created.addCommand = function addRouted(this: unknown, redisArgs: Args, transformReply?: TransformReply) {
      // Throws at queue time: a queued command would otherwise run with its shared keys.
      const ns = router.current();
      if (ns === undefined) return add.call(this, redisArgs, transformReply);
      const name = String(redisArgs[0]);
      const rewritten: Args = router.rewrite(name, redisArgs, ns, 1, false);
      if (redisArgs.preserve !== undefined) rewritten.preserve = redisArgs.preserve;
      return add.call(this, rewritten, withStrip(transformReply, router.stripperOf(name), ns));
    };
    // Scripts and functions bypass `addCommand` in the multi: queue what the client would send.
    for (const name of scriptNames) {
      const method = real[name] as Method;
      created[name] = (...args: unknown[]) => {
        const found = captureExtension(method, extensionCapture, args);
        if (found === undefined) throw new TypeError(`routing-context: cannot queue script ${name}`);
        return created.addCommand(found.args, found.transformReply);
      };
    }
    // The multi's public executors queue scripts and functions privately too.
    created.scriptsExecutor = (script: ScriptLike, args: unknown[]) => {
      const redisArgs = script.transformArguments(...args);
      const queued = scriptArgs(script, redisArgs, false);
      if (redisArgs.preserve !== undefined) queued.preserve = redisArgs.preserve;
      return created.addCommand(queued, script.transformReply);
    };
    created.functionsExecutor = (fn: FunctionLike, args: unknown[], name: string) =>
      created.addCommand(functionArgs(name, fn, fn.transformArguments(...args)), fn.transformReply);
    for (const namespace of Object.keys(created)) {
      const queued = created[namespace] as Record<string, unknown> | null;
      if (typeof queued !== 'object' || queued === null || queued.self !== created) continue;
      const clientMethods = real[namespace] as Record<string, unknown> | undefined;
      const replacement: Record<string, unknown> = {};
      for (const name in queued) {
        const original = queued[name];
        if (typeof original !== 'function') continue;
        const clientMethod = clientMethods?.[name];
        replacement[name] = (...args: unknown[]) => {
          const found =
            typeof clientMethod === 'function'
              ? captureExtension(clientMethod as Method, { self: extensionCapture }, args)
              : undefined;
          // Module commands queue through `addCommand`, routed above.
          if (found === undefined) return (original as Method).apply(queued, args);
          return created.addCommand(found.args, found.transformReply);
        };
      }
      created[namespace] = replacement;
    }
    return created;
  }

  const isolated = new WeakMap<object, unknown>();
  function executeIsolated(fn: (client: unknown) => unknown): Promise<unknown> {
    return (real.executeIsolated as Method).call(real, (isolatedClient: object) => {
      let routed = isolated.get(isolatedClient);
      if (routed === undefined) {
        routed = wrapNodeRedis4(isolatedClient, router, derive);
        isolated.set(isolatedClient, routed);
      }
      return fn(routed);
    });
  }

  async function connect(): Promise<unknown> {
    await (real.connect as Method).call(real);
    return proxy;
  }

  const pubsub = new Map<string, Method>();
  function pubsubMethod(name: string, patterns: boolean): Method {
    let method = pubsub.get(name);
    if (method === undefined) {
      const original = real[name] as Method;
      const command = patterns ? 'psubscribe' : 'subscribe';
      method = (channels?: RedisArg | RedisArg[], ...rest: unknown[]) => {
        const ns = router.current();
        if (ns === undefined || channels === undefined) return original.call(real, channels, ...rest);
        const list = Array.isArray(channels) ? channels : [channels];
        return original.call(real, router.rewrite(command, list, ns, 0, false), ...rest);
      };
      pubsub.set(name, method);
    }
    return method;
  }

  const members = new Map<PropertyKey, unknown>();
  function member(property: PropertyKey): unknown {
    if (typeof property === 'string') {
      const patterns = PUBSUB_METHODS.get(property);
      if (patterns !== undefined) return pubsubMethod(property, patterns);
    }
    if (
      Object.hasOwn(clientBase!, property) &&
      Object.hasOwn(multiBase!, property) &&
      !NOT_COMMANDS.has(property)
    ) {
      return routedCommand(multiBase![property] as Method, multiCapture);
    }
    // Script and function methods, and their public executors (spelt so in node-redis v4), call
    // `this.executeScript` / `this.executeFunction`.
    const value = real[property];
    if (
      typeof property === 'string' &&
      typeof value === 'function' &&
      (scriptNames.includes(property) || property === 'scriptsExecuter' || property === 'functionsExecuter')
    ) {
      return (value as Method).bind(commandThis);
    }
    if (typeof property === 'string' && typeof value === 'object' && value !== null) {
      if ((value as Record<string, unknown>).self === real) {
        return routedNamespace(property, value as Record<string, unknown>);
      }
    }
    return undefined;
  }

  const bound = new Map<PropertyKey, Method>();
  const proxy: T = new Proxy(client, {
    get(t, property) {
      switch (property) {
        case 'sendCommand':
          return sendCommand;
        case 'multi':
        case 'MULTI':
          return multi;
        case 'executeIsolated':
          return executeIsolated;
        case 'executeScript':
          return executeScript;
        case 'executeFunction':
          return executeFunction;
        case 'commandsExecutor':
          return commandsExecutor;
        case 'connect':
          return connect;
      }
      if (members.has(property)) return members.get(property);
      const routed = member(property);
      if (routed !== undefined) {
        members.set(property, routed);
        return routed;
      }
      if (ITERATORS.has(property)) return Reflect.get(t, property, t);
      // Getters and methods read private fields: they run on the real client.
      const value = Reflect.get(t, property, t);
      if (typeof value !== 'function') return value;
      let method = bound.get(property);
      if (method === undefined) {
        const original = value as Method;
        method = function onReal(...args: unknown[]) {
          const result = original.apply(t, args);
          // Keep chains (`client.on(...).on(...)`) on the routed client; route derived clients.
          if (result === t) return proxy;
          return property === 'duplicate' ? derive(result) : result;
        };
        bound.set(property, method);
      }
      return method;
    },
  });
  return proxy;
}
