import type { RoutesSource } from '../core/routes.js';
import type { RoutingOptions } from '../core/types.js';

/**
 * A Kafka headers record as kafkajs and `@confluentinc/kafka-javascript` (KafkaJS API) hold it.
 * @public
 */
export interface KafkaHeadersLike {
  [name: string]: Buffer | string | (Buffer | string)[] | undefined;
}

/**
 * The part of an outbound message (`producer.send({ messages })`) this library reads and writes.
 * @public
 */
export interface ProducerMessageLike {
  headers?: KafkaHeadersLike | undefined;
}

/**
 * The part of a consumed message (`eachMessage`'s `message`, `eachBatch`'s `batch.messages[i]`)
 * this library reads.
 * @public
 */
export interface KafkaMessageLike {
  /** The message's offset in its partition, as a decimal string. */
  offset: string;
  headers?: KafkaHeadersLike | undefined;
}

/**
 * A producer with kafkajs's `send` / `sendBatch` shape: a kafkajs `Producer`, a kafkajs
 * `Transaction`, or `@confluentinc/kafka-javascript`'s `KafkaJS.Producer`.
 * @public
 */
export interface ProducerLike {
  send(record: { topic: string; messages: ProducerMessageLike[] }): Promise<unknown>;
  sendBatch(batch: {
    topicMessages?: { topic: string; messages: ProducerMessageLike[] }[];
  }): Promise<unknown>;
}

/**
 * What `eachMessage` receives (kafkajs and the Confluent KafkaJS API).
 * @public
 */
export interface EachMessagePayloadLike {
  topic: string;
  partition: number;
  message: KafkaMessageLike;
}

/**
 * The batch `eachBatch` receives. kafkajs adds `offsetLag()` and friends; the Confluent KafkaJS
 * API has the members below.
 * @public
 */
export interface BatchLike {
  topic: string;
  partition: number;
  messages: KafkaMessageLike[];
  isEmpty(): boolean;
  firstOffset(): string | null;
  lastOffset(): string;
}

/**
 * What `eachBatch` receives. kafkajs's `resolveOffset(offset)` takes one argument; the Confluent
 * KafkaJS API also takes a leader epoch, passed through unchanged.
 * @public
 */
export interface EachBatchPayloadLike {
  batch: BatchLike;
  resolveOffset(offset: string, ...rest: any[]): void;
  heartbeat(): Promise<void>;
}

/**
 * The `consumer.run()` configuration this library looks at.
 * @public
 */
export interface ConsumerRunConfigLike {
  eachMessage?: ((payload: any) => Promise<void>) | undefined;
  eachBatch?: ((payload: any) => Promise<void>) | undefined;
  eachBatchAutoResolve?: boolean | undefined;
}

/**
 * A consumer with kafkajs's `run` shape: a kafkajs `Consumer` or
 * `@confluentinc/kafka-javascript`'s `KafkaJS.Consumer`.
 * @public
 */
export interface ConsumerLike {
  run(config?: any): Promise<void>;
}

/**
 * What {@link RoutingConsumerOptions.onSkip} is told about a message selective consumption
 * skipped.
 * @public
 */
export interface SkipInfo {
  topic: string;
  partition: number;
  /** The message's routing key (`undefined` when it has none). */
  routingKey: string | undefined;
}

/**
 * Options of `routingConsumer`: where the routes come from and who this process is, plus the
 * routing options used to read keys from message headers (merged over `configureRouting`).
 * @public
 */
export interface RoutingConsumerOptions extends RoutingOptions {
  /**
   * Turns on selective consumption: messages whose routing key belongs to another sandbox of
   * this workload (or, in a sandbox, to anyone else) are committed without reaching the handler.
   * @defaultValue none (every message reaches the handler)
   */
  routes?: RoutesSource | undefined;
  /**
   * The sandbox this process runs in; empty means baseline.
   * @defaultValue env `SIGNADOT_SANDBOX_NAME` when the consumer is wrapped
   */
  sandboxName?: string | undefined;
  /**
   * Called for each skipped message (after its offset is resolved). Exceptions and rejections are
   * swallowed.
   * @defaultValue none
   */
  onSkip?: ((message: KafkaMessageLike, info: SkipInfo) => void) | undefined;
  /**
   * How long `run()` waits for `routes.ready()` before it rejects with `RoutesUnavailableError`.
   * @defaultValue `30_000`
   */
  routesWaitMs?: number | undefined;
}

/**
 * Options of `routingProducer`: the routing options used to write the key (merged over
 * `configureRouting`). The dedicated `sd-routing-key` header is always written.
 * @public
 */
export type RoutingProducerOptions = RoutingOptions;
