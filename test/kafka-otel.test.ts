// With @opentelemetry/instrumentation-kafkajs active, `send` overwrites each message's `baggage`
// header with the active OTel baggage. The dedicated sd-routing-key header must still carry the
// key, and the consumer must read it (the instrumentation's eachMessage context is outside ours).
import { createRequire } from 'node:module';
import { context, propagation, type TracerProvider, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import * as sdkTrace from '@opentelemetry/sdk-trace-base';
import type * as KafkaJs from 'kafkajs';
import { getRoutingKey, withRoutingKey } from 'routing-context';
import { routingConsumer, routingProducer } from 'routing-context/kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTopic, fastConsumer, kafkaBrokers, uniqueName, until } from './helpers/kafka.js';

// OTel 2.x names the SDK's provider BasicTracerProvider; 3.x (test:matrix) names it TracerProvider.
const sdk = sdkTrace as unknown as Record<string, (new () => TracerProvider) | undefined>;
const Provider = (sdk.BasicTracerProvider ?? sdk.TracerProvider)!;

describe('routing-context/kafkajs with @opentelemetry/instrumentation-kafkajs', () => {
  let instrumentation: KafkaJsInstrumentation;
  let kafka: KafkaJs.Kafka;
  let admin: KafkaJs.Admin;

  beforeAll(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(
      new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
    );
    const provider = new Provider();
    trace.setGlobalTracerProvider(provider);
    instrumentation = new KafkaJsInstrumentation();
    instrumentation.setTracerProvider(provider);
    instrumentation.enable();
    // The instrumentation patches kafkajs when it is required after enable().
    const { Kafka, logLevel } = createRequire(import.meta.url)('kafkajs') as typeof KafkaJs;
    kafka = new Kafka({ clientId: 'otel-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.disconnect();
    instrumentation?.disable();
    context.disable();
    propagation.disable();
    trace.disable();
  });

  it('the dedicated header survives the instrumentation rewriting baggage; consumers get the right key', async () => {
    const topic = uniqueName('otel');
    await createTopic(admin, topic, 3);
    const producer = routingProducer(kafka.producer());
    await producer.connect();
    const keys = ['ka', 'kb', undefined, 'kz'];
    // OTel baggage without our key is active around every send, as in an app that uses baggage.
    const otelBaggage = propagation.createBaggage({ tenant: { value: 'acme' } });
    await context.with(propagation.setBaggage(context.active(), otelBaggage), () =>
      Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          withRoutingKey(keys[j % keys.length], () =>
            producer.send({ topic, messages: [{ value: `${keys[j % keys.length] ?? '-'}#${j}` }] }),
          ),
        ),
      ),
    );
    await producer.disconnect();

    const received: { value: string; key: string | undefined; baggage: string; traceparent: boolean }[] = [];
    const consumer = routingConsumer(kafka.consumer(fastConsumer(uniqueName('otel'))));
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: 3,
      eachMessage: async ({ message }) => {
        await new Promise((r) => setImmediate(r));
        received.push({
          value: String(message.value),
          key: getRoutingKey(),
          baggage: String(message.headers?.baggage ?? ''),
          traceparent: message.headers?.traceparent !== undefined,
        });
      },
    });
    try {
      await until(() => received.length >= 100, '100 messages');
    } finally {
      await consumer.disconnect();
    }
    // The instrumentation really ran and really replaced our baggage member...
    expect(received.every((r) => r.traceparent)).toBe(true);
    expect(received.every((r) => r.baggage === 'tenant=acme')).toBe(true);
    // ...and every message still reached its handler with its own key.
    const wrong = received.filter((r) => (r.key ?? '-') !== r.value.split('#')[0]);
    expect(wrong).toEqual([]);
  }, 60_000);
});
