// Type-level checks: the wrappers return the type they were given, for kafkajs and for the
// KafkaJS-compatible API of @confluentinc/kafka-javascript (which cannot be installed here: its
// install script downloads a prebuilt binary or builds librdkafka). The Confluent shapes below are
// copied from its types/kafkajs.d.ts (the members the wrappers touch, with its differences:
// `eachBatch` payload without `uncommittedOffsets`, `commitOffsetsIfNecessary()` without
// arguments, `resolveOffset(offset, leaderEpoch?)`, a `Batch` without `offsetLag*`, records without
// `acks`/`timeout`/`compression`, a class with private state).
import type { Consumer, Producer, Transaction } from 'kafkajs';
import { routingConsumer, routingProducer, withMessageContext } from 'routing-context/kafkajs';
import { describe, expectTypeOf, it } from 'vitest';

interface ConfluentIHeaders {
  [key: string]: Buffer | string | (Buffer | string)[] | undefined;
}
interface ConfluentMessage {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  partition?: number;
  headers?: ConfluentIHeaders;
  timestamp?: string;
}
interface ConfluentRecordMetadata {
  topicName: string;
  partition: number;
  errorCode: number;
}
declare class ConfluentProducer {
  /** Stands for the real class's private state. */
  protected readonly internalState: unknown;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  send(record: { topic: string; messages: ConfluentMessage[] }): Promise<ConfluentRecordMetadata[]>;
  sendBatch(batch: {
    topicMessages?: { topic: string; messages: ConfluentMessage[] }[];
  }): Promise<ConfluentRecordMetadata[]>;
  flush(args?: { timeout?: number }): Promise<void>;
  transaction(): Promise<ConfluentProducer>;
}
interface ConfluentKafkaMessage {
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  attributes: number;
  offset: string;
  headers: ConfluentIHeaders;
  leaderEpoch?: number;
}
interface ConfluentBatch {
  topic: string;
  partition: number;
  highWatermark: string;
  messages: ConfluentKafkaMessage[];
  isEmpty(): boolean;
  firstOffset(): string | null;
  lastOffset(): string;
}
interface ConfluentEachBatchPayload {
  batch: ConfluentBatch;
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  pause(): () => void;
  commitOffsetsIfNecessary(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}
interface ConfluentEachMessagePayload {
  topic: string;
  partition: number;
  message: ConfluentKafkaMessage;
  heartbeat(): Promise<void>;
  pause(): () => void;
}
interface ConfluentConsumerRunConfig {
  eachBatchAutoResolve?: boolean;
  partitionsConsumedConcurrently?: number;
  eachMessage?: (payload: ConfluentEachMessagePayload) => Promise<void>;
  eachBatch?: (payload: ConfluentEachBatchPayload) => Promise<void>;
}
declare class ConfluentConsumer {
  /** Stands for the real class's private state. */
  protected readonly internalState: unknown;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  subscribe(subscription: { topics: (string | RegExp)[] }): Promise<void>;
  stop(): Promise<void>;
  run(config?: ConfluentConsumerRunConfig): Promise<void>;
  commitOffsets(topicPartitions?: { topic: string; partition: number; offset: string }[]): Promise<void>;
}

describe('types', () => {
  it('returns the type it was given (kafkajs)', () => {
    expectTypeOf(routingProducer<Producer>).returns.toEqualTypeOf<Producer>();
    expectTypeOf(routingProducer<Transaction>).returns.toEqualTypeOf<Transaction>();
    expectTypeOf(routingConsumer<Consumer>).returns.toEqualTypeOf<Consumer>();
    expectTypeOf(withMessageContext<number>).returns.toEqualTypeOf<number>();
  });

  it('accepts the Confluent KafkaJS-compatible producer and consumer', () => {
    expectTypeOf(routingProducer<ConfluentProducer>).returns.toEqualTypeOf<ConfluentProducer>();
    expectTypeOf(routingConsumer<ConfluentConsumer>).returns.toEqualTypeOf<ConfluentConsumer>();
    expectTypeOf<ConfluentKafkaMessage>().toMatchTypeOf<Parameters<typeof withMessageContext>[0]>();
  });
});
