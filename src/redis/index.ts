/**
 * A routed Redis client: every key argument carries the active routing key.
 * @packageDocumentation
 */
import { type Derive, KeyRouter } from './commands.js';
import { wrapIoredis } from './ioredis.js';
import { wrapNodeRedis } from './node-redis.js';
import { wrapNodeRedisPool } from './node-redis-pool.js';
import { wrapNodeRedis4 } from './node-redis4.js';
import type { RoutedRedisOptions } from './types.js';

export type { RoutedRedisOptions } from './types.js';

const ROUTED = new WeakSet<object>();
const KNOWN_OPTIONS = new Set(['baselinePrefix']);

function normalizeBaselinePrefix(options: RoutedRedisOptions | undefined): string | undefined {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TypeError('routing-context: routedRedis options must be an object');
  }
  for (const name of Object.keys(options ?? {})) {
    if (!KNOWN_OPTIONS.has(name)) {
      throw new TypeError(`routing-context: unknown routedRedis option "${name}" (known: baselinePrefix)`);
    }
  }
  const prefix = options?.baselinePrefix ?? process.env.CACHE_KEY_PREFIX;
  if (prefix === undefined || prefix === '') return undefined;
  if (typeof prefix !== 'string') {
    throw new TypeError(`routing-context: option "baselinePrefix" must be a string, got ${typeof prefix}`);
  }
  return prefix;
}

function isNodeRedis(client: Record<string, unknown>): boolean {
  const self = client._self as Record<string, unknown> | undefined;
  return typeof self === 'object' && self !== null && typeof self._executeCommand === 'function';
}

/** node-redis 5 client pool (`createClientPool()`, `client.createPool()`): commands run through `execute`. */
function isNodeRedisPool(client: Record<string, unknown>): boolean {
  const self = client._self as Record<string, unknown> | undefined;
  return (
    typeof self === 'object' &&
    self !== null &&
    typeof self.execute === 'function' &&
    typeof self.MULTI === 'function' &&
    typeof self._executeCommand !== 'function'
  );
}

/** node-redis v4 (`@redis/client` 1.x): commands end in `commandsExecutor`, multis in `multiExecutor`. */
function isNodeRedis4(client: Record<string, unknown>): boolean {
  return typeof client.commandsExecutor === 'function' && typeof client.multiExecutor === 'function';
}

/**
 * node-redis 5 and 4 `createCluster()`: the cluster picks a command's node from the key it reads
 * before any routing could rewrite it, so a routed command would go to the slot of the bare key.
 */
function isNodeRedisCluster(client: Record<string, unknown>): boolean {
  return typeof client.nodeClient === 'function' && typeof client.getSlotMaster === 'function';
}

function isIoredis(client: Record<string, unknown>): boolean {
  return typeof client.sendCommand === 'function' && typeof client.pipeline === 'function';
}

/**
 * Returns a client of the same type whose commands run in the key namespace of the active
 * routing key: `GET cart:7` inside a request routed to `pr-142` reads `pr-142:cart:7` (the
 * semantics of the core's `cacheKey`). Works with an ioredis 5 `Redis` or `Cluster` and a
 * node-redis 5 or 4 client (v4 without `legacyMode`) or node-redis 5 pool (`createClientPool()`);
 * the original client is not changed and keeps working unrouted. node-redis cluster clients
 * (`createCluster`) are refused.
 * Clients derived from the routed client (`duplicate()`; node-redis `createPool()`, `legacy()`,
 * `withTypeMapping()`, `withCommandOptions()`, `withAbortSignal()`, `asap()`) are routed the same
 * way. A routed pool runs each command, and each `execute(fn)` callback, in its caller's context,
 * also when it waited for a free connection.
 *
 * - Key positions come from the Redis command table of `@ioredis/commands`, including
 *   movable-keys commands (`EVAL`/`EVALSHA`/`FCALL` KEYS, `ZUNIONSTORE`, `XREAD STREAMS`,
 *   `SORT ... BY/GET/STORE`, `LMPOP`, `MIGRATE`...), and `OBJECT`/`MEMORY USAGE`/`XINFO`/`XGROUP`.
 * - `SCAN` and `KEYS` patterns are confined to the namespace, and the keys they return are
 *   stripped back, as are the key names in `BLPOP`/`BRPOP`/`BZPOPMIN`/`BZPOPMAX`/`LMPOP`/
 *   `BLMPOP`/`ZMPOP`/`BZMPOP`/`XREAD`/`XREADGROUP` replies.
 * - Pipelines and transactions rewrite each command in the context that queues it, raw commands
 *   and scripts included; a node-redis multi holding a command queued in a way routedRedis does not
 *   know is refused at `exec` in a namespace (`ERR_UNROUTABLE_COMMAND`).
 * - node-redis 4: `commandOptions({ isolated: true })` and `executeIsolated` run routed on the
 *   isolated connection; scripts, functions and module commands are routed too.
 * - Pub/sub channels (`PUBLISH`, `SUBSCRIBE`, `PSUBSCRIBE`, sharded variants) are prefixed too;
 *   message events report the physical (prefixed) channel name.
 * - A command whose keys the table cannot locate (module commands, `FLUSHDB`, `RANDOMKEY`,
 *   `DBSIZE`, `PUBSUB`...) is refused in a namespace with a `RoutingContextError` of code
 *   `ERR_UNROUTABLE_COMMAND`, instead of touching shared state.
 * - ioredis `Cluster`: a prefixed key keeps its hash tag (`pr-142:{user7}:cart` hashes like
 *   `{user7}:cart`), so multi-key commands, pipelines and `MULTI` on keys of one hash tag stay in
 *   one slot; a key without a hash tag lands in the slot of its prefixed name. A command or pipeline
 *   that ioredis sends again after a `MOVED` or `ASK` redirection keeps a single prefix.
 *   `nodes()` returns routed node clients, so `SCAN`/`KEYS` run on each master stay in the
 *   namespace.
 * - Baseline (no routing key) uses `baselinePrefix` when set, else passes commands through.
 *
 * @param client - an ioredis `Redis`/`Cluster`, a node-redis 5 or 4 client or a node-redis 5 pool
 *   (connected or not)
 * @param options - see {@link RoutedRedisOptions}
 * @returns the routed client, typed as `client`
 * @throws `TypeError` when `client` is not a supported Redis client (a node-redis 4 client in
 *   `legacyMode` and a node-redis `createCluster()` client included) or an option is invalid
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { routedRedis } from 'routing-context/redis';
 *
 * const redis = routedRedis(new Redis());
 * // inside a request routed to "pr-142": writes "pr-142:cart:7"
 * await redis.set('cart:7', json);
 * ```
 * @public
 */
export function routedRedis<T extends object>(client: T, options?: RoutedRedisOptions): T {
  const baselinePrefix = normalizeBaselinePrefix(options);
  if (typeof client !== 'object' || client === null) {
    throw new TypeError('routing-context: routedRedis expects an ioredis or node-redis client');
  }
  if (ROUTED.has(client)) {
    throw new TypeError(
      'routing-context: this Redis client is already routed; wrap the original client instead',
    );
  }
  return wrap(client, new KeyRouter(baselinePrefix));
}

/**
 * Wraps a client with `router`. Clients derived from the routed one (`duplicate()`, node-redis
 * `withTypeMapping()`...) are wrapped with the same router: an unrouted one would read and write
 * the shared namespace.
 */
function wrap<T extends object>(client: T, router: KeyRouter): T {
  const record = client as unknown as Record<string, unknown>;
  const derive: Derive = (derived) =>
    typeof derived === 'object' && derived !== null && !ROUTED.has(derived) ? wrap(derived, router) : derived;
  let routed: T;
  if (isNodeRedisCluster(record)) {
    throw new TypeError(
      'routing-context: node-redis cluster clients (createCluster) are not supported: node-redis picks the node ' +
        'from the key before routedRedis could prefix it. Route an ioredis Cluster, or build keys with cacheKey()',
    );
  }
  if (isNodeRedis(record)) routed = wrapNodeRedis(client, router, derive);
  else if (isNodeRedisPool(record)) routed = wrapNodeRedisPool(client, router, derive);
  else if (isNodeRedis4(record)) routed = wrapNodeRedis4(client, router, derive);
  else if (isIoredis(record)) routed = wrapIoredis(client, router, derive);
  else if (typeof record.commandsExecutor === 'function') {
    throw new TypeError(
      'routing-context: this client has the node-redis v4 commandsExecutor but no multiExecutor; an unknown node-redis v4 is not supported',
    );
  } else {
    throw new TypeError(
      'routing-context: routedRedis expects an ioredis Redis/Cluster, a node-redis client or pool ' +
        '(for a node-redis legacy() client, call legacy() on the routed client)',
    );
  }
  ROUTED.add(routed);
  return routed;
}
