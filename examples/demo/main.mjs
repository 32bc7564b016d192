// routing-context demo: one command shows request-level isolation working. Started by run.mjs,
// which first checks that the package is built.
//
// A sandbox `pr-142` forks `orders` and `fulfilment`; a sandbox `pr-7` forks only `fulfilment`.
// Requests for each sandbox, and baseline requests, go through web → orders → Kafka → fulfilment
// → Redis at the same time. The demo prints which version handled every hop and exits 1 if any
// hop went to the wrong version. See examples/demo/README.md.

import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { routesApi, routingHeaders, staticRoutes } from 'routing-context';
import { installHttpPropagation } from 'routing-context/http';
import { connectRedis, createTopic, deleteTopic, MissingPart, startKafkaBroker } from './infra.mjs';
import { checkRows, renderReport } from './report.mjs';
import { rulesFor, startRoutesApiEmulator } from './routes-api-emulator.mjs';
import { BASELINE, Journal, startFulfilment, startOrders, startRouter, startWeb } from './services.mjs';

const USAGE = `usage: node examples/demo/run.mjs [options]

  --routes-api     take routes from a local Routes API emulator (routesApi()) instead of staticRoutes()
  --json           print the result as JSON on stdout (progress stays on stderr)
  --rounds <n>     send every kind of request n times, all at once (default 1)
  --break <hop>    break one hop on purpose to see the check fail: "router" (the mesh ignores
                   routing keys) or "consumer" (fulfilment consumers without selective consumption)
  -h, --help       this text

environment: KAFKA_BROKERS (default: start scripts/kafka-broker.mjs), REDIS_URL (default redis://127.0.0.1:6379)`;

/** Routing keys are opaque, like Signadot's 13 lowercase alphanumerics. */
const KEY_142 = 'pr142rkdemo01';
const KEY_7 = 'pr7rkdemo0001';

/** Which sandbox serves which routing key, per workload (web is forked by no sandbox). */
const ROUTES = {
  orders: { [KEY_142]: 'pr-142' },
  fulfilment: { [KEY_142]: 'pr-142', [KEY_7]: 'pr-7' },
};
const WORKLOAD = { kind: 'Deployment', namespace: 'demo' };

/**
 * The kinds of request the client sends, all at once (`--rounds` times each), and where each hop
 * must end up.
 * @type {Omit<import('./report.mjs').DemoRequest, 'id'>[]}
 */
const REQUEST_KINDS = [
  { via: 'none', key: undefined, expect: { orders: BASELINE, fulfilment: BASELINE } },
  {
    sandbox: 'pr-142',
    via: 'baggage',
    key: KEY_142,
    expect: { orders: 'pr-142', fulfilment: 'pr-142' },
  },
  {
    sandbox: 'pr-7',
    via: 'routingHeaders()',
    key: KEY_7,
    expect: { orders: BASELINE, fulfilment: 'pr-7' },
  },
  { via: 'baggage (other)', key: undefined, expect: { orders: BASELINE, fulfilment: BASELINE } },
  {
    sandbox: 'pr-142',
    via: '?sd-routing-key=',
    key: KEY_142,
    expect: { orders: 'pr-142', fulfilment: 'pr-142' },
  },
  {
    sandbox: 'pr-7',
    via: '?sd-routing-key=',
    key: KEY_7,
    expect: { orders: BASELINE, fulfilment: 'pr-7' },
  },
  {
    sandbox: 'pr-142',
    via: 'routingHeaders()',
    key: KEY_142,
    expect: { orders: 'pr-142', fulfilment: 'pr-142' },
  },
  { sandbox: 'pr-7', via: 'baggage', key: KEY_7, expect: { orders: BASELINE, fulfilment: 'pr-7' } },
];

/** How long the messages may take to reach every consumer group once the requests are answered. */
const CONSUME_TIMEOUT_MS = 30_000;

function parseOptions() {
  try {
    const { values } = parseArgs({
      options: {
        'routes-api': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        break: { type: 'string' },
        rounds: { type: 'string', default: '1' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    if (values.break !== undefined && values.break !== 'router' && values.break !== 'consumer') {
      throw new Error(`--break takes "router" or "consumer", got "${values.break}"`);
    }
    const rounds = Number(values.rounds);
    if (!Number.isInteger(rounds) || rounds < 1 || rounds > 50) {
      throw new Error(`--rounds takes a whole number from 1 to 50, got "${values.rounds}"`);
    }
    return { ...values, rounds };
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}\n`);
    process.exit(2);
  }
}

/**
 * Sends one request the way a client of that kind would: headers, or the query parameter a
 * webhook or a shared link uses.
 * @param {string} webUrl
 * @param {import('./report.mjs').DemoRequest} request
 */
async function send(webUrl, request) {
  /** @type {Record<string, string>} */
  const headers = { 'content-type': 'application/json', 'x-request-id': request.id };
  let url = `${webUrl}/checkout`;
  if (request.via === 'baggage') headers.baggage = `sd-routing-key=${request.key}`;
  else if (request.via === 'baggage (other)') headers.baggage = 'tenant=acme';
  else if (request.via === 'routingHeaders()')
    Object.assign(headers, routingHeaders(/** @type {string} */ (request.key)));
  else if (request.via === '?sd-routing-key=') url += `?sd-routing-key=${request.key}`;
  const response = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ item: 'book', amount: 100 }),
  });
  const body = await response.json().catch(() => undefined);
  return { status: response.status, body };
}

/**
 * Runs the demo with the command-line arguments of this process.
 * @returns {Promise<number>} the exit code: 0 all hops right, 1 a wrong hop, 2 a part missing
 */
export async function main() {
  const options = parseOptions();
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const log = (/** @type {string} */ line) => process.stderr.write(`${line}\n`);
  const started = Date.now();
  const runId = randomBytes(2).toString('hex');
  const topic = `demo.order.created.${runId}`;
  const keyPrefix = `demo:${runId}`;
  const journal = new Journal();
  /** @type {import('./report.mjs').DemoRequest[]} */
  const requests = [];
  for (let round = 0; round < options.rounds; round++) {
    for (const kind of REQUEST_KINDS) requests.push({ ...kind, id: `r${requests.length + 1}` });
  }
  /** @type {(() => Promise<unknown> | unknown)[]} */
  const cleanup = [];
  const runCleanup = async () => {
    while (cleanup.length > 0) {
      const step = /** @type {() => unknown} */ (cleanup.pop());
      try {
        await step();
      } catch (error) {
        log(`cleanup: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  };
  for (const [signal, code] of /** @type {const} */ ([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ])) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void runCleanup().then(() => process.exit(code));
    });
  }

  try {
    log(`demo ${runId}: starting (Redis, Kafka, services)`);
    const redis = await connectRedis(log);
    cleanup.push(() => redis.admin.quit());
    const broker = await startKafkaBroker(log);
    cleanup.push(() => broker.stop());

    cleanup.push(() => deleteTopic(broker.kafka, topic));
    await createTopic(broker.kafka, topic, 3);

    // Routes: static by default; with --routes-api, polled from a local Routes API emulator.
    let emulator;
    /** @type {(workload: keyof typeof ROUTES, sandboxName: string) => import('routing-context').RoutesSource} */
    let routesFor;
    if (options['routes-api']) {
      emulator = await startRoutesApiEmulator(rulesFor(ROUTES, WORKLOAD));
      cleanup.push(() => emulator.close());
      log(`routes: Routes API emulator at ${emulator.url}`);
      const url = emulator.url;
      routesFor = (workload, sandboxName) => {
        const routes = routesApi({
          url,
          baseline: { ...WORKLOAD, name: workload },
          sandboxName,
          refreshMs: 2_000,
        });
        cleanup.push(() => routes.close());
        return routes;
      };
    } else {
      routesFor = (workload) => staticRoutes(ROUTES[workload]);
    }

    // Every outbound http/https/fetch call made while a request is routed carries its key.
    const uninstall = installHttpPropagation();
    cleanup.push(uninstall);

    const versions = [BASELINE, 'pr-142', 'pr-7'];
    const groupBase = `fulfilment.${runId}`;
    const consumers = [];
    for (const version of versions) {
      const routes =
        options.break === 'consumer'
          ? undefined
          : routesFor('fulfilment', version === BASELINE ? '' : version);
      const client = redis.connect();
      cleanup.push(() => client.disconnect());
      await client.connect();
      const service = await startFulfilment({
        version,
        kafka: broker.kafka,
        topic,
        groupBase,
        routes,
        redis: client,
        keyPrefix,
        journal,
      });
      cleanup.push(() => service.close());
      consumers.push(service);
    }
    const orders = {};
    for (const version of [BASELINE, 'pr-142']) {
      const service = await startOrders({ version, kafka: broker.kafka, topic, journal });
      cleanup.push(() => service.close());
      orders[version] = service.url;
    }
    const meshRoutes = routesFor('orders', '');
    await meshRoutes.ready(AbortSignal.timeout(10_000));
    const router = await startRouter({
      routes: meshRoutes,
      instances: orders,
      journal,
      ignoreKeys: options.break === 'router',
    });
    cleanup.push(() => router.close());
    const web = await startWeb({ ordersUrl: router.url, journal });
    cleanup.push(() => web.close());
    log(
      `services: web ${web.url} → router ${router.url} → orders {baseline, pr-142} → ${topic} → fulfilment {${consumers.map((c) => c.groupId).join(', ')}} → Redis`,
    );

    log(`sending ${requests.length} requests at once`);
    const answers = await Promise.all(
      requests.map((request) =>
        send(web.url, request).catch((error) => ({ status: 0, body: String(error) })),
      ),
    );
    const everyGroupSawIt = (/** @type {Journal} */ j) =>
      requests.every((r) => {
        const entry = j.requests.get(r.id);
        return entry !== undefined && entry.took.length + entry.skippedBy.length >= versions.length;
      });
    if (!(await journal.until(everyGroupSawIt, CONSUME_TIMEOUT_MS))) {
      log(`some messages did not reach every consumer group within ${CONSUME_TIMEOUT_MS / 1000} s`);
    }

    const written = [];
    for await (const keys of redis.admin.scanStream({ match: `*${keyPrefix}:ship:*`, count: 100 }))
      written.push(...keys);
    cleanup.push(() => (written.length > 0 ? redis.admin.del(...written) : 0));

    const rows = checkRows({
      requests,
      answers,
      journal,
      written,
      keyPrefix,
      versions,
      selective: options.break !== 'consumer',
    });
    const report = {
      ok: rows.every((row) => row.problems.length === 0),
      runId,
      routes: options['routes-api'] ? 'routes-api' : 'static',
      routesApiRequests: emulator?.requests(),
      broken: options.break ?? null,
      kafkaBrokers: broker.brokers.join(','),
      ownBroker: broker.ownBroker,
      topic,
      versions,
      consumerGroups: consumers.map((c) => c.groupId),
      routingKeys: { 'pr-142': KEY_142, 'pr-7': KEY_7 },
      rows,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    };
    await runCleanup();
    const text = options.json ? `${JSON.stringify(report, null, 2)}\n` : renderReport(report);
    await new Promise((resolve) => process.stdout.write(text, resolve));
    return report.ok ? 0 : 1;
  } catch (error) {
    await runCleanup();
    if (error instanceof MissingPart) {
      log(`\ndemo: cannot start — ${error.message}`);
      return 2;
    }
    log(`\ndemo: failed — ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return 1;
  }
}
