// A routed producer and a selective consumer. Run it twice: as the baseline, then with
// SIGNADOT_SANDBOX_NAME=pr-142; each process prints only the orders routed to it.
import { Kafka } from 'kafkajs';
import { getRoutingKey, staticRoutes, withRoutingKey } from 'routing-context';
import { routingConsumer, routingProducer, sandboxGroupId } from 'routing-context/kafkajs';

const kafka = new Kafka({ brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',') });
const sandboxName = process.env.SIGNADOT_SANDBOX_NAME ?? ''; // '' = baseline
const routes = staticRoutes({ pr142rkdemo01: 'pr-142' }); // routing key → the sandbox forking this workload

const producer = routingProducer(kafka.producer());
await producer.connect();
await producer.send({ topic: 'order.created', messages: [{ value: 'order 41' }] }); // no key: baseline's
await withRoutingKey('pr142rkdemo01', () =>
  producer.send({ topic: 'order.created', messages: [{ value: 'order 42' }] }),
); // sent with headers sd-routing-key and baggage: sd-routing-key=pr142rkdemo01

const groupId = sandboxGroupId('fulfilment', sandboxName); // 'fulfilment-pr-142' in the sandbox
const consumer = routingConsumer(kafka.consumer({ groupId }), { routes, sandboxName });
await consumer.connect();
await consumer.subscribe({ topic: 'order.created', fromBeginning: true });
await consumer.run({
  // Called only for this process's messages, inside their routing context.
  eachMessage: async ({ message }) => console.log(`${message.value} (key ${getRoutingKey() ?? 'none'})`),
});
