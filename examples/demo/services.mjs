// The demo's services. Each is a small real program that uses only the public entry points of
// routing-context, the way an application would:
//
//   client → web (Fastify, baseline only) → router (plays the mesh) → orders (Express;
//   baseline or pr-142) → Kafka topic → fulfilment (Kafka consumers: baseline, pr-142, pr-7)
//   → Redis cache
//
// They run in one process to start fast, but share nothing except the `Journal`, in which each
// hop writes down what it did so the demo can print and check it.

import http from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { Partitioners } from 'kafkajs';
import { extractRoutingKey, getRoutingKey } from 'routing-context';
import { routingMiddleware } from 'routing-context/express';
import { routingPlugin } from 'routing-context/fastify';
import { routingConsumer, routingProducer, sandboxGroupId } from 'routing-context/kafkajs';
import { routedRedis } from 'routing-context/redis';

/** The name of a workload version: `baseline` or a sandbox name. */
export const BASELINE = 'baseline';

/**
 * What each hop did with each request, keyed by the request id the client sent (`x-request-id`).
 */
export class Journal {
  constructor() {
    /** @type {Map<string, { web?: Hop, router?: Hop, orders?: Hop, took: Hop[], skippedBy: string[] }>} */
    this.requests = new Map();
    /** @type {Set<() => void>} */
    this.waiters = new Set();
  }

  /** @param {string} id */
  entry(id) {
    let entry = this.requests.get(id);
    if (entry === undefined) {
      entry = { took: [], skippedBy: [] };
      this.requests.set(id, entry);
    }
    return entry;
  }

  /**
   * @param {string} id - request id
   * @param {'web' | 'router' | 'orders'} hop
   * @param {Hop} what
   */
  hop(id, hop, what) {
    this.entry(id)[hop] = what;
    this.notify();
  }

  /** @param {string} id @param {Hop} what */
  took(id, what) {
    this.entry(id).took.push(what);
    this.notify();
  }

  /** @param {string} id @param {string} consumer */
  skipped(id, consumer) {
    this.entry(id).skippedBy.push(consumer);
    this.notify();
  }

  notify() {
    for (const waiter of this.waiters) waiter();
  }

  /**
   * Resolves when `done(journal)` holds, or after `timeoutMs` (resolving `false`).
   * @param {(journal: Journal) => boolean} done
   * @param {number} timeoutMs
   * @returns {Promise<boolean>}
   */
  until(done, timeoutMs) {
    if (done(this)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const finish = (/** @type {boolean} */ result) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(result);
      };
      const check = () => {
        if (done(this)) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.waiters.add(check);
    });
  }
}

/**
 * @typedef {{ version: string, key: string | undefined, detail?: string }} Hop
 * `version` is who handled the hop (`baseline`, `pr-142`, ...); `key` is the routing key that was
 * active in the handler, as `getRoutingKey()` saw it.
 */

/**
 * @param {http.Server} server
 * @returns {Promise<string>} its base URL
 */
async function listen(server) {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(undefined));
  });
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return `http://127.0.0.1:${port}`;
}

/** @param {http.Server} server */
function closeServer(server) {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve(undefined));
  });
}

/** @param {unknown} header */
function requestIdOf(header) {
  return typeof header === 'string' ? header : 'unknown';
}

/**
 * `web`: the edge service (baseline only; no sandbox forks it). Fastify with `routingPlugin`; calls
 * `orders` with plain `fetch`, which `installHttpPropagation()` (called once at start-up) makes
 * carry the routing key.
 * @param {{ ordersUrl: string, journal: Journal }} deps
 */
export async function startWeb({ ordersUrl, journal }) {
  const app = Fastify({ logger: false });
  await app.register(routingPlugin);
  app.post('/checkout', async (request, reply) => {
    const id = requestIdOf(request.headers['x-request-id']);
    journal.hop(id, 'web', { version: BASELINE, key: getRoutingKey() });
    const body = /** @type {{ item: string, amount: number }} */ (request.body);
    const response = await fetch(`${ordersUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': id },
      body: JSON.stringify({ item: body.item, amount: body.amount }),
    });
    const order = await response.json();
    reply.code(response.status);
    return { web: BASELINE, order };
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = /** @type {import('node:net').AddressInfo} */ (app.server.address());
  return { name: 'web', url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/**
 * The router plays the service mesh (Signadot's sidecar): for each request to `orders` it reads the
 * routing key from the headers and sends the request to the sandbox's fork of `orders` when the
 * routes say one serves that key, to the baseline otherwise.
 * @param {{ routes: import('routing-context').RoutesSource, instances: Record<string, string>,
 *           journal: Journal, ignoreKeys?: boolean }} deps
 *   `instances` maps a version (`baseline`, sandbox names) to its base URL; `ignoreKeys` breaks
 *   the router on purpose (every request goes to the baseline) to show that the demo notices
 */
export async function startRouter({ routes, instances, journal, ignoreKeys = false }) {
  const server = http.createServer((req, res) => {
    const id = requestIdOf(req.headers['x-request-id']);
    const key = ignoreKeys ? undefined : extractRoutingKey(req.headers);
    const sandbox = key === undefined ? undefined : routes.sandboxFor(key);
    const version = sandbox !== undefined && instances[sandbox] !== undefined ? sandbox : BASELINE;
    journal.hop(id, 'router', { version, key });
    const target = new URL(req.url ?? '/', instances[version]);
    const upstream = http.request(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (error) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`router: ${version} unreachable: ${error.message}`);
    });
    req.pipe(upstream);
  });
  const url = await listen(server);
  return { name: 'router', url, close: () => closeServer(server) };
}

/**
 * `orders` (baseline, and sandbox pr-142's fork): Express with `routingMiddleware` and
 * `express.json()`; publishes `order.created` through a `routingProducer`, so the message carries
 * the request's routing key. The pr-142 fork is the change under review: a 10% discount.
 * @param {{ version: string, kafka: import('kafkajs').Kafka, topic: string, journal: Journal }} deps
 */
export async function startOrders({ version, kafka, topic, journal }) {
  const producer = routingProducer(
    kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false }),
  );
  await producer.connect();

  const app = express();
  app.use(routingMiddleware());
  app.use(express.json());
  app.post('/orders', async (req, res) => {
    const id = requestIdOf(req.get('x-request-id'));
    const amount = Number(req.body.amount);
    const order = { id: `ord-${id}`, requestId: id, item: String(req.body.item), amount, total: amount };
    if (version === 'pr-142') {
      order.discount = '10%';
      order.total = Math.round(amount * 90) / 100;
    }
    order.version = version;
    journal.hop(id, 'orders', { version, key: getRoutingKey(), detail: `total ${order.total}` });
    await producer.send({ topic, messages: [{ key: order.id, value: JSON.stringify(order) }] });
    res.status(201).json(order);
  });
  const server = http.createServer(app);
  const url = await listen(server);
  return {
    name: `orders@${version}`,
    url,
    close: async () => {
      await closeServer(server);
      await producer.disconnect();
    },
  };
}

/** How each version of `fulfilment` ships: the visible difference of the sandbox forks. */
const SHIPPING = { [BASELINE]: 'standard', 'pr-142': 'express', 'pr-7': 'drone' };

/**
 * `fulfilment` (baseline, pr-142's fork, pr-7's fork): a Kafka consumer wrapped with
 * `routingConsumer`, so each message runs in its routing context and each version takes only the
 * messages routed to it (selective consumption); writes a shipment to Redis through `routedRedis`,
 * which puts the routing key in front of every cache key.
 * @param {{ version: string, kafka: import('kafkajs').Kafka, topic: string, groupBase: string,
 *           routes: import('routing-context').RoutesSource | undefined, redis: import('ioredis').Redis,
 *           keyPrefix: string, journal: Journal }} deps
 *   `routes` undefined breaks selective consumption on purpose (every version takes every message)
 */
export async function startFulfilment({
  version,
  kafka,
  topic,
  groupBase,
  routes,
  redis,
  keyPrefix,
  journal,
}) {
  const sandboxName = version === BASELINE ? '' : version;
  const groupId = sandboxGroupId(groupBase, sandboxName);
  const cache = routedRedis(redis);
  const consumer = routingConsumer(kafka.consumer({ groupId, maxWaitTimeInMs: 100 }), {
    routes,
    sandboxName,
    onSkip: (message) => journal.skipped(orderOf(message).requestId, version),
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const order = orderOf(message);
      const shipping = SHIPPING[version] ?? 'standard';
      const name = `${keyPrefix}:ship:${order.id}`;
      await cache.set(
        name,
        JSON.stringify({ order: order.id, shipping, by: `fulfilment@${version}` }),
        'EX',
        600,
      );
      journal.took(order.requestId, { version, key: getRoutingKey(), detail: shipping });
    },
  });
  return {
    name: `fulfilment@${version}`,
    groupId,
    close: async () => {
      await consumer.disconnect();
      redis.disconnect();
    },
  };
}

/**
 * @param {import('kafkajs').KafkaMessage | { value?: Buffer | null }} message
 * @returns {{ id: string, requestId: string }}
 */
function orderOf(message) {
  try {
    return JSON.parse(String(message.value));
  } catch {
    return { id: 'unreadable', requestId: 'unknown' };
  }
}
