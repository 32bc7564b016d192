// Kafka consumption throughput on a real broker: raw kafkajs `eachMessage` vs the same consumer
// wrapped by routingConsumer with selective consumption on (baseline process, static routes: half
// the messages are skipped, half handled in their routing context).
//
//   npm run build && node bench/kafka.mjs            # starts its own broker (scripts/kafka-broker.mjs)
//   KAFKA_BROKERS=127.0.0.1:9092 node bench/kafka.mjs
//   BENCH_MESSAGES=100000 BENCH_ROUNDS=5 node bench/kafka.mjs
//
// Rounds alternate raw / wrapped over the same 100,000 messages, each with a fresh consumer group;
// a round is timed from its first message to its last (group joins excluded). Reported: median
// throughput of each and the median of the per-pair ratios.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { staticRoutes, withRoutingKey } from '../dist/index.js';
import { routingConsumer, routingProducer } from '../dist/kafkajs/index.js';
import { median } from './_stats.mjs';

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = require('kafkajs');

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const KEYS = [undefined, 'ka', 'kb', 'kz'];

async function broker() {
  if (process.env.KAFKA_BROKERS)
    return { brokers: process.env.KAFKA_BROKERS, stop: async () => {}, version: 'external' };
  const { startKafka } = await import('../scripts/kafka-broker.mjs');
  return startKafka({ log: (line) => process.stderr.write(`[kafka] ${line}\n`) });
}

async function produce(kafka, topic) {
  const producer = routingProducer(kafka.producer());
  await producer.connect();
  const perSend = 1000;
  for (let start = 0; start < MESSAGES; start += perSend * KEYS.length) {
    await Promise.all(
      KEYS.map((key, k) =>
        withRoutingKey(key, () =>
          producer.send({
            topic,
            messages: Array.from(
              { length: Math.min(perSend, Math.ceil((MESSAGES - start - k) / KEYS.length)) },
              (_, i) => ({
                value: `m${start + i * KEYS.length + k}-payload`,
              }),
            ),
          }),
        ),
      ),
    );
  }
  await producer.disconnect();
}

/**
 * Consumes the whole topic once; returns messages per second from first to last message, by the
 * wall clock and per CPU-second of this process (steadier on a shared machine).
 */
async function consumeOnce(kafka, topic, wrapped) {
  const base = kafka.consumer({
    groupId: `bench-${randomUUID()}`,
    maxWaitTimeInMs: 100,
    heartbeatInterval: 1000,
  });
  let seen = 0;
  let first = 0;
  let firstCpu;
  let done;
  const finished = new Promise((resolve) => (done = resolve));
  const count = () => {
    if (seen === 0) {
      first = performance.now();
      firstCpu = process.cpuUsage();
    }
    if (++seen === MESSAGES) done([performance.now(), process.cpuUsage(firstCpu)]);
  };
  const consumer = wrapped
    ? routingConsumer(base, {
        routes: staticRoutes({ ka: 'sb-a', kb: 'sb-b' }),
        sandboxName: '',
        onSkip: count,
      })
    : base;
  let sink = 0;
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      sink += message.value.length;
      count();
    },
  });
  const [last, cpu] = await finished;
  await consumer.disconnect();
  if (sink === 0) throw new Error('nothing consumed');
  return { wall: (MESSAGES / (last - first)) * 1000, cpu: (MESSAGES / (cpu.user + cpu.system)) * 1e6 };
}

const kafkaBroker = await broker();
try {
  const kafka = new Kafka({
    clientId: 'bench',
    brokers: kafkaBroker.brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  const topic = `bench-${randomUUID().slice(0, 8)}`;
  await admin.createTopics({
    topics: [{ topic, numPartitions: 3, replicationFactor: 1 }],
    waitForLeaders: true,
  });
  await admin.disconnect();
  process.stderr.write(`producing ${MESSAGES} messages to ${topic} on ${kafkaBroker.brokers}...\n`);
  await produce(kafka, topic);
  // One warm-up of each, not counted.
  await consumeOnce(kafka, topic, false);
  await consumeOnce(kafka, topic, true);
  const rows = { raw: { wall: [], cpu: [] }, wrapped: { wall: [], cpu: [] } };
  const ratios = { wall: [], cpu: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first so drift favours neither.
    const order = round % 2 === 0 ? ['raw', 'wrapped'] : ['wrapped', 'raw'];
    const result = {};
    for (const name of order) result[name] = await consumeOnce(kafka, topic, name === 'wrapped');
    for (const m of ['wall', 'cpu']) {
      rows.raw[m].push(result.raw[m]);
      rows.wrapped[m].push(result.wrapped[m]);
      ratios[m].push(result.wrapped[m] / result.raw[m]);
    }
    process.stderr.write(
      `round ${round + 1}/${ROUNDS}: raw ${result.raw.wall.toFixed(0)}/s (${result.raw.cpu.toFixed(0)}/cpu-s), ` +
        `wrapped ${result.wrapped.wall.toFixed(0)}/s (${result.wrapped.cpu.toFixed(0)}/cpu-s)\n`,
    );
  }
  const fmt = (n) => Math.round(n).toLocaleString('en-US');
  console.log(
    `\nKafka ${kafkaBroker.version}, Node ${process.version}, ${MESSAGES} messages x ${ROUNDS} rounds (3 partitions, eachMessage)\n`,
  );
  console.log('| consumer | median msg/s (wall) | ratio (wall) | median msg per CPU-s | ratio (CPU) |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(`| raw kafkajs | ${fmt(median(rows.raw.wall))} | 1.00 | ${fmt(median(rows.raw.cpu))} | 1.00 |`);
  console.log(
    `| routingConsumer + selective consumption | ${fmt(median(rows.wrapped.wall))} | ${median(ratios.wall).toFixed(2)} | ${fmt(median(rows.wrapped.cpu))} | ${median(ratios.cpu).toFixed(2)} |`,
  );
  console.log(
    `\nratios are medians of per-round wrapped/raw ratios; per round (wall): ${ratios.wall.map((r) => r.toFixed(2)).join(', ')}; (CPU): ${ratios.cpu.map((r) => r.toFixed(2)).join(', ')}. Target >= 0.95.`,
  );
} finally {
  await kafkaBroker.stop();
}
