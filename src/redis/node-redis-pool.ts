import { AsyncLocalStorage } from 'node:async_hooks';
import { type Derive, derivedOnce, type KeyRouter } from './commands.js';
import { commandLookup, derivers, type MultiClass, poolScripts, routedMultiClass } from './node-redis.js';

type Method = (...args: any[]) => any;

/**
 * Wraps a node-redis v5 client pool (`createClientPool()`, `client.createPool()`).
 *
 * Every command of a pool runs as `this.execute(client => client._executeCommand(...))` (scripts
 * `_executeScript`, `sendCommand` likewise) on one of its member clients. The wrapper's `execute`
 * hands the callback a routed view of the member (a routed client, one per member), and runs it
 * in the caller's context: the pool runs a callback at once when a member is idle, otherwise when
 * another task returns one, in that task's context, which would route the command with the other
 * task's key. Command methods get a `this` whose `execute` (and `_self`, which module and function
 * commands go through) is the wrapper's. `multi()` builds a routed subclass of the pool's `Multi`
 * class, whose commands are routed when queued and sent as they are.
 * @internal
 */
export function wrapNodeRedisPool<T extends object>(pool: T, router: KeyRouter, derive: Derive): T {
  const target = pool as unknown as Record<PropertyKey, unknown>;
  const real = target._self as Record<PropertyKey, unknown>;
  const commandPrototype = Object.getPrototypeOf(real) as object;

  const member = derivedOnce(derive);

  function execute(this: unknown, fn: unknown): unknown {
    // Not a function: node-redis reports it, as it would unrouted.
    if (typeof fn !== 'function') return (target.execute as Method).call(target, fn);
    const inCallerContext = AsyncLocalStorage.snapshot();
    return (target.execute as Method).call(target, (client: object) =>
      inCallerContext(fn as Method, member(client)),
    );
  }

  // node-redis `MULTI()` builds `new this.Multi(...)` on executors that call `this.execute`: on an
  // object inheriting from the pool, with the routed subclass as `Multi`, the executors send the
  // commands (routed when queued) on a member through the pool's own `execute`.
  let multiThis: Record<PropertyKey, unknown> | undefined;
  function multi(this: unknown): unknown {
    if (multiThis === undefined) {
      multiThis = Object.create(pool) as Record<PropertyKey, unknown>;
      multiThis.Multi = routedMultiClass(target.Multi as MultiClass, router, poolScripts(pool));
    }
    return (target.MULTI as Method).call(multiThis);
  }

  const commandThis = Object.create(pool) as Record<PropertyKey, unknown>;
  commandThis._self = commandThis;
  commandThis.execute = execute;
  const command = commandLookup(commandPrototype, commandThis);
  const deriver = derivers(target, derive);

  const proxy: T = new Proxy(pool, {
    get(t, property, receiver) {
      switch (property) {
        case '_self':
          return real;
        case 'execute':
          return execute;
        case 'multi':
        case 'MULTI':
          return multi;
        case 'Multi':
          return Reflect.get(t, property, receiver);
        case 'withCommandOptions':
        case 'withTypeMapping':
        case 'withAbortSignal':
        case 'asap':
          return deriver(property);
      }
      return command(property) ?? Reflect.get(t, property, receiver);
    },
  });
  return proxy;
}
