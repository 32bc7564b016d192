// eachBatch with selective consumption: skipped messages are removed from a copy of the batch and
// their offsets resolved in order, interleaved with the handler's own resolves, so a commit never
// passes a message the handler has not handled.
import type { Admin, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { staticRoutes, withRoutingKey } from 'routing-context';
import { routingConsumer, routingProducer, withMessageContext } from 'routing-context/kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, fastConsumer, newKafka, uniqueName, until } from './helpers/kafka.js';

const routes = staticRoutes({ ka: 'sb-a' });

function message(offset: number, key?: string) {
  return {
    offset: String(offset),
    value: Buffer.from(`m${offset}`),
    headers: key ? { 'sd-routing-key': key } : {},
  };
}

/** Runs the wrapped eachBatch of a baseline consumer over `messages`; returns what happened. */
async function runBatch(
  messages: ReturnType<typeof message>[],
  handle: (payload: EachBatchPayload) => Promise<void>,
) {
  const resolved: string[] = [];
  const skipped: string[] = [];
  let config: { eachBatch: (p: unknown) => Promise<void> } | undefined;
  // A stand-in consumer that only captures the configuration handed to run(): this exercises the
  // wrapper's offset bookkeeping alone (the broker tests below cover the real client).
  const consumer = routingConsumer(
    { run: async (c: typeof config) => void (config = c) },
    { routes, sandboxName: '', onSkip: (m) => skipped.push(m.offset) },
  );
  await consumer.run({ eachBatch: handle as never });
  const original = [...messages];
  const batch = {
    topic: 't',
    partition: 0,
    messages,
    isEmpty: () => messages.length === 0,
    firstOffset: () => messages[0]?.offset ?? null,
    lastOffset: () => messages.at(-1)!.offset,
  };
  let error: unknown;
  try {
    await config!.eachBatch({
      batch,
      resolveOffset: (o: string) => resolved.push(o),
      heartbeat: async () => {},
    });
  } catch (e) {
    error = e;
  }
  expect(batch.messages).toEqual(original); // the client's batch is left as it was
  return { resolved, skipped, error };
}

describe('eachBatch offset bookkeeping', () => {
  it('resolves skipped messages only after the handled message before them', async () => {
    // H = handled by the baseline (no key), S = skipped (ka belongs to sb-a).
    const batch = [
      message(10),
      message(11, 'ka'),
      message(12, 'ka'),
      message(13),
      message(14, 'ka'),
      message(15),
      message(16, 'ka'),
    ];
    const seen: string[] = [];
    const { resolved, skipped, error } = await runBatch(batch, async ({ batch, resolveOffset }) => {
      expect(batch.messages.map((m) => m.offset)).toEqual(['10', '13', '15']);
      expect(batch.isEmpty()).toBe(false);
      expect(batch.firstOffset()).toBe('10');
      expect(batch.lastOffset()).toBe('16');
      for (const m of batch.messages) {
        if (m.offset === '15') throw new Error('crash before 15');
        seen.push(m.offset);
        resolveOffset(m.offset);
      }
    });
    expect(String(error)).toMatch(/crash before 15/);
    expect(seen).toEqual(['10', '13']);
    // 11-12 follow 10; 14 follows 13; 16 must stay unresolved because 15 was never handled.
    expect(resolved).toEqual(['10', '12', '13', '14']);
    expect(skipped).toEqual(['11', '12', '14', '16']);
  });

  it('resolves leading skipped messages before the handler runs, and all of them when nothing is left', async () => {
    const order: string[] = [];
    const { resolved } = await runBatch(
      [message(20, 'ka'), message(21, 'ka'), message(22), message(23, 'ka')],
      async ({ batch, resolveOffset }) => {
        order.push('handler');
        for (const m of batch.messages) resolveOffset(m.offset);
      },
    );
    expect(resolved).toEqual(['21', '22', '23']);
    const all = await runBatch([message(30, 'ka'), message(31, 'ka')], async () => {
      throw new Error('must not be called');
    });
    expect(all.error).toBeUndefined();
    expect(all.resolved).toEqual(['31']);
    expect(order).toEqual(['handler']);
  });

  it('passes a batch with nothing to skip through unchanged, and resolving the batch end covers trailing skips', async () => {
    let sameBatch = false;
    const batch = [message(40), message(41)];
    await runBatch(batch, async (p) => {
      sameBatch = p.batch.messages === batch;
    });
    expect(sameBatch).toBe(true);
    const { resolved } = await runBatch(
      [message(50), message(51, 'ka')],
      async ({ batch, resolveOffset }) => {
        resolveOffset(batch.lastOffset());
      },
    );
    expect(resolved).toEqual(['51']);
  });
});

describe('eachBatch on a real broker', () => {
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;

  beforeAll(async () => {
    kafka = newKafka();
    admin = kafka.admin();
    await admin.connect();
    producer = routingProducer(kafka.producer());
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await admin?.disconnect();
  });

  it('a handler crash midway commits nothing past the first unhandled message', async () => {
    const topic = uniqueName('batch-crash');
    const groupId = uniqueName('batch');
    await createTopic(admin, topic, 1);
    // One send, one record batch: S0 H1 S2 S3 H4 S5 H6 S7 (S = key ka, which sb-a serves, so the
    // baseline skips it). The handler crashes once on H1 (nothing handled yet) and once on H6.
    const layout = ['S', 'H', 'S', 'S', 'H', 'S', 'H', 'S'];
    const raw = kafka.producer();
    await raw.connect();
    await raw.send({
      topic,
      messages: layout.map((kind, i) => ({
        value: `${kind}${i}`,
        headers: kind === 'S' ? { 'sd-routing-key': 'ka' } : {},
      })),
    });
    await raw.disconnect();

    const log: string[] = [];
    const crashOn = new Set(['H1', 'H6']);
    const consumer = routingConsumer(
      kafka.consumer(fastConsumer(groupId, { retry: { initialRetryTime: 100, retries: 2 } })),
      { routes, sandboxName: '' },
    );
    consumer.on(consumer.events.COMMIT_OFFSETS, (e) => {
      for (const t of e.payload.topics) for (const p of t.partitions) log.push(`commit ${p.offset}`);
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        log.push(`batch ${batch.messages.map((m) => String(m.value)).join(',')}`);
        for (const m of batch.messages) {
          if (crashOn.delete(String(m.value))) throw new Error(`handler crashed on ${m.value}`);
          await withMessageContext(m, async () => log.push(`handled ${m.value}`));
          resolveOffset(m.offset);
          await heartbeat();
        }
      },
    });
    try {
      await until(() => log.includes('commit 8'), 'everything to be committed after two crashes', 45_000);
    } finally {
      await consumer.disconnect();
    }
    expect(log.filter((l) => l.startsWith('batch'))).toEqual([
      'batch H1,H4,H6',
      'batch H1,H4,H6',
      'batch H6',
    ]);
    expect(log.filter((l) => l.startsWith('handled'))).toEqual(['handled H1', 'handled H4', 'handled H6']);
    const commitsBefore = (entry: string) =>
      log
        .slice(0, log.indexOf(entry))
        .filter((l) => l.startsWith('commit'))
        .map((l) => Number(l.slice(7)));
    // First crash: only the leading skipped S0 is done, so the commit stops at H1.
    expect(commitsBefore('handled H1')).toContain(1);
    expect(Math.max(...commitsBefore('handled H1'))).toBe(1);
    // Second crash: H1, S2, S3, H4, S5 are done; the commit stops at H6, not past it to S7.
    expect(commitsBefore('handled H6')).toContain(6);
    expect(Math.max(...commitsBefore('handled H6'))).toBe(6);
  }, 60_000);

  it('withMessageContext gives each message of a batch its own key, concurrently', async () => {
    const topic = uniqueName('batch-ctx');
    const groupId = uniqueName('batch');
    await createTopic(admin, topic, 2);
    const keys = ['k1', 'k2', 'k3', undefined];
    await Promise.all(
      Array.from({ length: 40 }, (_, j) =>
        withRoutingKey(keys[j % 4], () =>
          producer.send({
            topic,
            messages: Array.from({ length: 25 }, (_, i) => ({ value: `${keys[j % 4] ?? '-'}:${j}:${i}` })),
          }),
        ),
      ),
    );
    const mismatches: string[] = [];
    let count = 0;
    const consumer = routingConsumer(kafka.consumer(fastConsumer(groupId)));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: 2,
      eachBatch: async ({ batch }) => {
        await Promise.all(
          batch.messages.map((m) =>
            withMessageContext(m, async () => {
              await new Promise((r) => setImmediate(r));
              const { getRoutingKey } = await import('routing-context');
              const expected = String(m.value).split(':')[0];
              if ((getRoutingKey() ?? '-') !== expected) mismatches.push(`${m.value} saw ${getRoutingKey()}`);
              count++;
            }),
          ),
        );
      },
    });
    try {
      await until(() => count >= 1000, 'all 1000 messages');
    } finally {
      await consumer.disconnect();
    }
    expect(mismatches).toEqual([]);
  }, 60_000);
});
