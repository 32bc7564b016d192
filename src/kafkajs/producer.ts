import { injectWith } from '../core/codec.js';
import type { NormalizedOptions } from '../core/options.js';
import { getRoutingKey } from '../core/state.js';
import { kafkaOptionsResolver } from './context.js';
import { bindingProxy } from './proxy.js';
import type { KafkaHeadersLike, ProducerLike, ProducerMessageLike, RoutingProducerOptions } from './types.js';

type AnyFunction = (...args: any[]) => any;
type SendRecord = Parameters<ProducerLike['send']>[0];
type SendBatch = Parameters<ProducerLike['sendBatch']>[0];

/** A copy of `message` whose (copied) headers carry `key`. */
function tagged<M extends ProducerMessageLike>(message: M, key: string, o: NormalizedOptions): M {
  const headers: KafkaHeadersLike = { ...message.headers };
  injectWith(headers, key, o);
  return { ...message, headers };
}

function taggedAll<M extends ProducerMessageLike>(
  messages: readonly M[],
  key: string,
  o: NormalizedOptions,
): M[] {
  const out = new Array<M>(messages.length);
  for (let i = 0; i < messages.length; i++) out[i] = tagged(messages[i]!, key, o);
  return out;
}

/**
 * Wraps a producer so that `send` and `sendBatch`, called inside a routed context, write the
 * active routing key into every message's headers: merged into `baggage` (other members kept) and
 * in the dedicated `sd-routing-key` header, plus any configured `headers`. The dedicated header
 * survives `@opentelemetry/instrumentation-kafkajs`, which overwrites `baggage` at send time.
 * Messages are copied, never mutated; in a baseline context the record is passed through as is.
 * `transaction()` returns a wrapped transaction. Every other member is the producer's own.
 *
 * Works with kafkajs producers and with `@confluentinc/kafka-javascript`'s KafkaJS-compatible
 * producer.
 *
 * @param producer - the producer to wrap (not modified)
 * @param options - routing options for writing the key, merged over `configureRouting`; validated
 *   now (a bad option throws a `TypeError`)
 * @returns a producer of the same type
 * @example
 * ```ts
 * const producer = routingProducer(kafka.producer());
 * await producer.connect();
 * await withRoutingKey('pr-142', () => producer.send({ topic: 'orders', messages: [{ value: 'x' }] }));
 * ```
 * @public
 */
export function routingProducer<P extends ProducerLike>(producer: P, options?: RoutingProducerOptions): P {
  if (producer === null || typeof producer !== 'object' || typeof producer.send !== 'function') {
    throw new TypeError('routing-context: routingProducer() needs a producer with send() and sendBatch()');
  }
  const resolve = kafkaOptionsResolver(options);
  const target = producer as P & Record<PropertyKey, unknown>;

  function activeKey(o: NormalizedOptions): string | undefined {
    const key = getRoutingKey();
    return key !== undefined && o.isValid(key) ? key : undefined;
  }

  function send(record: SendRecord): Promise<unknown> {
    const o = resolve();
    const key = activeKey(o);
    if (
      key === undefined ||
      record === null ||
      typeof record !== 'object' ||
      !Array.isArray(record.messages)
    ) {
      return producer.send(record);
    }
    return producer.send({ ...record, messages: taggedAll(record.messages, key, o) });
  }

  function sendBatch(batch: SendBatch): Promise<unknown> {
    const o = resolve();
    const key = activeKey(o);
    if (
      key === undefined ||
      batch === null ||
      typeof batch !== 'object' ||
      !Array.isArray(batch.topicMessages)
    ) {
      return producer.sendBatch(batch);
    }
    const topicMessages = batch.topicMessages.map((t) =>
      t !== null && typeof t === 'object' && Array.isArray(t.messages)
        ? { ...t, messages: taggedAll(t.messages, key, o) }
        : t,
    );
    return producer.sendBatch({ ...batch, topicMessages });
  }

  async function transaction(...args: unknown[]): Promise<unknown> {
    const tx = await (target.transaction as AnyFunction).apply(producer, args);
    return tx !== null && typeof tx === 'object' && typeof tx.send === 'function'
      ? routingProducer(tx, options)
      : tx;
  }

  const own: Record<PropertyKey, unknown> = { send, sendBatch };
  if (typeof target.transaction === 'function') own.transaction = transaction;
  return bindingProxy(producer, own);
}
