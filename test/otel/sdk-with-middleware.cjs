// NodeSDK + instrumentation-http + RoutingPropagator, together with our Express middleware and
// our http propagation: both systems inject, yet the next hop gets exactly one `baggage` header
// holding exactly one routing member (and one dedicated header), over http.request and fetch.
'use strict';

const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici');
const { RoutingPropagator } = require('routing-context/otel');
const { startSdk, w3cPropagators, startEcho, listen, request, run } = require('./common.cjs');

run(async () => {
  const { configureRouting, getRoutingKey } = require('routing-context');
  configureRouting({ headers: ['x-routing-key'] });
  startSdk({
    instrumentations: [new HttpInstrumentation(), new UndiciInstrumentation()],
    propagators: w3cPropagators(RoutingPropagator),
  });
  const express = require('express');
  const { routingMiddleware } = require('routing-context/express');
  const { installHttpPropagation } = require('routing-context/http');
  installHttpPropagation();

  const echo = await startEcho();
  const app = express();
  app.use(routingMiddleware());
  app.use(express.json());
  const hop = async (req, res) => {
    const before = getRoutingKey();
    await new Promise((r) => setTimeout(r, Number(req.query.delay)));
    const downstream = await request(echo.port, '/echo');
    // Global fetch too: OTel's undici instrumentation and our fetch propagation both inject.
    const viaFetch = await (await fetch(`http://127.0.0.1:${echo.port}/echo`)).json();
    res.json({ before, after: getRoutingKey(), downstream, viaFetch, body: req.body ?? null });
  };
  app.get('/hop', hop);
  app.post('/hop', hop);
  const upstream = await listen(app.listen(0, '127.0.0.1'));

  const sent = Array.from({ length: 60 }, (_, i) => {
    const key = i % 10 === 9 ? undefined : `key-${i}`;
    const headers = {};
    if (key !== undefined && i % 3 === 0) headers['x-routing-key'] = key;
    else if (key !== undefined) headers.baggage = `user=u${i},sd-routing-key=${key}`;
    else headers.baggage = `user=u${i}`;
    return { key, headers, post: i % 2 === 1 };
  });
  const results = await Promise.all(
    sent.map((s, i) =>
      request(upstream.port, `/hop?delay=${(i * 7) % 11}`, {
        method: s.post ? 'POST' : 'GET',
        headers: s.post ? { ...s.headers, 'content-type': 'application/json' } : s.headers,
        body: s.post ? JSON.stringify({ i }) : undefined,
      }).then((r) => ({ ...s, ...r })),
    ),
  );
  return { results };
});
