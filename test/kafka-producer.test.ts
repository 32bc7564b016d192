// routingProducer on a real broker: what lands in the headers, copies instead of mutation,
// baseline messages untouched, concurrency, and a consumer that prefers the dedicated header.
import type { Admin, Consumer, IHeaders, Kafka, Producer } from 'kafkajs';
import { getRoutingKey, withRoutingKey } from 'routing-context';
import { routingConsumer, routingProducer, sandboxGroupId } from 'routing-context/kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, fastConsumer, newKafka, uniqueName, until } from './helpers/kafka.js';

interface Received {
  value: string;
  headers: Record<string, string>;
  key: string | undefined;
}

function decode(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {}))
    out[k] = Array.isArray(v) ? v.map(String).join('|') : String(v);
  return out;
}

describe('routingProducer on a real broker', () => {
  let kafka: Kafka;
  let admin: Admin;
  let raw: Producer;
  let producer: Producer;

  beforeAll(async () => {
    kafka = newKafka();
    admin = kafka.admin();
    await admin.connect();
    raw = kafka.producer();
    producer = routingProducer(raw);
    await producer.connect();
  });

  afterAll(async () => {
    await producer?.disconnect();
    await admin?.disconnect();
  });

  /** Consumes `count` messages of `topic` through a routing consumer, recording headers and key. */
  async function consume(topic: string, count: number): Promise<Received[]> {
    const received: Received[] = [];
    const consumer: Consumer = routingConsumer(kafka.consumer(fastConsumer(uniqueName('read'))));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        received.push({
          value: String(message.value),
          headers: decode(message.headers),
          key: getRoutingKey(),
        });
      },
    });
    try {
      await until(() => received.length >= count, `${count} messages on ${topic}`);
    } finally {
      await consumer.disconnect();
    }
    return received;
  }

  it('writes baggage (merged) and the dedicated header in routed sends; copies; leaves baseline sends as they were', async () => {
    const topic = uniqueName('producer');
    await createTopic(admin, topic, 1);
    const existing = { baggage: 'sd-routing-key=stale,other=1', 'x-app': 'kept' };
    const routedMessages = [{ value: 'routed', headers: existing }, { value: 'routed-bare' }];
    const routedRecord = { topic, messages: routedMessages };
    const snapshot = structuredClone(routedRecord);
    await withRoutingKey('ka', () => producer.send(routedRecord));
    // The caller's record, messages and headers are unchanged (and no key leaks into a resend).
    expect(routedRecord).toEqual(snapshot);
    expect(routedMessages[0]!.headers).toBe(existing);

    const baselineRecord = { topic, messages: [{ value: 'baseline', headers: { 'x-app': 'kept' } }] };
    await producer.send(baselineRecord);
    await withRoutingKey('kb', () =>
      producer.sendBatch({ topicMessages: [{ topic, messages: [{ value: 'batched' }] }] }),
    );

    const received = await consume(topic, 4);
    const by = new Map(received.map((r) => [r.value, r]));
    expect(by.get('routed')!.headers).toEqual({
      baggage: 'sd-routing-key=ka,other=1',
      'sd-routing-key': 'ka',
      'x-app': 'kept',
    });
    expect(by.get('routed-bare')!.headers).toEqual({ baggage: 'sd-routing-key=ka', 'sd-routing-key': 'ka' });
    expect(by.get('baseline')!.headers).toEqual({ 'x-app': 'kept' });
    expect(by.get('batched')!.headers).toEqual({ baggage: 'sd-routing-key=kb', 'sd-routing-key': 'kb' });
    expect(received.map((r) => [r.value, r.key])).toEqual(
      expect.arrayContaining([
        ['routed', 'ka'],
        ['routed-bare', 'ka'],
        ['baseline', undefined],
        ['batched', 'kb'],
      ]),
    );
  }, 60_000);

  it('tags each of many interleaved concurrent sends with its own key', async () => {
    const topic = uniqueName('producer-concurrent');
    await createTopic(admin, topic, 3);
    const keys = Array.from({ length: 20 }, (_, i) => (i % 5 === 0 ? undefined : `key-${i}`));
    await Promise.all(
      Array.from({ length: 200 }, (_, j) => {
        const key = keys[j % keys.length];
        return withRoutingKey(key, async () => {
          await new Promise((r) => setImmediate(r));
          await producer.send({
            topic,
            messages: [{ value: `${key ?? '-'}#${j}` }, { value: `${key ?? '-'}#${j}b` }],
          });
        });
      }),
    );
    const received = await consume(topic, 400);
    const wrong = received.filter(
      (r) =>
        (r.key ?? '-') !== r.value.split('#')[0] || (r.headers['sd-routing-key'] ?? '-') !== (r.key ?? '-'),
    );
    expect(wrong).toEqual([]);
    expect(received.length).toBe(400);
  }, 60_000);

  it('the consumer prefers the dedicated header over a baggage member that disagrees', async () => {
    const topic = uniqueName('producer-prefer');
    await createTopic(admin, topic, 1);
    await raw.send({
      topic,
      messages: [
        { value: 'both', headers: { 'sd-routing-key': 'ka', baggage: 'sd-routing-key=kb' } },
        { value: 'baggage-only', headers: { baggage: 'sd-routing-key=kb' } },
        {
          value: 'invalid-dedicated',
          headers: { 'sd-routing-key': 'bad key!', baggage: 'sd-routing-key=kb' },
        },
        { value: 'repeated', headers: { 'sd-routing-key': [Buffer.from('ka'), Buffer.from('kc')] } },
      ],
    });
    const received = await consume(topic, 4);
    expect(Object.fromEntries(received.map((r) => [r.value, r.key]))).toEqual({
      both: 'ka',
      'baggage-only': 'kb',
      'invalid-dedicated': 'kb',
      repeated: 'ka',
    });
  }, 60_000);

  it('rejects bad configuration at start-up, naming the option', () => {
    expect(() => routingProducer(raw, { headers: ['bad header'] })).toThrow(/"headers\[0\]"/);
    expect(() => routingConsumer(kafka.consumer({ groupId: 'x' }), { routesWaitMs: -1 })).toThrow(
      /"routesWaitMs"/,
    );
    expect(() => routingConsumer(kafka.consumer({ groupId: 'x' }), { routes: {} as never })).toThrow(
      /"routes"/,
    );
    expect(() => routingConsumer(kafka.consumer({ groupId: 'x' }), { bogus: 1 } as never)).toThrow(/"bogus"/);
    expect(() => routingProducer({} as never)).toThrow(TypeError);
  });

  it('sandboxGroupId suffixes the sandbox once', () => {
    expect(sandboxGroupId('orders', 'sb-a')).toBe('orders-sb-a');
    expect(sandboxGroupId('orders-sb-a', 'sb-a')).toBe('orders-sb-a');
    expect(sandboxGroupId('orders', '')).toBe('orders');
    expect(sandboxGroupId('orders', undefined)).toBe('orders');
    const saved = process.env.SIGNADOT_SANDBOX_NAME;
    try {
      process.env.SIGNADOT_SANDBOX_NAME = 'pr-142';
      expect(sandboxGroupId('orders')).toBe('orders-pr-142');
      delete process.env.SIGNADOT_SANDBOX_NAME;
      expect(sandboxGroupId('orders')).toBe('orders');
    } finally {
      if (saved === undefined) delete process.env.SIGNADOT_SANDBOX_NAME;
      else process.env.SIGNADOT_SANDBOX_NAME = saved;
    }
    expect(() => sandboxGroupId('', 'x')).toThrow(TypeError);
  });

  it('keeps the wrapped object usable: same type back, other members bound to the original', async () => {
    expect(typeof producer.on).toBe('function');
    expect(producer.events).toBe(raw.events);
    const consumer = routingConsumer(kafka.consumer({ groupId: uniqueName('shape') }));
    expect(typeof consumer.subscribe).toBe('function');
    expect(consumer.events.GROUP_JOIN).toBe('consumer.group_join');
  });
});
