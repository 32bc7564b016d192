// No OpenTelemetry SDK registered at all: the otel entry point is loaded and its bridge enabled,
// but no context manager or propagator exists. A routed Express -> http hop must work as without
// it (the bridge sees an always-empty OTel context).
'use strict';

const { startEcho, listen, request, run } = require('./common.cjs');

run(async () => {
  const { enableOtelBridge, RoutingPropagator } = require('routing-context/otel');
  const { propagation, context } = require('@opentelemetry/api');
  enableOtelBridge();
  const express = require('express');
  const { getRoutingKey, withRoutingKey } = require('routing-context');
  const { routingMiddleware } = require('routing-context/express');
  const { installHttpPropagation } = require('routing-context/http');
  installHttpPropagation();

  const echo = await startEcho();
  const app = express();
  app.use(routingMiddleware());
  app.use(express.json());
  app.post('/hop', async (req, res) => {
    await new Promise((r) => setTimeout(r, Number(req.query.delay)));
    const downstream = await request(echo.port, '/echo');
    res.json({ seen: getRoutingKey(), downstream, body: req.body });
  });
  const upstream = await listen(app.listen(0, '127.0.0.1'));

  const sent = Array.from({ length: 40 }, (_, i) => ({ key: i % 8 === 7 ? undefined : `key-${i}` }));
  const results = await Promise.all(
    sent.map((s, i) =>
      request(upstream.port, `/hop?delay=${(i * 7) % 11}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(s.key === undefined ? {} : { baggage: `sd-routing-key=${s.key}` }),
        },
        body: JSON.stringify({ i }),
      }).then((r) => ({ ...s, ...r })),
    ),
  );
  // The propagator also works standalone (no global registration), on plain carriers.
  const propagator = new RoutingPropagator();
  const standalone = {};
  withRoutingKey('standalone', () =>
    propagator.inject(context.active(), standalone, { set: (c, k, v) => (c[k] = v) }),
  );
  return {
    results,
    standalone,
    globals: { propagatorFields: propagation.fields(), contextManagerActive: context.active() !== undefined },
  };
});
