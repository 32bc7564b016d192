// NodeSDK + instrumentation-http + instrumentation-kafkajs + RoutingPropagator on a REAL broker
// (KAFKA_BROKERS): a send inside a routed request arrives in eachMessage with the key, whether the
// producer is wrapped by routing-context/kafkajs (both inject: they must agree on one member) or
// not (OTel's injection alone, fed by the bridge), and whether the request went through our
// middleware or only through OTel's extraction.
'use strict';

const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { KafkaJsInstrumentation } = require('@opentelemetry/instrumentation-kafkajs');
const { RoutingPropagator } = require('routing-context/otel');
const { startSdk, w3cPropagators, listen, request, run } = require('./common.cjs');

const decode = (v) => (v === undefined ? undefined : [].concat(v).map((x) => x.toString('utf8')));

run(async () => {
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers)
    throw new Error('KAFKA_BROKERS is not set: the suite global setup must start the Kafka broker');
  startSdk({
    instrumentations: [new HttpInstrumentation(), new KafkaJsInstrumentation()],
    propagators: w3cPropagators(RoutingPropagator),
  });
  const express = require('express');
  const { Kafka, logLevel } = require('kafkajs');
  const { getRoutingKey } = require('routing-context');
  const { routingMiddleware } = require('routing-context/express');
  const { routingProducer } = require('routing-context/kafkajs');

  const kafka = new Kafka({
    clientId: 'otel-fixture',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
  });
  const topic = `otel-routing-${process.pid}-${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true });
  await admin.disconnect();

  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const routed = routingProducer(producer);

  const app = express();
  const produce = async (req, res) => {
    const i = req.query.i;
    await new Promise((r) => setTimeout(r, Number(i) % 9));
    await routed.send({ topic, messages: [{ key: `w-${i}`, value: `wrapped-${i}` }] });
    await producer.send({ topic, messages: [{ key: `p-${i}`, value: `plain-${i}`, headers: { app: 'x' } }] });
    res.json({ seen: getRoutingKey() ?? null });
  };
  // Registered before the middleware: only OTel's extraction (and the bridge) see the key here.
  app.post('/otel-only', produce);
  app.use(routingMiddleware());
  app.post('/middleware', produce);
  const server = await listen(app.listen(0, '127.0.0.1'));

  const sent = Array.from({ length: 30 }, (_, i) => ({
    i,
    key: i % 6 === 5 ? undefined : `key-${i}`,
    path: i % 2 === 0 ? '/middleware' : '/otel-only',
  }));
  const expected = sent.length * 2;
  const received = [];
  let done;
  const allReceived = new Promise((r) => {
    done = r;
  });
  const consumer = kafka.consumer({ groupId: `${topic}-group`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: 2,
    eachMessage: async ({ message }) => {
      const before = getRoutingKey();
      await new Promise((r) => setTimeout(r, 1));
      received.push({
        value: message.value.toString(),
        before: before ?? null,
        after: getRoutingKey() ?? null,
        baggage: decode(message.headers.baggage),
        dedicated: decode(message.headers['sd-routing-key']),
        app: decode(message.headers.app),
      });
      if (received.length >= expected) done();
    },
  });

  const responses = await Promise.all(
    sent.map((s) =>
      request(server.port, `${s.path}?i=${s.i}`, {
        method: 'POST',
        headers:
          s.key === undefined
            ? { baggage: `user=u${s.i}` }
            : { baggage: `user=u${s.i},sd-routing-key=${s.key}` },
      }).then((r) => ({ ...s, ...r })),
    ),
  );
  await allReceived;
  await consumer.disconnect();
  await producer.disconnect();
  return { responses, received };
});
