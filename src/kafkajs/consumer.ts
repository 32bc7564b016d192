import { RoutesUnavailableError } from '../core/errors.js';
import type { NormalizedOptions } from '../core/options.js';
import { type RoutesSource, shouldProcess } from '../core/routes.js';
import { runWithKey } from '../core/state.js';
import { envSandboxName, kafkaOptionsResolver, messageKey, rememberKey } from './context.js';
import { bindingProxy } from './proxy.js';
import type {
  BatchLike,
  ConsumerLike,
  ConsumerRunConfigLike,
  EachBatchPayloadLike,
  EachMessagePayloadLike,
  KafkaMessageLike,
  RoutingConsumerOptions,
  SkipInfo,
} from './types.js';

/** @internal Defaults of the consumer-only options. */
export const CONSUMER_DEFAULTS = {
  routesWaitMs: 30_000,
} as const;

type EachMessage = (payload: EachMessagePayloadLike) => Promise<void>;
type EachBatch = (payload: EachBatchPayloadLike) => Promise<void>;

interface Selection {
  readonly routes: RoutesSource;
  /** This process's sandbox, `''` for baseline (never `undefined`: that would make shouldProcess read the env). */
  readonly sandboxName: string;
  readonly onSkip: ((message: KafkaMessageLike, info: SkipInfo) => void) | undefined;
}

function checkOptions(options: RoutingConsumerOptions) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('routing-context: routingConsumer() options must be an object');
  }
  const { routes, sandboxName, onSkip, routesWaitMs, ...routing } = options;
  if (
    routes !== undefined &&
    (routes === null ||
      typeof routes !== 'object' ||
      typeof routes.ready !== 'function' ||
      typeof routes.sandboxFor !== 'function')
  ) {
    throw new TypeError(
      'routing-context: option "routes" must be a RoutesSource (staticRoutes(), routesApi())',
    );
  }
  if (sandboxName !== undefined && typeof sandboxName !== 'string') {
    throw new TypeError('routing-context: option "sandboxName" must be a string');
  }
  if (onSkip !== undefined && typeof onSkip !== 'function') {
    throw new TypeError('routing-context: option "onSkip" must be a function');
  }
  const waitMs = routesWaitMs ?? CONSUMER_DEFAULTS.routesWaitMs;
  if (typeof waitMs !== 'number' || !(waitMs > 0) || waitMs > 2_147_483_647) {
    throw new TypeError(
      `routing-context: option "routesWaitMs" must be a positive number of ms, got ${String(waitMs)}`,
    );
  }
  const selection: Selection | undefined =
    routes === undefined
      ? undefined
      : {
          routes,
          sandboxName: sandboxName ?? envSandboxName() ?? '',
          onSkip,
        };
  return { selection, waitMs, routing };
}

function reportSkip(selection: Selection, message: KafkaMessageLike, info: SkipInfo): void {
  const hook = selection.onSkip;
  if (hook === undefined) return;
  try {
    const result = hook(message, info) as unknown;
    if (result instanceof Promise) result.catch(() => {});
  } catch {
    // A reporting hook must never break consumption.
  }
}

/** Waits for the routes, or rejects with `RoutesUnavailableError` after `waitMs`. */
async function waitForRoutes(routes: RoutesSource, waitMs: number, stopped: AbortSignal): Promise<void> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onStop = () => controller.abort(stopped.reason);
  stopped.addEventListener('abort', onStop, { once: true });
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new RoutesUnavailableError(
        `routing-context: routes did not load within ${waitMs} ms (option "routesWaitMs"); selective consumption cannot tell which messages belong to this workload, so the consumer was not started`,
      );
      controller.abort(error);
      reject(error);
    }, waitMs);
  });
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
  });
  try {
    await Promise.race([routes.ready(controller.signal), timeout, aborted]);
  } catch (error) {
    if (error instanceof RoutesUnavailableError) throw error;
    throw new RoutesUnavailableError(
      `routing-context: routes could not be loaded: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
    stopped.removeEventListener('abort', onStop);
  }
}

function wrapEachMessage(
  handler: EachMessage,
  resolve: () => NormalizedOptions,
  selection: Selection | undefined,
) {
  return function eachMessage(payload: EachMessagePayloadLike): Promise<void> {
    const message = payload.message;
    const key = messageKey(message, resolve());
    if (selection !== undefined && !shouldProcess(selection.routes, key, selection.sandboxName)) {
      // Returning without calling the handler lets the client resolve and commit the offset.
      reportSkip(selection, message, { topic: payload.topic, partition: payload.partition, routingKey: key });
      return Promise.resolve();
    }
    return runWithKey(key, () => handler(payload));
  };
}

/**
 * The handler's `resolveOffset`, extended: resolving a handled message also resolves the run of
 * skipped messages right after it, and never anything past the next handled message.
 */
function extendingResolver(
  original: EachBatchPayloadLike['resolveOffset'],
  messages: readonly KafkaMessageLike[],
  skipped: readonly boolean[],
) {
  const offsets = messages.map((m) => Number(m.offset));
  return function resolveOffset(offset: string, ...rest: any[]): void {
    original(offset, ...rest);
    const resolved = Number(offset);
    if (Number.isNaN(resolved)) return;
    // First message after `offset` (offsets ascend within a batch).
    let lo = 0;
    let hi = offsets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (offsets[mid]! <= resolved) lo = mid + 1;
      else hi = mid;
    }
    let last = -1;
    while (lo < messages.length && skipped[lo]) last = lo++;
    if (last === -1) return;
    const message = messages[last] as KafkaMessageLike & { leaderEpoch?: number };
    if (message.leaderEpoch === undefined) original(message.offset);
    else original(message.offset, message.leaderEpoch);
  };
}

function wrapEachBatch(
  handler: EachBatch,
  resolve: () => NormalizedOptions,
  selection: Selection | undefined,
  remember: boolean,
) {
  if (selection === undefined && !remember) return handler;
  return async function eachBatch(payload: EachBatchPayloadLike): Promise<void> {
    const batch = payload.batch;
    const messages = batch.messages;
    const o = resolve();
    const keys = new Array<string | undefined>(messages.length);
    const skipped = new Array<boolean>(messages.length);
    let kept = 0;
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!;
      const key = messageKey(message, o);
      keys[i] = key;
      if (remember) rememberKey(message, key);
      const skip = selection !== undefined && !shouldProcess(selection.routes, key, selection.sandboxName);
      skipped[i] = skip;
      if (!skip) kept++;
    }
    if (selection === undefined || kept === messages.length) return handler(payload);

    // Skipped messages before the first handled one are done now; the others are resolved as the
    // handler resolves the handled message before them (a crash midway commits nothing unhandled).
    let leading = -1;
    while (leading + 1 < messages.length && skipped[leading + 1]) leading++;
    if (leading !== -1) payload.resolveOffset(messages[leading]!.offset);
    for (let i = 0; i < messages.length; i++) {
      if (skipped[i]) {
        reportSkip(selection, messages[i]!, {
          topic: batch.topic,
          partition: batch.partition,
          routingKey: keys[i],
        });
      }
    }
    if (kept === 0) return;

    const keptMessages = messages.filter((_, i) => !skipped[i]);
    const view: BatchLike = Object.create(batch);
    Object.defineProperties(view, {
      messages: { value: keptMessages, enumerable: true, writable: true },
      isEmpty: { value: () => keptMessages.length === 0 },
      firstOffset: { value: () => keptMessages[0]?.offset ?? null },
      // The batch's own end: resolving it after the last handled message covers trailing skips.
      lastOffset: { value: () => batch.lastOffset() },
    });
    return handler({
      ...payload,
      batch: view,
      resolveOffset: extendingResolver(payload.resolveOffset, messages, skipped),
    });
  };
}

/**
 * Wraps a consumer so that `run()` handlers see each message's routing context, and, with
 * `options.routes`, consume selectively.
 *
 * - `eachMessage` runs inside the message's routing context (`getRoutingKey()` returns its key).
 * - `eachBatch` gets the batch; run each message's work with {@link withMessageContext}.
 * - With `routes`, a message that `shouldProcess` (from `routing-context`) rejects for this process never reaches the
 *   handler: in `eachMessage` it is returned at once (the client commits it); in `eachBatch` it is
 *   removed from a copy of `batch.messages` and its offset resolved in order (leading skipped
 *   messages before the handler runs, the others when the handler resolves the message before
 *   them or when the batch is auto-resolved), so a commit never passes an unhandled message.
 *   Each skip is reported through `onSkip`.
 * - With `routes`, `run()` first waits for `routes.ready()` (so no message is handled before the
 *   first load) and rejects with `RoutesUnavailableError` after `routesWaitMs`. `stop()` and
 *   `disconnect()` end the wait.
 *
 * Works with kafkajs consumers and with `@confluentinc/kafka-javascript`'s KafkaJS-compatible
 * consumer (whose `eachBatch` holds at most 32 messages by default, whose `resolveOffset` keeps the
 * highest offset resolved, and whose `heartbeat` does nothing).
 *
 * @param consumer - the consumer to wrap (not modified)
 * @param options - routes, sandbox name, `onSkip`, `routesWaitMs` and routing options for reading
 *   keys; validated now (a bad option throws a `TypeError`)
 * @returns a consumer of the same type
 * @example
 * ```ts
 * const consumer = routingConsumer(kafka.consumer({ groupId: sandboxGroupId('orders') }), {
 *   routes: routesApi(),
 * });
 * await consumer.subscribe({ topic: 'orders' });
 * await consumer.run({ eachMessage: async ({ message }) => handle(message) }); // getRoutingKey() works inside
 * ```
 * @public
 */
export function routingConsumer<C extends ConsumerLike>(
  consumer: C,
  options: RoutingConsumerOptions = {},
): C {
  if (consumer === null || typeof consumer !== 'object' || typeof consumer.run !== 'function') {
    throw new TypeError('routing-context: routingConsumer() needs a consumer with run()');
  }
  const { selection, waitMs, routing } = checkOptions(options);
  const resolve = kafkaOptionsResolver(routing);
  // withMessageContext must read keys with these local options, not only the process-wide ones.
  const remember = Object.keys(routing).length > 0 || selection !== undefined;
  const target = consumer as C & Record<PropertyKey, unknown>;
  let stopped = new AbortController();

  async function run(config?: ConsumerRunConfigLike): Promise<void> {
    if (config === null || typeof config !== 'object') return consumer.run(config);
    const wrapped: ConsumerRunConfigLike = { ...config };
    if (typeof config.eachMessage === 'function') {
      wrapped.eachMessage = wrapEachMessage(config.eachMessage, resolve, selection);
    } else if (typeof config.eachBatch === 'function') {
      wrapped.eachBatch = wrapEachBatch(config.eachBatch, resolve, selection, remember);
    }
    if (selection !== undefined) {
      if (stopped.signal.aborted) stopped = new AbortController();
      await waitForRoutes(selection.routes, waitMs, stopped.signal);
    }
    return consumer.run(wrapped);
  }

  function ending(name: 'stop' | 'disconnect') {
    return (...args: unknown[]) => {
      stopped.abort(
        new Error(`routing-context: consumer.${name}() was called while run() waited for routes`),
      );
      return (target[name] as (...a: unknown[]) => unknown).apply(consumer, args);
    };
  }

  const own: Record<PropertyKey, unknown> = { run };
  if (typeof target.stop === 'function') own.stop = ending('stop');
  if (typeof target.disconnect === 'function') own.disconnect = ending('disconnect');
  return bindingProxy(consumer, own);
}
