// Shared by the variants: the two-hop Express chain the benchmark drives.
//   client → A (GET /a) → http.request over a keep-alive agent → B (GET /b) → JSON back through A.
// B answers with what reached it (`baggage`, whether a `traceparent` came), so bench/http.mjs can
// check, before measuring, that each variant really propagates what it claims.
// Files whose name starts with `_` are not variants.
import http from 'node:http';

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
  if (middleware) b.use(middleware());
  b.get('/b', (req, res) => {
    res.json({ baggage: req.headers.baggage ?? null, traceparent: req.headers.traceparent !== undefined });
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
