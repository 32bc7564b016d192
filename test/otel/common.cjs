// Helpers shared by the OpenTelemetry fixture scripts. Each fixture runs in its own process
// (started by test/otel-sdk.test.ts), so OTel globals never leak between scenarios. A fixture
// prints ONE line of JSON on stdout; anything else goes to stderr.
'use strict';

const http = require('node:http');

/** Starts the OTel NodeSDK; `propagators` are composed in the given order. */
function startSdk({ instrumentations, propagators }) {
  // Only what both the OTel 2.x and 3.x lines export (sdk-node 0.301 dropped its namespaces).
  const { NodeSDK } = require('@opentelemetry/sdk-node');
  const { CompositePropagator } = require('@opentelemetry/core');
  const { NoopSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const sdk = new NodeSDK({
    // Spans are recorded but go nowhere: nothing is exported over the network.
    spanProcessors: [new NoopSpanProcessor()],
    textMapPropagator: new CompositePropagator({ propagators }),
    instrumentations,
    resourceDetectors: [],
  });
  sdk.start();
  return sdk;
}

/**
 * The standard composite of the README: W3C trace context, W3C baggage, routing, in that order;
 * `ROUTING_FIRST=1` in the environment puts the routing propagator first instead; `BRIDGE_ONLY=1`
 * leaves it out and enables the bridge alone.
 */
function w3cPropagators(RoutingPropagator, options) {
  const { W3CBaggagePropagator, W3CTraceContextPropagator } = require('@opentelemetry/core');
  const w3c = [new W3CTraceContextPropagator(), new W3CBaggagePropagator()];
  if (process.env.BRIDGE_ONLY === '1') {
    // No RoutingPropagator: OTel's baggage propagator alone, plus the bridge.
    require('routing-context/otel').enableOtelBridge(options);
    return w3c;
  }
  const routing = new RoutingPropagator(options);
  return process.env.ROUTING_FIRST === '1' ? [routing, ...w3c] : [...w3c, routing];
}

/** A plain `node:http` server answering with the routing headers it received, raw. */
function startEcho() {
  const server = http.createServer((req, res) => {
    const raw = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i].toLowerCase();
      if (
        name === 'baggage' ||
        name === 'traceparent' ||
        name === 'sd-routing-key' ||
        name === 'x-routing-key'
      ) {
        (raw[name] ??= []).push(req.rawHeaders[i + 1]);
      }
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(raw));
  });
  return listen(server);
}

/** Listens on port 0 and resolves with `{ server, port }`. */
function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port }));
  });
}

/** One HTTP request through `http.request` (instrumented when the SDK patched it); resolves with the JSON body. */
function request(port, path, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        data += chunk;
      });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${method} ${path}: ${res.statusCode} ${data}`));
        else {
          try {
            resolve(JSON.parse(data));
          } catch (error) {
            reject(error);
          }
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Every `sd-routing-key` / `sd-sandbox` member of a list of raw `baggage` header values. */
function routingMembers(baggageHeaders) {
  return (baggageHeaders ?? [])
    .flatMap((h) => h.split(','))
    .map((m) => m.trim())
    .filter((m) => m.startsWith('sd-routing-key=') || m.startsWith('sd-sandbox='));
}

/** Prints the result line and exits (servers, SDK timers and sockets may keep the loop alive). */
function finish(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

/** Runs `main`, printing its result, or the error on stderr with exit code 1. */
function run(main) {
  const timer = setTimeout(() => {
    process.stderr.write('fixture timed out after 90 s\n');
    process.exit(2);
  }, 90_000);
  timer.unref();
  main().then(finish, (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  });
}

module.exports = { startSdk, w3cPropagators, startEcho, listen, request, routingMembers, run };
