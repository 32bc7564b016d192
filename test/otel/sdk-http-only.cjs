// NodeSDK + instrumentation-http + RoutingPropagator, and NO routing middleware: the key arrives
// in `baggage`, is seen by getRoutingKey() in an Express handler through the bridge, and reaches
// the next hop through OTel's own injection, once, with the caller's other members kept.
'use strict';

const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { RoutingPropagator } = require('routing-context/otel');
const { startSdk, w3cPropagators, startEcho, listen, request, run } = require('./common.cjs');

run(async () => {
  startSdk({ instrumentations: [new HttpInstrumentation()], propagators: w3cPropagators(RoutingPropagator) });
  // Loaded after the SDK started, so the instrumentation patches what they use.
  const express = require('express');
  const { getRoutingKey } = require('routing-context');

  const echo = await startEcho();
  const app = express();
  app.get('/hop', async (req, res) => {
    const before = getRoutingKey();
    await new Promise((r) => setTimeout(r, Number(req.query.delay)));
    const downstream = await request(echo.port, '/echo');
    res.json({ before, after: getRoutingKey(), downstream });
  });
  const upstream = await listen(app.listen(0, '127.0.0.1'));

  const sent = Array.from({ length: 60 }, (_, i) => ({
    key: i % 6 === 5 ? undefined : `key-${i}`,
    // The caller's own members, around ours; every third request has none.
    baggage:
      i % 6 === 5
        ? `user=u${i}`
        : i % 3 === 0
          ? `sd-routing-key=key-${i}`
          : `user=u${i},sd-routing-key=key-${i},team=t${i}`,
  }));
  const results = await Promise.all(
    sent.map((s, i) =>
      request(upstream.port, `/hop?delay=${(i * 7) % 11}`, { headers: { baggage: s.baggage } }).then((r) => ({
        ...s,
        ...r,
      })),
    ),
  );
  return { results };
});
