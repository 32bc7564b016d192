/**
 * Routing-aware Kafka clients for kafkajs and `@confluentinc/kafka-javascript`'s KafkaJS API:
 * producers that tag messages with the active routing key, consumers that run each message in its
 * context, and selective consumption for sandboxes.
 * @packageDocumentation
 */
export { routingConsumer } from './consumer.js';
export { sandboxGroupId, withMessageContext } from './context.js';
export { routingProducer } from './producer.js';
export type {
  BatchLike,
  ConsumerLike,
  ConsumerRunConfigLike,
  EachBatchPayloadLike,
  EachMessagePayloadLike,
  KafkaHeadersLike,
  KafkaMessageLike,
  ProducerLike,
  ProducerMessageLike,
  RoutingConsumerOptions,
  RoutingProducerOptions,
  SkipInfo,
} from './types.js';
