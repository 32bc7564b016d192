// Shared helpers for tests on the suite's real Kafka broker (started by test/setup/global.ts).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Admin, type Consumer, type ConsumerConfig, Kafka, logLevel } from 'kafkajs';
import { inject } from 'vitest';

/** The broker address: provided by the global set-up, or KAFKA_BROKERS. */
export function kafkaBrokers(): string[] {
  const brokers = inject('kafkaBrokers') ?? process.env.KAFKA_BROKERS;
  if (!brokers)
    throw new Error('No Kafka broker: the global set-up did not provide one and KAFKA_BROKERS is unset');
  return brokers.split(',');
}

export function newKafka(clientId = 'routing-context-test'): Kafka {
  return new Kafka({
    clientId,
    brokers: kafkaBrokers(),
    logLevel: logLevel.NOTHING,
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

/** A name no other test (or earlier run) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Consumer settings that keep joins and rebalances short on a single local broker. */
export function fastConsumer(groupId: string, extra: Partial<ConsumerConfig> = {}): ConsumerConfig {
  return {
    groupId,
    sessionTimeout: 10_000,
    rebalanceTimeout: 10_000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 100,
    retry: { initialRetryTime: 100, retries: 5 },
    ...extra,
  };
}

export async function createTopic(admin: Admin, topic: string, numPartitions: number): Promise<void> {
  await admin.createTopics({
    topics: [{ topic, numPartitions, replicationFactor: 1 }],
    waitForLeaders: true,
  });
}

/** Resolves once `consumer` has joined its group (after `run()`). */
export function joined(consumer: Consumer): Promise<void> {
  return new Promise((resolve) => {
    const remove = consumer.on(consumer.events.GROUP_JOIN, () => {
      remove();
      resolve();
    });
  });
}

export async function until(predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Committed offset per partition of `topic` for `groupId` (-1 = none). */
export async function committed(admin: Admin, groupId: string, topic: string): Promise<Map<number, number>> {
  const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return new Map((entry?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
}

/** High watermark per partition of `topic`. */
export async function highWatermarks(admin: Admin, topic: string): Promise<Map<number, number>> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return new Map(offsets.map((p) => [p.partition, Number(p.high)]));
}

/** Waits until `groupId` has committed everything in `topic`. */
export async function untilAllCommitted(admin: Admin, groupId: string, topic: string, timeoutMs = 30_000) {
  const high = await highWatermarks(admin, topic);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = await committed(admin, groupId, topic);
    if ([...high].every(([p, h]) => done.get(p) === h)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `group ${groupId} did not commit all of ${topic}: committed ${JSON.stringify([...done])}, high ${JSON.stringify([...high])}`,
      );
    }
    await sleep(100);
  }
}
