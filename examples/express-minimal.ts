// routing-context with Express: read the key on the way in, send it on every outbound call.
//
//   npx tsup && node --experimental-strip-types examples/express-minimal.ts   (Node >= 22.6)
//   curl -X POST -H 'baggage: sd-routing-key=pr-142' -H 'content-type: application/json' -d '{}' localhost:3000/orders
import express from 'express';
import { routingMiddleware } from 'routing-context/express';
import { installHttpPropagation } from 'routing-context/http';

installHttpPropagation(); // outbound http, https and fetch inside a request carry its key
const app = express();
app.use(routingMiddleware()); // first, before body parsers and routes
app.use(express.json());
app.post('/orders', async (req, res) => {
  const next = process.env.DOWNSTREAM_URL; // the next service: this call carries the key
  const status = next ? (await fetch(next)).status : null;
  res.json({ routingKey: req.routingKey ?? null, body: req.body, downstreamStatus: status });
});
app.listen(Number(process.env.PORT ?? 3000));
