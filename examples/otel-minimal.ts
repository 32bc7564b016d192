// routing-context with an existing OpenTelemetry set-up: three additions to the NodeSDK options
// (marked ADD) make a routing key one key, whether OTel or the routing middleware saw it first.
//
//   npx tsup && node --experimental-strip-types examples/otel-minimal.ts   (Node >= 22.6)
//   curl -H 'baggage: sd-routing-key=pr-142' localhost:3000/
import http from 'node:http';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { RoutingPropagator } from 'routing-context/otel'; // ADD 1

const sdk = new NodeSDK({
  // ADD 2 and 3: compose the routing propagator with the W3C ones (last is best).
  textMapPropagator: new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator(), new RoutingPropagator()],
  }),
  instrumentations: [new HttpInstrumentation()],
});
sdk.start();

// Load the frameworks after the SDK started, so its instrumentations patch them.
const { default: express } = await import('express');
const { getRoutingKey } = await import('routing-context');

const downstream = process.env.DOWNSTREAM_URL;
const app = express();
app.get('/', (_req, res) => {
  // No routing middleware: the key comes from the OTel baggage through the bridge.
  const routingKey = getRoutingKey() ?? null;
  if (downstream === undefined) {
    res.json({ routingKey });
    return;
  }
  // OTel's http instrumentation forwards the key in `baggage`: nothing to do here.
  http.get(downstream, (answer) => {
    answer.resume();
    res.json({ routingKey, downstreamStatus: answer.statusCode });
  });
});
const server = app.listen(Number(process.env.PORT ?? 3000));
process.on('SIGTERM', () => {
  server.close();
  void sdk.shutdown();
});
