import { extractWith } from '../core/codec.js';
import { MAX_KEY_LENGTH, type NormalizedOptions, normalizeOptions } from '../core/options.js';
import { optionsResolver, runWithKey } from '../core/state.js';
import type { RoutingOptions } from '../core/types.js';
import type { KafkaMessageLike } from './types.js';

/**
 * The header every producer wrapper writes and every consumer reads first. Baggage alone is not
 * enough on Kafka: `@opentelemetry/instrumentation-kafkajs` overwrites a message's `baggage`
 * header with the active OTel baggage at send time.
 */
export const DEDICATED_HEADER = 'sd-routing-key';

/** Adds the dedicated header, first, to options that lack it (cached per input object). */
const withDedicated = new WeakMap<NormalizedOptions, NormalizedOptions>();

function kafkaVariant(o: NormalizedOptions): NormalizedOptions {
  if (o.headers[0] === DEDICATED_HEADER) return o;
  let variant = withDedicated.get(o);
  if (variant === undefined) {
    const headers = [DEDICATED_HEADER, ...o.headers.filter((h) => h !== DEDICATED_HEADER)];
    variant = normalizeOptions({ ...o.raw, headers });
    withDedicated.set(o, variant);
  }
  return variant;
}

/**
 * Validates `local` now (a bad option throws a `TypeError` at start-up) and returns a cheap
 * getter of the effective options with the dedicated Kafka header added.
 */
export function kafkaOptionsResolver(local: RoutingOptions | undefined): () => NormalizedOptions {
  const resolve = optionsResolver(local);
  let base = resolve();
  let variant = kafkaVariant(base);
  return () => {
    const current = resolve();
    if (current !== base) {
      base = current;
      variant = kafkaVariant(current);
    }
    return variant;
  };
}

const processWide = kafkaOptionsResolver(undefined);

/** Keys already read by a wrapped `eachBatch` with its own options; `null` = baseline. */
const knownKeys = new WeakMap<object, string | null>();

/**
 * The dedicated header's value when it is a plain key: printable ASCII without spaces or commas,
 * as our producer writes it. Anything else (arrays, lists, odd bytes) takes the general path.
 */
function plainKey(value: unknown): string | undefined {
  if (typeof value === 'string') {
    return value.length > 0 &&
      value.length <= MAX_KEY_LENGTH &&
      !value.includes(',') &&
      value.trim() === value
      ? value
      : undefined;
  }
  if (!(value instanceof Uint8Array) || value.length === 0 || value.length > MAX_KEY_LENGTH) return undefined;
  let key = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c <= 0x20 || c >= 0x7f || c === 0x2c) return undefined;
    key += String.fromCharCode(c);
  }
  return key;
}

function hasAnyHeader(headers: object): boolean {
  for (const _ in headers) return true;
  return false;
}

/**
 * Reads a message's key; never throws (headers come from the network). The common cases (our
 * dedicated header, or no headers at all) are answered without the general extraction, with the
 * same result: the dedicated header comes first in the Kafka options.
 */
export function messageKey(message: KafkaMessageLike, o: NormalizedOptions): string | undefined {
  const headers = message.headers;
  if (headers === undefined || headers === null || typeof headers !== 'object') return undefined;
  try {
    const dedicated = headers[DEDICATED_HEADER];
    if (dedicated !== undefined) {
      const key = plainKey(dedicated);
      if (key !== undefined && o.isValid(key)) return key;
    } else if (!hasAnyHeader(headers)) {
      return undefined;
    }
    return extractWith(headers, o);
  } catch {
    return undefined;
  }
}

/** Remembers the key a wrapped consumer read, so `withMessageContext` agrees with its options. */
export function rememberKey(message: KafkaMessageLike, key: string | undefined): void {
  if (typeof message === 'object' && message !== null) knownKeys.set(message, key ?? null);
}

/**
 * Runs `fn` inside the routing context carried by a Kafka message's headers: the dedicated
 * `sd-routing-key` header first, then `baggage` and the other configured sources. A message without
 * a valid key runs as baseline. Inside `routingConsumer(...).run({ eachBatch })` the key is the one
 * the consumer read with its own options.
 *
 * @param message - a consumed message (`batch.messages[i]`)
 * @param fn - the work for that message
 * @returns what `fn` returns
 * @example
 * ```ts
 * await consumer.run({
 *   eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
 *     for (const message of batch.messages) {
 *       await withMessageContext(message, () => handle(message));
 *       resolveOffset(message.offset);
 *       await heartbeat();
 *     }
 *   },
 * });
 * ```
 * @public
 */
export function withMessageContext<T>(message: KafkaMessageLike, fn: () => T): T {
  const known = knownKeys.get(message);
  const key = known === undefined ? messageKey(message, processWide()) : (known ?? undefined);
  return runWithKey(key, fn);
}

/** Env `SIGNADOT_SANDBOX_NAME`, empty meaning baseline. */
export function envSandboxName(): string | undefined {
  const name = process.env.SIGNADOT_SANDBOX_NAME;
  return name === undefined || name === '' ? undefined : name;
}

/**
 * The consumer group id for this process: `"<groupId>-<sandbox>"` in a sandbox, so a sandbox's
 * consumer gets its own copy of every message; `groupId` in the baseline. A `groupId` that already
 * ends with `-<sandbox>` is returned as is (never doubled).
 *
 * @param groupId - the baseline's group id
 * @param sandboxName - this process's sandbox; defaults to env `SIGNADOT_SANDBOX_NAME`, empty or
 *   unset meaning baseline
 * @example
 * ```ts
 * const consumer = kafka.consumer({ groupId: sandboxGroupId('orders') }); // "orders-pr-142" in sandbox pr-142
 * ```
 * @public
 */
export function sandboxGroupId(groupId: string, sandboxName: string | undefined = envSandboxName()): string {
  if (typeof groupId !== 'string' || groupId.length === 0) {
    throw new TypeError(
      `routing-context: sandboxGroupId() needs a non-empty group id, got ${JSON.stringify(groupId)}`,
    );
  }
  if (sandboxName !== undefined && typeof sandboxName !== 'string') {
    throw new TypeError('routing-context: sandboxGroupId() sandboxName must be a string');
  }
  if (sandboxName === undefined || sandboxName === '') return groupId;
  const suffix = `-${sandboxName}`;
  return groupId.endsWith(suffix) ? groupId : groupId + suffix;
}
