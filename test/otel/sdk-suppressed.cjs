// Tracing suppressed for a route (instrumentation-http's ignoreIncomingRequestHook): OTel extracts
// nothing and injects nothing there, yet our middleware and http propagation still carry the key.
// Traced routes keep working side by side.
'use strict';

const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { RoutingPropagator } = require('routing-context/otel');
const { startSdk, w3cPropagators, startEcho, listen, request, run } = require('./common.cjs');

run(async () => {
  startSdk({
    instrumentations: [
      new HttpInstrumentation({ ignoreIncomingRequestHook: (req) => req.url.startsWith('/quiet') }),
    ],
    propagators: w3cPropagators(RoutingPropagator),
  });
  const express = require('express');
  const { getRoutingKey } = require('routing-context');
  const { routingMiddleware } = require('routing-context/express');
  const { installHttpPropagation } = require('routing-context/http');
  installHttpPropagation();

  const echo = await startEcho();
  const app = express();
  app.use(routingMiddleware());
  const hop = async (req, res) => {
    await new Promise((r) => setTimeout(r, Number(req.query.delay)));
    const downstream = await request(echo.port, '/echo');
    res.json({ seen: getRoutingKey(), downstream });
  };
  app.get('/quiet', hop);
  app.get('/traced', hop);
  const upstream = await listen(app.listen(0, '127.0.0.1'));

  const sent = Array.from({ length: 40 }, (_, i) => ({
    key: i % 8 === 7 ? undefined : `key-${i}`,
    path: i % 4 === 0 ? '/traced' : '/quiet',
  }));
  const results = await Promise.all(
    sent.map((s, i) =>
      request(upstream.port, `${s.path}?delay=${(i * 7) % 11}`, {
        headers: { baggage: s.key === undefined ? `user=u${i}` : `user=u${i},sd-routing-key=${s.key}` },
      }).then((r) => ({ ...s, ...r })),
    ),
  );
  return { results };
});
