// routing-context with Fastify: read the key on the way in, send it on every outbound call.
//
//   npx tsup && node --experimental-strip-types examples/fastify-minimal.ts   (Node >= 22.6)
//   curl -X POST -H 'baggage: sd-routing-key=pr-142' -H 'content-type: application/json' -d '{}' localhost:3000/orders
import Fastify from 'fastify';
import { routingPlugin } from 'routing-context/fastify';
import { installHttpPropagation } from 'routing-context/http';

installHttpPropagation(); // outbound http, https and fetch inside a request carry its key
const app = Fastify();
await app.register(routingPlugin); // every route, hook and POST body of this instance
app.post('/orders', async (request) => {
  const next = process.env.DOWNSTREAM_URL; // the next service: this call carries the key
  const status = next ? (await fetch(next)).status : null;
  return { routingKey: request.routingKey ?? null, body: request.body, downstreamStatus: status };
});
await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' });
