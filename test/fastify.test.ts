// routingPlugin on real Fastify 4 and 5 servers: every hook and the handler see the request's key
// under interleaved concurrent POSTs, the plugin reaches encapsulated child contexts, the webhook
// query parameter is read then stripped, untrusted callers run as baseline.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform } from 'node:stream';
import fastify5, { type FastifyInstance } from 'fastify';
import fastify4 from 'fastify4';
import { getRoutingKey, routingHeaders, withRoutingKey } from 'routing-context';
import { routingPlugin } from 'routing-context/fastify';
import { installHttpPropagation } from 'routing-context/http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

type FastifyFactory = typeof fastify5;
const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

/** A request whose body (if any) is written in two chunks 15 ms apart, so parsers interleave. */
function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: payload === undefined ? headers : { ...headers, 'content-length': payload.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> });
          } catch {
            resolve({ status: res.statusCode ?? 0, json: { text } });
          }
        });
      },
    );
    req.on('error', reject);
    if (payload === undefined) {
      req.end();
      return;
    }
    const half = payload.length >> 1;
    req.write(payload.subarray(0, half));
    // The rest arrives later, after the hooks have attached their listeners.
    setTimeout(() => req.end(payload.subarray(half)), 15);
  });
}

async function start(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as AddressInfo).port;
}

type Seen = Record<string, string | null>;
const HOOKS = [
  'onRequest',
  'preParsing',
  'preValidation',
  'preHandler',
  'preSerialization',
  'onSend',
] as const;

describe.each([
  ['Fastify 5', fastify5],
  ['Fastify 4', fastify4 as unknown as FastifyFactory],
])('%s', (_name, fastify) => {
  let app: FastifyInstance;
  let downstream: FastifyInstance;
  let port = 0;
  let uninstall: () => void;
  const seenById = new Map<string, Seen>();
  const onResponseSeen = new Map<string, string | null>();

  beforeAll(async () => {
    uninstall = installHttpPropagation();
    downstream = fastify();
    await downstream.register(routingPlugin);
    downstream.get('/echo', async (request) => ({
      key: request.routingKey ?? null,
      baggage: request.headers.baggage ?? null,
    }));
    const downstreamPort = await start(downstream);

    app = fastify();
    await app.register(routingPlugin);
    // Hooks added after the plugin, on the root: each records the key it sees.
    for (const hook of HOOKS) {
      app.addHook(hook, async (request: { headers: http.IncomingHttpHeaders }) => {
        const id = request.headers['x-id'] as string;
        let seen = seenById.get(id);
        if (seen === undefined) seenById.set(id, (seen = {}));
        seen[hook] = getRoutingKey() ?? null;
      });
    }
    app.addHook('onResponse', async (request) => {
      onResponseSeen.set(request.headers['x-id'] as string, getRoutingKey() ?? null);
    });
    // A preParsing hook that listens to the raw request and swaps the payload stream, as
    // decompression plugins do. The raw `data` events of a body arriving in several packets are
    // emitted outside the request's context unless the plugin binds the emitter.
    app.addHook('preParsing', async (request, _reply, payload) => {
      const seen: Array<string | null> = [];
      (request as unknown as { streamSeen: typeof seen }).streamSeen = seen;
      request.raw.on('data', () => seen.push(getRoutingKey() ?? null));
      const relay = new Transform({
        transform(chunk, _encoding, done) {
          seen.push(getRoutingKey() ?? null);
          done(null, chunk);
        },
      });
      (relay as unknown as { receivedEncodedLength: number }).receivedEncodedLength = 0;
      return payload.pipe(relay);
    });
    // Routes in an encapsulated child context: the plugin must reach them too.
    await app.register(
      async (child) => {
        child.post('/orders', async (request) => {
          const before = getRoutingKey() ?? null;
          await new Promise((r) => setTimeout(r, 1));
          const response = await fetch(`http://127.0.0.1:${downstreamPort}/echo`);
          const echoed = (await response.json()) as { key: string | null; baggage: string | null };
          return {
            key: request.routingKey ?? null,
            streamSeen: (request as unknown as { streamSeen: unknown[] }).streamSeen,
            before,
            after: getRoutingKey() ?? null,
            body: request.body,
            downstream: echoed,
          };
        });
        child.post('/callback', (request, reply) => {
          setTimeout(() => {
            reply.send({
              key: request.routingKey ?? null,
              streamSeen: (request as unknown as { streamSeen: unknown[] }).streamSeen,
              inTimer: getRoutingKey() ?? null,
              body: request.body,
            });
          }, 1);
        });
      },
      { prefix: '/child' },
    );
    port = await start(app);
  });

  afterAll(async () => {
    uninstall?.();
    await app?.close();
    await downstream?.close();
  });

  it('keeps each POST’s key in every hook, the handler, callbacks, fetch and onResponse', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => (i % 10 === 9 ? undefined : `sbx-${i % 30}`));
    const results = await Promise.all(
      keys.map(async (key, i) => {
        const headers = {
          ...(key === undefined ? {} : routingHeaders(key)),
          'x-id': String(i),
          'content-type': 'application/json',
        };
        const body = JSON.stringify({ id: i, pad: 'y'.repeat(300) });
        const expected = key ?? null;
        const streamOk = (seen: unknown) =>
          Array.isArray(seen) && seen.length >= 2 && seen.every((k) => k === expected);
        if (i % 2 === 0) {
          const r = await send(port, 'POST', '/child/orders', headers, body);
          const downstreamSeen = r.json.downstream as { key: string | null; baggage: string | null };
          return (
            r.status === 200 &&
            r.json.key === expected &&
            streamOk(r.json.streamSeen) &&
            r.json.before === expected &&
            r.json.after === expected &&
            (r.json.body as { id: number }).id === i &&
            downstreamSeen.key === expected &&
            downstreamSeen.baggage === (key === undefined ? null : `sd-routing-key=${key}`)
          );
        }
        const r = await send(port, 'POST', '/child/callback', headers, body);
        return (
          r.status === 200 &&
          r.json.key === expected &&
          streamOk(r.json.streamSeen) &&
          r.json.inTimer === expected &&
          (r.json.body as { id: number }).id === i
        );
      }),
    );
    const wrong = results.map((ok, i) => (ok ? -1 : i)).filter((i) => i !== -1);
    expect(wrong).toEqual([]);
    await vi.waitFor(() => expect(onResponseSeen.size).toBe(keys.length));
    for (const [i, key] of keys.entries()) {
      const expected = key ?? null;
      expect(seenById.get(String(i))).toEqual(Object.fromEntries(HOOKS.map((h) => [h, expected])));
      expect(onResponseSeen.get(String(i))).toBe(expected);
    }
  });

  it('reads then strips the webhook query parameter from request.url and request.query', async () => {
    const hook = fastify();
    await hook.register(routingPlugin);
    hook.post('/hook', async (request) => ({
      key: request.routingKey ?? null,
      ctx: getRoutingKey() ?? null,
      url: request.url,
      query: { ...(request.query as object) },
    }));
    const p = await start(hook);
    try {
      const r = await send(p, 'POST', '/hook?x=1&sd-routing-key=wh-9&y=2');
      expect(r.json).toEqual({ key: 'wh-9', ctx: 'wh-9', url: '/hook?x=1&y=2', query: { x: '1', y: '2' } });
      const only = await send(p, 'POST', '/hook?sd-routing-key=wh-8');
      expect(only.json).toEqual({ key: 'wh-8', ctx: 'wh-8', url: '/hook', query: {} });
      const invalid = await send(p, 'POST', '/hook?sd-routing-key=%00&x=1');
      expect(invalid.json).toEqual({ key: null, ctx: null, url: '/hook?x=1', query: { x: '1' } });
    } finally {
      await hook.close();
    }
  });

  it('ignores routing headers from untrusted callers, and runs them as explicit baseline', async () => {
    // Created and started inside a routed context: nothing of it may leak into requests.
    const edge = withRoutingKey('leaky', () => fastify());
    await edge.register(routingPlugin, { trustIncoming: (req) => req.headers['x-internal'] === 'yes' });
    edge.post('/', async (request) => ({ key: request.routingKey ?? null, ctx: getRoutingKey() ?? null }));
    const p = await withRoutingKey('leaky', () => start(edge));
    try {
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => {
          const trusted = i % 2 === 0;
          const headers = {
            ...routingHeaders(`k${i}`),
            ...(trusted ? { 'x-internal': 'yes' } : {}),
            'content-type': 'application/json',
          };
          return send(p, 'POST', '/', headers, '{"a":1}').then((r) => ({ trusted, i, json: r.json }));
        }),
      );
      for (const { trusted, i, json } of results) {
        const expected = trusted ? `k${i}` : null;
        expect(json).toEqual({ key: expected, ctx: expected });
      }
    } finally {
      await edge.close();
    }
  });

  it('can be registered twice, and rejects bad options at start-up with a TypeError naming the option', async () => {
    const twice = fastify();
    await twice.register(routingPlugin);
    await twice.register(routingPlugin, { headers: ['x-routing-key'] });
    twice.get('/', async (request) => ({ key: request.routingKey ?? null }));
    const r = await twice.inject({ method: 'GET', url: '/', headers: { 'x-routing-key': 'dedicated' } });
    expect(r.json()).toEqual({ key: 'dedicated' });
    await twice.close();

    const bad = fastify();
    await expect(bad.register(routingPlugin, { validate: 'nope' as unknown as RegExp })).rejects.toThrow(
      /validate/,
    );
    await bad.close().catch(() => {});
  });
});
