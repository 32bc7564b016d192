// A local HTTP emulator of the Signadot Routes API (GET /api/v1/workloads/routing-rules), with
// switches for the failure modes clients must survive: slow answers, garbage, HTTP errors, outage.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface EmulatedRule {
  routingKey: string;
  sandbox: string;
  baseline: { kind: string; namespace: string; name: string };
}

export type EmulatorMode = 'ok' | 'garbage' | 'wrong-shape' | 'http-500';

export interface RoutesEmulator {
  /** Base URL (what `routesApi({ url })` takes). */
  readonly url: string;
  rules: EmulatedRule[];
  mode: EmulatorMode;
  /** Delay before each answer, in ms. */
  delayMs: number;
  /** Requests received, per `destinationSandboxName` ('' for none). */
  readonly requests: Map<string, number>;
  /** Good answers sent, per `destinationSandboxName` ('' for none). */
  readonly answered: Map<string, number>;
  /** Every request's query string, in order. */
  readonly queries: URLSearchParams[];
  /** Stops answering: closes the server and every open connection (connections are refused). */
  down(): Promise<void>;
  /** Answers again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

const PATH = '/api/v1/workloads/routing-rules';

function bump(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

export async function startRoutesEmulator(rules: EmulatedRule[] = []): Promise<RoutesEmulator> {
  const sockets = new Set<Socket>();
  let port = 0;
  let server: Server;
  const emulator = {
    url: '',
    rules,
    mode: 'ok' as EmulatorMode,
    delayMs: 0,
    requests: new Map<string, number>(),
    answered: new Map<string, number>(),
    queries: [] as URLSearchParams[],
    down,
    up,
    close: down,
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    if (req.method !== 'GET' || url.pathname !== PATH) {
      res.writeHead(404).end();
      return;
    }
    const q = url.searchParams;
    emulator.queries.push(q);
    const sandbox = q.get('destinationSandboxName') ?? '';
    bump(emulator.requests, sandbox);
    if (emulator.delayMs > 0) await new Promise((r) => setTimeout(r, emulator.delayMs));
    if (res.destroyed) return;
    if (emulator.mode === 'http-500') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('internal error');
      return;
    }
    if (emulator.mode === 'garbage') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"routingRules": [ {"routingKey": ');
      return;
    }
    if (emulator.mode === 'wrong-shape') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ routingRules: [{ routingKey: 'ka', destinationSandbox: 'sb-a' }] }));
      return;
    }
    const routingRules = emulator.rules
      .filter(
        (r) =>
          (!q.has('baselineKind') || q.get('baselineKind') === r.baseline.kind) &&
          (!q.has('baselineNamespace') || q.get('baselineNamespace') === r.baseline.namespace) &&
          (!q.has('baselineName') || q.get('baselineName') === r.baseline.name) &&
          (!q.has('routingKey') || q.get('routingKey') === r.routingKey) &&
          (sandbox === '' || sandbox === r.sandbox),
      )
      .map((r) => ({
        routingKey: r.routingKey,
        baseline: r.baseline,
        destinationSandbox: { name: r.sandbox },
        mappings: [{ workloadPort: 8080, destinations: [{ host: `${r.sandbox}.svc`, port: 8080 }] }],
      }));
    bump(emulator.answered, sandbox);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ routingRules }));
  }

  function listen(): Promise<void> {
    server = createServer((req, res) => {
      handle(req, res).catch(() => res.destroy());
    });
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as AddressInfo).port;
        emulator.url = `http://127.0.0.1:${port}`;
        resolve();
      });
    });
  }

  async function down(): Promise<void> {
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  }

  async function up(): Promise<void> {
    if (!server.listening) await listen();
  }

  await listen();
  return emulator;
}
