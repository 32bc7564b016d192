import { exists, getKeyIndexes, hasFlag } from '@ioredis/commands';
import { RoutingContextError } from '../core/errors.js';
import { getRoutingKey } from '../core/state.js';

/** A command argument as Redis clients hold them once their own transformations are done. */
export type RedisArg = string | Buffer | number;

/**
 * The key namespace of one routing key (or of the baseline prefix), prepared once.
 * @internal
 */
export interface Namespace {
  /** `"<key>:"` */
  readonly text: string;
  readonly buffer: Buffer;
  /** `text` with glob characters escaped, for `SCAN MATCH` and `KEYS` patterns. */
  readonly pattern: string;
  readonly patternBuffer: Buffer;
  /** String key names prefixed into this namespace. */
  readonly names: PrefixedNames;
}

/** @internal */
export type Stripper = (reply: unknown, ns: Namespace) => unknown;

type PlanKind =
  | 'table' // key positions from @ioredis/commands
  | 'keys' // KEYS pattern
  | 'scan' // SCAN cursor [MATCH pattern] ...
  | 'first' // the first argument is the only key or channel (PUBLISH)
  | 'all' // every argument is a channel (SUBSCRIBE, UNSUBSCRIBE)
  | 'patterns' // every argument is a channel pattern (PSUBSCRIBE, PUNSUBSCRIBE)
  | 'subcommand' // container command whose subcommand decides where the key is
  | 'free' // touches no key: allowed everywhere
  | 'refuse'; // keys unknown or keyspace-wide: refused in a namespace

/**
 * How one command name is routed, computed once per distinct spelling.
 * @internal
 */
export interface Plan {
  readonly name: string;
  readonly kind: PlanKind;
  /** The reply stripper of the command, if its reply contains key names. */
  readonly strip: Stripper | undefined;
  readonly subcommands: Readonly<Record<string, number>> | undefined;
  /**
   * For commands with a fixed key spec, the key positions depend only on the argument count:
   * the table's answer, cached per count. `undefined` for movable-keys commands.
   */
  readonly byLength: Array<readonly number[] | undefined> | undefined;
}

/** Argument counts up to this one have their key positions cached. */
const CACHED_LENGTHS = 64;

/**
 * Commands the table lists without keys that never touch the keyspace, so they are safe in a
 * routed context. Every other keyless command (FLUSHDB, RANDOMKEY, DBSIZE, DEBUG, PUBSUB, ...) is
 * refused there.
 */
const FREE = new Set([
  'asking',
  'auth',
  'client',
  'command',
  'discard',
  'echo',
  'exec',
  'function',
  'hello',
  'info',
  'lastsave',
  'lolwut',
  'multi',
  'ping',
  'quit',
  'readonly',
  'readwrite',
  'reset',
  'role',
  'script',
  'select',
  'time',
  'unwatch',
  'wait',
  'waitaof',
]);

/**
 * Container commands the table lists without keys although some subcommands take one: the
 * argument position of the key (after the command name) per subcommand. Subcommands not listed
 * (HELP, MEMORY STATS, ...) touch no key.
 */
const SUBCOMMAND_KEYS: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  object: { encoding: 1, freq: 1, idletime: 1, refcount: 1 },
  memory: { usage: 1 },
  xinfo: { stream: 1, groups: 1, consumers: 1 },
  xgroup: { create: 1, setid: 1, destroy: 1, createconsumer: 1, delconsumer: 1 },
};

function stripKey(key: unknown, ns: Namespace): unknown {
  if (typeof key === 'string') return key.startsWith(ns.text) ? key.slice(ns.text.length) : key;
  if (Buffer.isBuffer(key)) {
    return key.length >= ns.buffer.length && ns.buffer.equals(key.subarray(0, ns.buffer.length))
      ? key.subarray(ns.buffer.length)
      : key;
  }
  return key;
}

function stripKeyList(reply: unknown, ns: Namespace): unknown {
  if (!Array.isArray(reply)) return reply;
  const out = new Array(reply.length);
  for (let i = 0; i < reply.length; i++) out[i] = stripKey(reply[i], ns);
  return out;
}

/** `[cursor, keys]` */
function stripScan(reply: unknown, ns: Namespace): unknown {
  if (!Array.isArray(reply) || reply.length !== 2) return reply;
  return [reply[0], stripKeyList(reply[1], ns)];
}

/** `[key, ...]` (BLPOP, BRPOP, BZPOPMIN, BZPOPMAX, LMPOP, BLMPOP, ZMPOP, BZMPOP) or null. */
function stripFirst(reply: unknown, ns: Namespace): unknown {
  if (!Array.isArray(reply) || reply.length === 0) return reply;
  const out = reply.slice();
  out[0] = stripKey(out[0], ns);
  return out;
}

/** `[[stream, entries], ...]` (XREAD, XREADGROUP in RESP2) or null. */
function stripStreams(reply: unknown, ns: Namespace): unknown {
  if (!Array.isArray(reply)) return reply;
  return reply.map((entry) => stripFirst(entry, ns));
}

const STRIPPERS: Readonly<Record<string, Stripper>> = {
  keys: stripKeyList,
  scan: stripScan,
  blpop: stripFirst,
  brpop: stripFirst,
  bzpopmin: stripFirst,
  bzpopmax: stripFirst,
  lmpop: stripFirst,
  blmpop: stripFirst,
  zmpop: stripFirst,
  bzmpop: stripFirst,
  xread: stripStreams,
  xreadgroup: stripStreams,
};

function kindOf(lower: string): PlanKind {
  switch (lower) {
    case 'keys':
      return 'keys';
    case 'scan':
      return 'scan';
    case 'publish':
      return 'first';
    case 'subscribe':
    case 'unsubscribe':
      return 'all';
    case 'psubscribe':
    case 'punsubscribe':
      return 'patterns';
  }
  if (SUBCOMMAND_KEYS[lower] !== undefined) return 'subcommand';
  if (FREE.has(lower)) return 'free';
  if (!exists(lower)) return 'refuse';
  // Keyless commands answer [] for any arguments; the others answer from the table.
  if (hasKeySpec(lower)) return 'table';
  return 'refuse';
}

/** Whether the table can locate keys for `lower` (fixed spec or a movable-keys handler). */
function hasKeySpec(lower: string): boolean {
  // A fixed spec yields a key at its first position for a long enough argument list; movable
  // commands (EVAL numkeys, ZUNIONSTORE, XREAD STREAMS, SORT, MIGRATE...) are handled by the table.
  const probe = ['1', '1', '1', '1', '1', '1', '1', '1'];
  try {
    return getKeyIndexes(lower, probe).length > 0 || isMovable(lower);
  } catch {
    return false;
  }
}

function isMovable(lower: string): boolean {
  // Every movable-keys command of the table (EVAL numkeys, ZUNIONSTORE, XREAD STREAMS, SORT BY/GET,
  // MIGRATE KEYS, LMPOP...) has a dedicated handler in getKeyIndexes.
  return hasFlag(lower, 'movablekeys');
}

const plans = new Map<string, Plan>();
// The plans of the last few names asked for, compared by identity before the map is searched: a
// pipeline alternating SET and GET (or a handful of commands) always hits here.
const RECENT = 4;
const recentNames: Array<string | undefined> = [undefined, undefined, undefined, undefined];
const recentPlans: Plan[] = [];
let recentNext = 0;

/**
 * The routing plan of the command `name` (any case), cached.
 * @internal
 */
export function planFor(name: string): Plan {
  for (let i = 0; i < RECENT; i++) {
    if (recentNames[i] === name) return recentPlans[i]!;
  }
  let plan = plans.get(name);
  if (plan === undefined) {
    const lower = name.toLowerCase();
    const kind = kindOf(lower);
    plan = {
      name: lower,
      kind,
      strip: STRIPPERS[lower],
      subcommands: SUBCOMMAND_KEYS[lower],
      byLength: kind === 'table' && !isMovable(lower) ? [] : undefined,
    };
    // Names come from code, not requests, but bound the cache anyway.
    if (plans.size < 2048) plans.set(name, plan);
  }
  recentNames[recentNext] = name;
  recentPlans[recentNext] = plan;
  recentNext = (recentNext + 1) % RECENT;
  return plan;
}

const GLOB = /[*?[\]\\]/g;

/** Names cached across every namespace of the process, at most; then every cache starts over. */
const MAX_CACHED_NAMES = 4096;
/** Longer names are prefixed afresh every time, never kept. */
const MAX_CACHED_NAME_LENGTH = 256;
/** A cache judges its hit rate over this many look-ups. */
const REVIEW_EVERY = 256;
/** The longest a cache stays switched off, in names prefixed without it. */
const MAX_PAUSE = 256 * REVIEW_EVERY;

/** The caches holding names, so that the process-wide bound can empty them all. */
const filledCaches = new Set<PrefixedNames>();
let cachedNames = 0;

function emptyEveryCache(): void {
  for (const cache of filledCaches) cache.empty();
  filledCaches.clear();
  cachedNames = 0;
}

/**
 * The names of one namespace with the namespace's prefix, cached.
 *
 * Applications mostly repeat their key names (`session:<id>`, `product:<sku>`), and the name a
 * caller passes is often the same string every time. Concatenating afresh per command gives the
 * client a new string to allocate, flatten and encode each time; a cached one is already flat.
 * When names do not repeat (a new id per command), a cache only adds a look-up per command and
 * keeps strings alive for the garbage collector to copy. So a cache that hits less than four times
 * in five switches itself off for a while, twice as long after each poor review (up to
 * `MAX_PAUSE` names), and keeps what it holds for when it is tried again. The process keeps at
 * most `MAX_CACHED_NAMES` names across all namespaces.
 * @internal
 */
export class PrefixedNames {
  readonly #text: string;
  readonly #names = new Map<string, string>();
  #lookups = 0;
  #hits = 0;
  /** Names still to prefix without the cache before it is tried again. */
  #bypass = 0;
  /** The length of the last pause, 0 after a good review. */
  #pause = 0;

  constructor(text: string) {
    this.#text = text;
  }

  /** `name` with this namespace's prefix. */
  of(name: string): string {
    // A name too long to keep is never found: no look-up, and no miss counted against the cache.
    if (name.length > MAX_CACHED_NAME_LENGTH) return this.#text + name;
    if (this.#bypass > 0) {
      this.#bypass--;
      return this.#text + name;
    }
    let out = this.#names.get(name);
    if (out !== undefined) this.#hits++;
    else {
      out = this.#text + name;
      this.#keep(name, out);
    }
    if (++this.#lookups === REVIEW_EVERY) this.#review();
    return out;
  }

  /** How many names this cache holds. */
  get size(): number {
    return this.#names.size;
  }

  /** Whether the next name goes through the cache (it is not paused). */
  get active(): boolean {
    return this.#bypass === 0;
  }

  /** Forgets every name (the process-wide bound was reached). */
  empty(): void {
    this.#names.clear();
  }

  #keep(name: string, out: string): void {
    if (cachedNames >= MAX_CACHED_NAMES) emptyEveryCache();
    if (this.#names.size === 0) filledCaches.add(this);
    this.#names.set(name, out);
    cachedNames++;
  }

  #review(): void {
    if (this.#hits * 5 < this.#lookups * 4) {
      this.#pause = this.#pause === 0 ? REVIEW_EVERY : Math.min(this.#pause * 2, MAX_PAUSE);
      this.#bypass = this.#pause;
    } else {
      this.#pause = 0;
    }
    this.#lookups = 0;
    this.#hits = 0;
  }
}

/** How many prefixed names the process holds in all caches (for tests). @internal */
export function cachedNameCount(): number {
  return cachedNames;
}

/** The bounds of the prefixed-name caches (for tests). @internal */
export const PREFIX_CACHE = { MAX_CACHED_NAMES, MAX_CACHED_NAME_LENGTH, REVIEW_EVERY, MAX_PAUSE } as const;

function makeNamespace(prefix: string): Namespace {
  const text = `${prefix}:`;
  const pattern = text.replace(GLOB, '\\$&');
  return Object.freeze({
    text,
    buffer: Buffer.from(text),
    pattern,
    patternBuffer: Buffer.from(pattern),
    names: new PrefixedNames(text),
  });
}

function prefixed(arg: RedisArg, ns: Namespace): RedisArg {
  if (typeof arg === 'string') return ns.names.of(arg);
  if (Buffer.isBuffer(arg)) return Buffer.concat([ns.buffer, arg]);
  return ns.text + String(arg);
}

function prefixedPattern(arg: RedisArg, ns: Namespace): RedisArg {
  if (Buffer.isBuffer(arg)) return Buffer.concat([ns.patternBuffer, arg]);
  return ns.pattern + String(arg);
}

/**
 * Refusal of a command whose keys cannot be located in a namespaced context.
 * @internal
 */
export function unroutable(name: string, ns: Namespace): RoutingContextError {
  return new RoutingContextError(
    'ERR_UNROUTABLE_COMMAND',
    `routing-context: Redis command ${name.toUpperCase()} is refused in the key namespace "${ns.text}": ` +
      'the command table cannot say which of its arguments are keys, so it could read or write shared ' +
      'state. Run it outside the routed context (withRoutingKey(undefined, ...)) if that is intended.',
  );
}

/**
 * `args` rewritten into `ns` following `plan`; see {@link KeyRouter.rewrite}.
 * @throws RoutingContextError when the command's keys cannot be located.
 * @internal
 */
export function rewriteArgs(
  plan: Plan,
  args: RedisArg[],
  ns: Namespace,
  offset: number,
  inPlace: boolean,
): RedisArg[] {
  const out = inPlace ? args : args.slice();
  // Kept small enough to be inlined: the common case, a fixed key spec seen at this length before.
  const byLength = plan.byLength;
  if (byLength !== undefined) {
    const count = out.length - offset;
    const indexes = count < CACHED_LENGTHS ? byLength[count] : undefined;
    if (indexes !== undefined) return prefixKeys(out, indexes, offset, ns);
  }
  return rewriteByKind(plan, out, ns, offset);
}

function prefixKeys(out: RedisArg[], indexes: readonly number[], offset: number, ns: Namespace): RedisArg[] {
  for (let i = 0; i < indexes.length; i++) {
    const at = indexes[i]! + offset;
    out[at] = prefixed(out[at]!, ns);
  }
  return out;
}

function rewriteByKind(plan: Plan, out: RedisArg[], ns: Namespace, offset: number): RedisArg[] {
  switch (plan.kind) {
    case 'table': {
      const count = out.length - offset;
      let indexes: readonly number[];
      if (plan.byLength !== undefined && count < CACHED_LENGTHS) {
        indexes = plan.byLength[count] = getKeyIndexes(plan.name, out.slice(offset));
      } else {
        indexes = getKeyIndexes(plan.name, offset === 0 ? out : out.slice(offset));
      }
      return prefixKeys(out, indexes, offset, ns);
    }
    case 'first':
      if (out.length > offset) out[offset] = prefixed(out[offset]!, ns);
      return out;
    case 'all':
      for (let i = offset; i < out.length; i++) out[i] = prefixed(out[i]!, ns);
      return out;
    case 'patterns':
    case 'keys':
      for (let i = offset; i < out.length; i++) out[i] = prefixedPattern(out[i]!, ns);
      return out;
    case 'scan': {
      for (let i = offset + 1; i < out.length - 1; i += 2) {
        if (String(out[i]).toLowerCase() === 'match') {
          out[i + 1] = prefixedPattern(out[i + 1]!, ns);
          return out;
        }
      }
      out.push('MATCH', `${ns.pattern}*`);
      return out;
    }
    case 'subcommand': {
      const index = out.length > offset ? plan.subcommands![String(out[offset]).toLowerCase()] : undefined;
      if (index !== undefined && index + offset < out.length) {
        out[index + offset] = prefixed(out[index + offset]!, ns);
      }
      return out;
    }
    case 'free':
      return out;
    default:
      throw unroutable(plan.name, ns);
  }
}

/**
 * The namespace-aware rewrite of one client: the active namespace and the argument rewrite.
 * @internal
 */
export class KeyRouter {
  readonly #baseline: Namespace | undefined;
  readonly #baselinePrefix: string | undefined;
  readonly #namespaces = new Map<string, Namespace>();
  // The namespace of the last key asked for: a pipeline asks for the same one per command.
  #lastKey: string | undefined;
  #lastNamespace: Namespace | undefined;

  constructor(baselinePrefix: string | undefined) {
    this.#baselinePrefix = baselinePrefix;
    this.#baseline = baselinePrefix === undefined ? undefined : makeNamespace(baselinePrefix);
  }

  /**
   * The namespace of the active context: the routing key's, else the baseline prefix's, else
   * `undefined` (baseline without prefix: commands pass through unchanged).
   * @throws RoutingContextError when the routing key equals the baseline prefix.
   */
  current(): Namespace | undefined {
    const key = getRoutingKey();
    if (key === undefined) return this.#baseline;
    if (key === this.#lastKey) return this.#lastNamespace;
    let ns = this.#namespaces.get(key);
    if (ns === undefined) {
      if (key === this.#baselinePrefix) {
        throw new RoutingContextError(
          'ERR_ROUTING_KEY_CONFLICT',
          `routing-context: routing key "${key}" equals the Redis baselinePrefix, so its keys would mix with the baseline's.`,
        );
      }
      ns = makeNamespace(key);
      // Routing keys are few; bound the cache in case they are not.
      if (this.#namespaces.size >= 1024) this.#namespaces.clear();
      this.#namespaces.set(key, ns);
    }
    this.#lastKey = key;
    this.#lastNamespace = ns;
    return ns;
  }

  /**
   * The arguments of `name` rewritten into `ns`. `args[offset]` is the first argument after the
   * command name (node-redis keeps the name at index 0, ioredis does not). With `inPlace`, `args`
   * itself is rewritten and returned (for arrays the client built for this one call); otherwise a
   * new array is returned and `args` is never changed.
   * @throws RoutingContextError when the command's keys cannot be located.
   */
  rewrite(name: string, args: RedisArg[], ns: Namespace, offset: number, inPlace: boolean): RedisArg[] {
    return rewriteArgs(planFor(name), args, ns, offset, inPlace);
  }

  /** The reply stripper of `name`, if its reply contains key names. */
  stripperOf(name: string): Stripper | undefined {
    return planFor(name).strip;
  }
}

/**
 * Routes a client derived from a routed one (`duplicate()` and the like) with the same options;
 * anything that is not an object is returned as it is.
 * @internal
 */
export type Derive = <C>(derived: C) => C;

/**
 * `derive` called once per object: the same routed client every time for the same object (a
 * pool's member connections, a Cluster's node connections).
 * @internal
 */
export function derivedOnce(derive: Derive): <C extends object>(object: C) => C {
  const routed = new WeakMap<object, object>();
  return (object) => {
    let found = routed.get(object);
    if (found === undefined) {
      found = derive(object);
      routed.set(object, found);
    }
    return found as typeof object;
  };
}
