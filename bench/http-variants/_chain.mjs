// Shared by the variants: the two-hop Express chain the benchmark drives.
//   client → A (GET /a) → http.request over a keep-alive agent → B (GET /b) → JSON back through A.
// B answers every variant with the same body, and keeps what reached it on its last request
// (`baggage`, whether a `traceparent` came) for `GET /__seen`, so the benchmarks can check that
// each variant really propagates what it claims. Echoing the header in the body instead would make
// variants that propagate more pay for longer bodies (JSON, ETag, writes) on both hops.
// Files whose name starts with `_` are not variants.
import http from 'node:http';

/** What B answers to every request of every variant. */
const BODY = { ok: true, items: [1, 2, 3] };

function listen(server) {
  // Idle keep-alive sockets stay open across the pauses between rounds: with Node's default of
  // 5 s, a server could close a socket just as its client reuses it (ECONNRESET, a failed request
  // that says nothing about the variant).
  server.keepAliveTimeout = 120_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

/**
 * Starts B then A and prints the variant contract line `{"a":<port>,"b":<port>}` on stdout.
 * @param {object} options
 * @param {Function} options.express - the express factory
 * @param {Function} [options.middleware] - returns a middleware installed first on A and B
 * @param {Function} [options.outboundHeaders] - called per request A sends to B, inside A's
 *   handler: the headers to send, or `undefined` for none
 */
export async function startChain({ express, middleware, outboundHeaders }) {
  const b = express();
  let seen = { baggage: null, traceparent: false };
  b.get('/__seen', (_req, res) => {
    res.json(seen);
  });
  if (middleware) b.use(middleware());
  b.get('/b', (req, res) => {
    const { baggage, traceparent } = req.headers;
    if (baggage !== seen.baggage || (traceparent !== undefined) !== seen.traceparent)
      seen = { baggage: baggage ?? null, traceparent: traceparent !== undefined };
    res.json(BODY);
  });
  const portB = await listen(http.createServer(b));

  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const a = express();
  let served = 0;
  // CPU time of this process (both hops), for the CPU-per-request column: far less sensitive to
  // other load on the machine than throughput.
  a.get('/__cpu', (_req, res) => {
    res.json({ cpu: process.cpuUsage(), served });
  });
  if (middleware) a.use(middleware());
  a.get('/a', (_req, res, next) => {
    served++;
    const target = { host: '127.0.0.1', port: portB, path: '/b', agent };
    const headers = outboundHeaders?.();
    if (headers !== undefined) target.headers = headers;
    const upstream = http.request(target, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        body += chunk;
      });
      response.on('end', () => {
        res.type('json').send(body);
      });
    });
    upstream.on('error', next);
    upstream.end();
  });
  const portA = await listen(http.createServer(a));

  process.stdout.write(`${JSON.stringify({ a: portA, b: portB })}\n`);
  // Exit with the benchmark, even if it dies without signalling.
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}
