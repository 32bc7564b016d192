// The real infrastructure the demo needs: a Kafka broker and a Redis server. Each starter either
// returns a handle or throws a `MissingPart` that says what is missing and how to provide it.

import Redis from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';

/** A part of the demo that could not start; `how` tells the newcomer what to do about it. */
export class MissingPart extends Error {
  /**
   * @param {string} part - e.g. `Redis`
   * @param {string} message - what went wrong
   * @param {string} how - how to provide the part
   */
  constructor(part, message, how) {
    super(`${part} ${message}: ${how}`);
    this.name = 'MissingPart';
    this.part = part;
  }
}

/**
 * Connects to Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`).
 * @param {(line: string) => void} log
 * @returns {Promise<{ url: string, connect: () => Redis, admin: Redis }>}
 */
export async function connectRedis(log) {
  const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  const connect = () =>
    new Redis(url, {
      lazyConnect: true,
      connectTimeout: 3_000,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null,
    });
  const admin = connect();
  admin.on('error', () => {}); // reported by connect() below
  try {
    await admin.connect();
    await admin.ping();
  } catch (error) {
    admin.disconnect();
    throw new MissingPart(
      'Redis',
      `not reachable at ${url}`,
      `start one (e.g. \`redis-server --port 6379\`) or set REDIS_URL\n  (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  log(`redis: connected to ${url}`);
  return { url, connect, admin };
}

/**
 * Uses the broker in `KAFKA_BROKERS`, or starts the project's own single-node broker
 * (scripts/kafka-broker.mjs) when it is not set.
 * @param {(line: string) => void} log
 * @returns {Promise<{ brokers: string[], kafka: Kafka, ownBroker: boolean, stop: () => Promise<void> }>}
 */
export async function startKafkaBroker(log) {
  const fromEnv = process.env.KAFKA_BROKERS?.trim();
  if (fromEnv) {
    const brokers = fromEnv.split(',').map((b) => b.trim());
    const kafka = kafkaClient(brokers);
    await checkBroker(kafka, brokers, 'unset KAFKA_BROKERS to let the demo start its own broker, or fix it');
    log(`kafka: using KAFKA_BROKERS=${fromEnv}`);
    return { brokers, kafka, ownBroker: false, stop: async () => {} };
  }

  log('kafka: KAFKA_BROKERS is not set, starting a local broker with scripts/kafka-broker.mjs');
  log('kafka: (the first run downloads the Kafka jars from Maven Central: this can take a few minutes)');
  let broker;
  try {
    const { startKafka } = await import('../../scripts/kafka-broker.mjs');
    broker = await startKafka({ log: (line) => log(`kafka: ${line}`) });
  } catch (error) {
    throw new MissingPart(
      'Kafka',
      'could not be started with scripts/kafka-broker.mjs',
      'it needs Java 17+ (and Maven the first time, to fetch the jars); ' +
        `or start a broker yourself and set KAFKA_BROKERS=host:port\n  (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  const brokers = [broker.brokers];
  const kafka = kafkaClient(brokers);
  try {
    await checkBroker(kafka, brokers, 'see the broker log above');
  } catch (error) {
    await broker.stop();
    throw error;
  }
  return { brokers, kafka, ownBroker: true, stop: () => broker.stop() };
}

/** @param {string[]} brokers */
function kafkaClient(brokers) {
  return new Kafka({
    clientId: 'routing-context-demo',
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 200 },
    connectionTimeout: 3_000,
  });
}

/**
 * An open port is not enough: ask the cluster to describe itself.
 * @param {Kafka} kafka
 * @param {string[]} brokers
 * @param {string} how
 */
async function checkBroker(kafka, brokers, how) {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (error) {
    throw new MissingPart(
      'Kafka',
      `not reachable at ${brokers.join(',')}`,
      `${how}\n  (${error instanceof Error ? error.message : String(error)})`,
    );
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * Creates a topic and waits until every partition has a leader. kafkajs's own `waitForLeaders`
 * gives up too early when several clients create topics at once, so poll the metadata here.
 * @param {Kafka} kafka
 * @param {string} topic
 * @param {number} numPartitions
 * @param {number} [timeoutMs]
 */
export async function createTopic(kafka, topic, numPartitions, timeoutMs = 20_000) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: false });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
        const partitions = topics[0]?.partitions ?? [];
        if (partitions.length === numPartitions && partitions.every((p) => p.leader >= 0)) return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      if (Date.now() > deadline) throw new Error(`topic ${topic} has no leader after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

/**
 * @param {Kafka} kafka
 * @param {string} topic
 */
export async function deleteTopic(kafka, topic) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    // Also called after a creation that failed midway: the topic may or may not exist.
    if ((await admin.listTopics()).includes(topic)) await admin.deleteTopics({ topics: [topic] });
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
