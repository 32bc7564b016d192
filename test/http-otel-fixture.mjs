// Fixture of test/http-otel.test.ts, run in its own process by it: the OpenTelemetry SDK patches
// `http` and subscribes to undici globally, which must not leak into other tests. Prints ONE line
// of JSON (the results of every phase) on stdout.
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { installHttpPropagation } = require('routing-context/http');
const { routingMiddleware } = require('routing-context/express');
const { getRoutingKey } = require('routing-context');

// Installed BEFORE the SDK starts: our undici subscriber runs before OTel's, whose later
// `addHeader('baggage', …)` must be merged, not appended.
let uninstall = installHttpPropagation();

process.env.OTEL_TRACES_EXPORTER = 'none';
process.env.OTEL_METRICS_EXPORTER = 'none';
process.env.OTEL_LOGS_EXPORTER = 'none';
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici');
const { AlwaysOffSampler } = require('@opentelemetry/sdk-trace-base');
const {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} = require('@opentelemetry/core');
const sdk = new NodeSDK({
  sampler: new AlwaysOffSampler(),
  textMapPropagator: new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  }),
  instrumentations: [new HttpInstrumentation(), new UndiciInstrumentation()],
  resourceDetectors: [],
});
sdk.start();
// Loaded after the SDK, so instrumentation-http has patched `http` for it.
const express = require('express');

function listen(server) {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

const echoPort = await listen(
  http.createServer((req, res) => {
    const wire = { baggage: [], traceparent: 0 };
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i].toLowerCase();
      if (name === 'baggage') wire.baggage.push(req.rawHeaders[i + 1]);
      if (name === 'traceparent') wire.traceparent++;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(wire));
  }),
);

const app = express();
app.use(routingMiddleware());
app.get('/fetch', async (req, res) => {
  const response = await fetch(`http://127.0.0.1:${echoPort}/`, { headers: { baggage: 'hop=a' } });
  res.json({ key: req.routingKey ?? null, ctx: getRoutingKey() ?? null, wire: await response.json() });
});
app.get('/http', (req, res) => {
  http.get({ host: '127.0.0.1', port: echoPort, path: '/' }, (upstream) => {
    let text = '';
    upstream.on('data', (c) => {
      text += c;
    });
    upstream.on('end', () =>
      res.json({ key: req.routingKey ?? null, ctx: getRoutingKey() ?? null, wire: JSON.parse(text) }),
    );
  });
});
const appPort = await listen(http.createServer(app));

/** 100 keyed (20 keys) + 20 baseline requests, concurrent; each carries another baggage member. */
async function burst(path) {
  const sent = Array.from({ length: 120 }, (_, i) => ({
    key: i % 6 === 5 ? null : `otel-${i % 20}`,
    user: `u${i}`,
  }));
  return Promise.all(
    sent.map(async ({ key, user }) => {
      const baggage = key === null ? `user=${user}` : `user=${user},sd-routing-key=${key}`;
      const response = await fetch(`http://127.0.0.1:${appPort}${path}`, { headers: { baggage } });
      return { key, user, answer: await response.json() };
    }),
  );
}

const result = { ourSubscriberFirst: { fetch: await burst('/fetch'), http: await burst('/http') } };
uninstall();
uninstall = installHttpPropagation();
result.ourSubscriberLast = { fetch: await burst('/fetch'), http: await burst('/http') };
uninstall();
await sdk.shutdown();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
