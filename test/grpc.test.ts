import { once } from 'node:events';
import { createServer, type Server as HttpServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import express from 'express';
import {
  extractRoutingKey,
  getRoutingKey,
  type IncomingRequestLike,
  injectRoutingKey,
  routingHeaders,
  withRoutingKey,
} from 'routing-context';
import { routingMiddleware } from 'routing-context/express';
import { routingClientInterceptor, routingServerInterceptor } from 'routing-context/grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface EchoRequest {
  id: string;
  count?: number;
  downstream?: string;
}
interface EchoReply {
  id: string;
  seen: string[];
  downstreamKey: string;
  baggage: string;
  dedicated: string;
}
type Callback<T> = (error: grpc.ServiceError | null, value?: T) => void;
interface EchoClient extends grpc.Client {
  unary(request: EchoRequest, callback: Callback<EchoReply>): grpc.ClientUnaryCall;
  unary(request: EchoRequest, metadata: grpc.Metadata, callback: Callback<EchoReply>): grpc.ClientUnaryCall;
  serverStream(request: EchoRequest): grpc.ClientReadableStream<EchoReply>;
  clientStream(callback: Callback<EchoReply>): grpc.ClientWritableStream<EchoRequest>;
  bidi(): grpc.ClientDuplexStream<EchoRequest, EchoReply>;
}
type EchoClientConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => EchoClient;

const PROTO = fileURLToPath(new URL('./fixtures/grpc/echo.proto', import.meta.url));
const definition = protoLoader.loadSync(PROTO, { keepCase: false, defaults: true });
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  routing: { test: { Echo: EchoClientConstructor & { service: grpc.ServiceDefinition } } };
};
const Echo = loaded.routing.test.Echo;

const BASELINE = '(baseline)';
const seenKey = () => getRoutingKey() ?? BASELINE;
const pause = () => new Promise((r) => setTimeout(r, Math.floor(Math.random() * 5)));

/** The last hop: a plain node:http service that reports the key it received. */
function startDownstream(): Promise<HttpServer> {
  const server = createServer((req, res) => {
    res.end(extractRoutingKey(req.headers) ?? BASELINE);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** An outbound HTTP call that carries the active key, the way an instrumented service would. */
function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: injectRoutingKey({}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

function replyFor(id: string, seen: string[], metadata: grpc.Metadata, downstreamKey = ''): EchoReply {
  return {
    id,
    seen,
    downstreamKey,
    baggage: String(metadata.get('baggage')[0] ?? ''),
    dedicated: String(metadata.get('sd-routing-key')[0] ?? ''),
  };
}

const implementation: grpc.UntypedServiceImplementation = {
  async unary(call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, callback: grpc.sendUnaryData<EchoReply>) {
    const seen = [seenKey()];
    await pause();
    seen.push(seenKey());
    const downstreamKey = call.request.downstream ? await httpGet(call.request.downstream) : '';
    seen.push(seenKey());
    callback(null, replyFor(call.request.id, seen, call.metadata, downstreamKey));
  },
  async serverStream(call: grpc.ServerWritableStream<EchoRequest, EchoReply>) {
    const count = call.request.count || 3;
    for (let i = 0; i < count; i++) {
      const seen = [seenKey()];
      await pause();
      seen.push(seenKey());
      // The write callback runs in the caller's context too.
      await new Promise<void>((resolve) =>
        call.write(replyFor(call.request.id, seen, call.metadata), () => {
          if (seenKey() !== seen[0]) seen.push(`write callback saw ${seenKey()}`);
          resolve();
        }),
      );
    }
    call.end();
  },
  clientStream(
    call: grpc.ServerReadableStream<EchoRequest, EchoReply>,
    callback: grpc.sendUnaryData<EchoReply>,
  ) {
    const seen = [seenKey()];
    let id = '';
    call.on('data', (message: EchoRequest) => {
      id = message.id;
      seen.push(seenKey());
    });
    call.on('end', async () => {
      seen.push(seenKey());
      await pause();
      seen.push(seenKey());
      callback(null, replyFor(id, seen, call.metadata));
    });
  },
  bidi(call: grpc.ServerDuplexStream<EchoRequest, EchoReply>) {
    const pending: Promise<void>[] = [];
    call.on('data', (message: EchoRequest) => {
      pending.push(
        (async () => {
          const seen = [seenKey()];
          await pause();
          seen.push(seenKey());
          call.write(replyFor(message.id, seen, call.metadata));
        })(),
      );
    });
    call.on('end', async () => {
      const seen = [seenKey()];
      await Promise.all(pending);
      seen.push(seenKey());
      call.write(replyFor('end', seen, call.metadata));
      call.end();
    });
  },
};

let grpcServer: grpc.Server;
let grpcPort: number;
let downstream: HttpServer;
let downstreamUrl: string;

function startGrpc(interceptors: grpc.ServerInterceptor[]): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({ interceptors });
  server.addService(Echo.service, implementation);
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve({ server, port }),
    ),
  );
}

function client(options: Parameters<typeof routingClientInterceptor>[0] = {}, port = grpcPort): EchoClient {
  const target = `127.0.0.1:${port}`;
  return new Echo(target, grpc.credentials.createInsecure(), {
    interceptors: [routingClientInterceptor({ target, ...options })],
  });
}

function unary(c: EchoClient, req: EchoRequest, metadata = new grpc.Metadata()): Promise<EchoReply> {
  return new Promise((resolve, reject) =>
    c.unary(req, metadata, (error, value) => (error ? reject(error) : resolve(value!))),
  );
}

beforeAll(async () => {
  ({ server: grpcServer, port: grpcPort } = await startGrpc([routingServerInterceptor()]));
  downstream = await startDownstream();
  downstreamUrl = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}/who`;
});

afterAll(async () => {
  grpcServer.forceShutdown();
  downstream.close();
});

const keys = [...Array.from({ length: 20 }, (_, i) => `key-${i}`), undefined];

describe('routing-context/grpc', () => {
  it('keeps the key across HTTP (Express) -> gRPC -> HTTP, for concurrent requests', async () => {
    const c = client();
    const app = express();
    app.use(routingMiddleware());
    app.get('/hop', async (req, res) => {
      const reply = await unary(c, { id: String(req.query.id), downstream: downstreamUrl });
      res.json({ express: seenKey(), reply });
    });
    const http = app.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    try {
      const results = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const key = keys[i % keys.length];
          const response = await fetch(`${base}/hop?id=${i}`, { headers: key ? routingHeaders(key) : {} });
          return {
            key: key ?? BASELINE,
            i,
            body: (await response.json()) as { express: string; reply: EchoReply },
          };
        }),
      );
      for (const { key, i, body } of results) {
        expect(body.reply.id).toBe(String(i));
        expect({
          express: body.express,
          seen: body.reply.seen,
          downstream: body.reply.downstreamKey,
        }).toEqual({
          express: key,
          seen: [key, key, key],
          downstream: key,
        });
      }
    } finally {
      http.close();
      c.close();
    }
  });

  it('never crosses keys between concurrent calls of all four kinds', async () => {
    const c = client();
    const mismatches: string[] = [];
    const check = (label: string, expected: string, values: string[]) => {
      for (const v of values) if (v !== expected) mismatches.push(`${label}: expected ${expected}, saw ${v}`);
    };
    const calls = Array.from({ length: 240 }, (_, i) => {
      const key = keys[i % keys.length];
      const expected = key ?? BASELINE;
      const id = `call-${i}`;
      return withRoutingKey(key, async () => {
        await pause();
        switch (i % 4) {
          case 0: {
            const reply = await unary(c, { id });
            check(`unary ${i}`, expected, [...reply.seen, seenKey()]);
            break;
          }
          case 1: {
            const stream = c.serverStream({ id, count: 3 });
            let replies = 0;
            stream.on('data', (reply: EchoReply) => {
              replies++;
              check(`server-stream ${i}`, expected, [...reply.seen, seenKey()]);
            });
            await once(stream, 'end');
            check(`server-stream end ${i}`, expected, [seenKey()]);
            if (replies !== 3) mismatches.push(`server-stream ${i}: ${replies} replies`);
            break;
          }
          case 2: {
            const reply = await new Promise<EchoReply>((resolve, reject) => {
              const stream = c.clientStream((error, value) => {
                check(`client-stream callback ${i}`, expected, [seenKey()]);
                return error ? reject(error) : resolve(value!);
              });
              stream.write({ id });
              stream.write({ id });
              stream.end();
            });
            check(`client-stream ${i}`, expected, reply.seen);
            if (reply.seen.length !== 5) mismatches.push(`client-stream ${i}: ${reply.seen.length} steps`);
            break;
          }
          default: {
            const stream = c.bidi();
            const replies: EchoReply[] = [];
            stream.on('data', (reply: EchoReply) => {
              check(`bidi data ${i}`, expected, [seenKey()]);
              replies.push(reply);
            });
            stream.write({ id: `${id}-a` });
            await pause();
            stream.write({ id: `${id}-b` });
            stream.end();
            await once(stream, 'end');
            for (const reply of replies) check(`bidi ${i}`, expected, reply.seen);
            if (replies.length !== 3) mismatches.push(`bidi ${i}: ${replies.length} replies`);
          }
        }
      });
    });
    await Promise.all(calls);
    c.close();
    expect(mismatches).toEqual([]);
  });

  it('writes into a copy of the metadata, merging baggage, and never changes the caller’s', async () => {
    const c = client();
    const metadata = new grpc.Metadata();
    metadata.set('baggage', 'userId=alice,sd-routing-key=stale');
    metadata.set('x-tenant', 'acme');
    const routed = await withRoutingKey('pr-142', () => unary(c, { id: 'copy' }, metadata));
    expect(routed.seen).toEqual(['pr-142', 'pr-142', 'pr-142']);
    expect(routed.baggage).toBe('sd-routing-key=pr-142,userId=alice');
    expect(routed.dedicated).toBe('pr-142');
    expect(metadata.getMap()).toEqual({ baggage: 'userId=alice,sd-routing-key=stale', 'x-tenant': 'acme' });
    // Reused for a baseline call it carries no key of ours (only the caller's own baggage).
    const fresh = new grpc.Metadata();
    fresh.set('x-tenant', 'acme');
    const baseline = await unary(c, { id: 'reuse' }, fresh);
    expect(baseline.seen).toEqual([BASELINE, BASELINE, BASELINE]);
    expect(fresh.getMap()).toEqual({ 'x-tenant': 'acme' });
    c.close();
  });

  it('respects propagateTo against the channel target and fails closed without one', async () => {
    const cases: Array<[Parameters<typeof routingClientInterceptor>[0], string]> = [
      [{ propagateTo: { deny: ['127.0.0.1'] } }, BASELINE],
      [{ propagateTo: { allow: ['127.0.0.1'] } }, 'pr-7'],
      [{ propagateTo: { allow: ['api.example.com'] } }, BASELINE],
    ];
    for (const [options, expected] of cases) {
      const c = client(options);
      const reply = await withRoutingKey('pr-7', () => unary(c, { id: 'p' }));
      expect(reply.seen[0]).toBe(expected);
      c.close();
    }
    const target = `dns:///127.0.0.1:${grpcPort}`;
    const noTarget = new Echo(target, grpc.credentials.createInsecure(), {
      interceptors: [routingClientInterceptor({ propagateTo: { allow: ['127.0.0.1'] } })],
    });
    expect((await withRoutingKey('pr-7', () => unary(noTarget, { id: 'p' }))).seen[0]).toBe(BASELINE);
    noTarget.close();
    const schemeTarget = new Echo(target, grpc.credentials.createInsecure(), {
      interceptors: [routingClientInterceptor({ target, propagateTo: { allow: ['127.0.0.1'] } })],
    });
    expect((await withRoutingKey('pr-7', () => unary(schemeTarget, { id: 'p' }))).seen[0]).toBe('pr-7');
    schemeTarget.close();
  });

  it('honours trustIncoming on the server', async () => {
    const untrusting = await startGrpc([routingServerInterceptor({ trustIncoming: false })]);
    const predicate = await startGrpc([
      routingServerInterceptor({
        trustIncoming: (req: IncomingRequestLike) => req.headers['x-internal'] === 'yes',
      }),
    ]);
    try {
      const a = client({}, untrusting.port);
      expect((await withRoutingKey('pr-9', () => unary(a, { id: 't' }))).seen).toEqual([
        BASELINE,
        BASELINE,
        BASELINE,
      ]);
      a.close();
      const b = client({}, predicate.port);
      const internal = new grpc.Metadata();
      internal.set('x-internal', 'yes');
      expect((await withRoutingKey('pr-9', () => unary(b, { id: 't' }, internal))).seen[0]).toBe('pr-9');
      expect((await withRoutingKey('pr-9', () => unary(b, { id: 't' }))).seen[0]).toBe(BASELINE);
      b.close();
    } finally {
      untrusting.server.forceShutdown();
      predicate.server.forceShutdown();
    }
  });

  it('does not crash a call whose key is valid but not printable ASCII', async () => {
    const anyKey = { validate: (key: string) => key.length < 64 };
    const server = await startGrpc([routingServerInterceptor(anyKey)]);
    const c = client(anyKey, server.port);
    try {
      const key = 'café-ü';
      // withRoutingKey validates against the process-wide options: run with the core's internal
      // runner through a validated outer context instead.
      const reply = await new Promise<EchoReply>((resolve, reject) => {
        const store = (globalThis as unknown as Record<symbol, { als: { run: Function } }>)[
          Symbol.for('routing-context.store.v1')
        ]!;
        store.als.run(key, () => {
          c.unary({ id: 'u' }, (error, value) => (error ? reject(error) : resolve(value!)));
        });
      });
      expect(reply.seen[0]).toBe(key);
      expect(reply.dedicated).toBe('');
      expect(reply.baggage).toBe('sd-routing-key=caf%C3%A9-%C3%BC');
    } finally {
      c.close();
      server.server.forceShutdown();
    }
  });

  it('runs client callbacks in the caller’s context for calls queued before the channel connects', async () => {
    // Calls made before the channel is READY are started later, from the connection's callbacks.
    const c = client();
    const results = await Promise.all(
      keys.map((key) =>
        withRoutingKey(key, async () => {
          const viaCallback = await new Promise<string>((resolve, reject) =>
            c.unary({ id: 'queued' }, (error) => (error ? reject(error) : resolve(seenKey()))),
          );
          const stream = c.serverStream({ id: 'queued', count: 2 });
          const viaEvents: string[] = [];
          stream.on('data', () => viaEvents.push(seenKey()));
          stream.on('status', () => viaEvents.push(seenKey()));
          await once(stream, 'end');
          return [viaCallback, ...viaEvents];
        }),
      ),
    );
    expect(results).toEqual(keys.map((k) => [k ?? BASELINE, k ?? BASELINE, k ?? BASELINE, k ?? BASELINE]));
    c.close();
  });

  it('runs client callbacks in the caller’s context even on a connection opened by another', async () => {
    const c = client();
    // The HTTP/2 session is opened from inside key A.
    await withRoutingKey('opener', () => unary(c, { id: 'open' }));
    const results = await Promise.all(
      keys.map((key) =>
        withRoutingKey(
          key,
          () =>
            new Promise<string>((resolve, reject) =>
              c.unary({ id: 'cb' }, (error) => (error ? reject(error) : resolve(seenKey()))),
            ),
        ),
      ),
    );
    expect(results).toEqual(keys.map((k) => k ?? BASELINE));
    c.close();
  });
});
