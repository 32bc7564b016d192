import {
  type Derive,
  derivedOnce,
  type KeyRouter,
  type Namespace,
  type Plan,
  planFor,
  type RedisArg,
  rewriteArgs,
} from './commands.js';

/** The parts of an ioredis `Command` the wrapper reads and rewrites. */
interface CommandLike {
  name: string;
  args: RedisArg[];
  promise: Promise<unknown>;
  resolve: (value: unknown) => unknown;
  reject: (error: Error) => void;
  keys?: unknown;
  slot?: unknown;
  /** Set by ioredis when a pipeline queues the command. */
  pipelineIndex?: number;
}

interface PipelineLike {
  /** The client the pipeline sends through at `exec`. */
  redis: unknown;
  sendCommand(command: CommandLike): unknown;
  addBatch(commands: unknown[]): unknown;
}

type Method = (...args: any[]) => any;

/** A command a routed client queued in an open `multi({ pipeline: false })`: how to strip its reply. */
type QueuedReply = { readonly strip: NonNullable<Plan['strip']>; readonly ns: Namespace } | undefined;

/** The commands of an open `multi({ pipeline: false })` the server answered `QUEUED`, in order. */
type Transaction = QueuedReply[];

function isQueuedReply(value: unknown): boolean {
  return (
    value === 'QUEUED' || (Buffer.isBuffer(value) && value.length === 6 && value.toString() === 'QUEUED')
  );
}

/**
 * An `EXEC` reply with the key names in the replies of `queued` stripped, when it holds exactly
 * the commands the routed client saw queued; as it came otherwise (another client queued commands
 * in the same transaction, so replies cannot be matched to commands).
 */
function stripExecReply(value: unknown, queued: Transaction): unknown {
  if (!Array.isArray(value) || value.length !== queued.length) return value;
  let out = value;
  for (let i = 0; i < queued.length; i++) {
    const entry = queued[i];
    if (entry === undefined || value[i] instanceof Error) continue;
    if (out === value) out = value.slice();
    out[i] = entry.strip(value[i], entry.ns);
  }
  return out;
}

/**
 * Rewrites `command` into the active namespace. Returns the error that refuses it, if any.
 * With `transaction`, the command was sent while a `multi({ pipeline: false })` may be open: a
 * `QUEUED` reply records how to strip its real reply, which comes with `EXEC`'s.
 */
function route(router: KeyRouter, command: CommandLike, transaction?: Transaction): Error | undefined {
  let ns: Namespace | undefined;
  let plan: Plan;
  try {
    ns = router.current();
    if (ns === undefined) return undefined;
    plan = planFor(command.name);
    // ioredis built this array for this command (`args.flat()`): rewrite it in place.
    command.args = rewriteArgs(plan, command.args, ns, 0, true);
  } catch (error) {
    return error as Error;
  }
  // Cluster routing caches the keys and slot computed from the old arguments.
  if (command.keys !== undefined) command.keys = undefined;
  if (command.slot !== undefined) command.slot = undefined;
  const strip = plan.strip;
  if (transaction !== undefined) {
    const resolve = command.resolve;
    const namespace = ns;
    command.resolve = (value: unknown) => {
      if (isQueuedReply(value)) {
        transaction.push(strip === undefined ? undefined : { strip, ns: namespace });
        return resolve(value);
      }
      return resolve(strip === undefined ? value : strip(value, namespace));
    };
  } else if (strip !== undefined) {
    const resolve = command.resolve;
    const namespace = ns;
    command.resolve = (value: unknown) => resolve(strip(value, namespace));
  }
  return undefined;
}

/**
 * Wraps an ioredis `Redis` or `Cluster`: a Proxy whose `sendCommand` (the single path of every
 * command method, `call`, scripts and scan streams) rewrites keys, whose `pipeline`/`multi`
 * rewrite each command in the context that queues it, whose auto-pipelines are its own, and
 * whose `duplicate` is routed too.
 * @internal
 */
export function wrapIoredis<T extends object>(client: T, router: KeyRouter, derive: Derive): T {
  const target = client as unknown as Record<PropertyKey, unknown>;

  function duplicate(this: unknown, ...args: unknown[]): unknown {
    return derive((target.duplicate as Method).apply(target, args));
  }

  // The connection's own life runs on the real client: ioredis keeps the `this` that `connect`
  // ran on for its ready check (`INFO`, `CLUSTER INFO`), for flushing the commands queued while
  // offline and for re-sending them after a reconnect. Through the routed client, those would be
  // refused or routed a second time, in the context `connect` was called from.
  function connect(this: unknown, ...args: unknown[]): unknown {
    return (target.connect as Method).apply(target, args);
  }

  // `multi({ pipeline: false })` on a `Redis` (one connection): the commands routed since MULTI,
  // so that EXEC's reply, which holds theirs, can be stripped like theirs would have been.
  const standalone = (target as { isCluster?: unknown }).isCluster !== true;
  let transaction: Transaction | undefined;

  function sendCommand(this: unknown, command: CommandLike, stream?: unknown, node?: unknown): unknown {
    // A pipeline's commands were rewritten when queued, in the context that queued them;
    // `exec` sends them through here as they are.
    if (command.pipelineIndex === undefined) {
      const refused =
        transaction === undefined && (command.name !== 'multi' || !standalone)
          ? route(router, command)
          : routeTransactional(command);
      if (refused !== undefined) {
        command.reject(refused);
        return command.promise;
      }
    }
    return (target.sendCommand as Method).call(target, command, stream, node);
  }

  function routeTransactional(command: CommandLike): Error | undefined {
    switch (command.name) {
      case 'multi':
        transaction = [];
        return route(router, command);
      case 'exec': {
        const queued = transaction!;
        transaction = undefined;
        const refused = route(router, command);
        if (refused === undefined) {
          const resolve = command.resolve;
          command.resolve = (value: unknown) => resolve(stripExecReply(value, queued));
        }
        return refused;
      }
      case 'discard':
        transaction = undefined;
        return route(router, command);
      default:
        return route(router, command, transaction);
    }
  }

  function routePipeline<P>(pipeline: P): P {
    const queue = (pipeline as unknown as PipelineLike).sendCommand;
    (pipeline as unknown as PipelineLike).sendCommand = function queueRouted(
      this: PipelineLike,
      command: CommandLike,
    ) {
      // A command queued before was routed then: a Cluster pipeline re-queues its commands to
      // follow a redirection.
      if (command.pipelineIndex === undefined) {
        const refused = route(router, command);
        // Refuse at queue time: a queued command would otherwise be sent with its shared keys.
        if (refused !== undefined) throw refused;
        // ioredis resends a script the server does not know (NOSCRIPT) as a new command, through
        // the pipeline's client: make that the routed one.
        if (command.name === 'evalsha') this.redis = proxy;
      }
      return queue.call(this, command);
    };
    return pipeline;
  }

  // Pipelines and MULTI belong to the real client: their commands are routed when queued, so
  // `exec` sends them straight to it, with no Proxy trap on its per-command path.
  function pipeline(this: unknown, commands?: unknown[]): unknown {
    const created = routePipeline((target.pipeline as Method).call(target));
    if (Array.isArray(commands)) (created as PipelineLike).addBatch(commands);
    return created;
  }

  function multi(this: unknown, commands?: unknown, options?: { pipeline?: boolean }): unknown {
    if (options === undefined && !Array.isArray(commands)) {
      options = commands as typeof options;
      commands = undefined;
    }
    // `{ pipeline: false }` sends MULTI at once and returns a promise; later commands go through
    // the routed `sendCommand`.
    if (options?.pipeline === false) return (target.multi as Method).call(proxy, options);
    const created = (target.multi as Method).call(target, options);
    routePipeline(created);
    if (Array.isArray(commands)) (created as PipelineLike).addBatch(commands);
    return created;
  }

  // A Cluster's node connections, for what runs on each node (SCAN, KEYS over the whole cluster):
  // routed like the cluster, one routed client per node.
  const routedNode = derivedOnce(derive);
  function nodes(this: unknown, ...args: unknown[]): unknown {
    const found = (target.nodes as Method).apply(target, args) as unknown[];
    return found.map((node) => (typeof node === 'object' && node !== null ? routedNode(node) : node));
  }

  // With `enableAutoPipelining`, commands wait in pipelines kept on the client that sends them:
  // the routed client keeps its own, so a routed command never joins a pipeline the raw client
  // created (and sent unrouted), nor a raw command a routed one.
  const autoPipelines = new Map<unknown, unknown>();
  const runningAutoPipelines = new Set<unknown>();

  const proxy: T = new Proxy(client, {
    get(t, property, receiver) {
      switch (property) {
        case 'sendCommand':
          return sendCommand;
        case 'pipeline':
          return pipeline;
        case 'multi':
          return multi;
        case 'duplicate':
          return duplicate;
        case 'connect':
          return connect;
        case 'nodes':
          return standalone ? Reflect.get(t, property, receiver) : nodes;
        case '_autoPipelines':
          return autoPipelines;
        case '_runningAutoPipelines':
          return runningAutoPipelines;
        default:
          return Reflect.get(t, property, receiver);
      }
    },
  });
  return proxy;
}
