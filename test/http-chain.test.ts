// End to end through the public entry points: client → Express A → (http.request) → Fastify B →
// (fetch) → Express C, for Express 4 and 5 and Fastify 4 and 5, with 1,000 interleaved keyed POSTs
// (50 keys) plus baseline requests, keep-alive sockets shared across keys.
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import fastify5, { type FastifyInstance } from 'fastify';
import fastify4 from 'fastify4';
import { getRoutingKey, routingHeaders } from 'routing-context';
import { routingMiddleware } from 'routing-context/express';
import { routingPlugin } from 'routing-context/fastify';
import { installHttpPropagation } from 'routing-context/http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

type ExpressFactory = typeof express5;
type FastifyFactory = typeof fastify5;

const KEYS = Array.from({ length: 50 }, (_, i) => `key${i.toString(36)}x${i}`);

interface Hop {
  key: string | null;
  ctx: string | null;
  baggage: string[];
  body: { id: number; a: string | null; b: string | null };
}

interface Answer {
  a: { ctx: string | null; afterAwait: string | null; url: string; query: Record<string, string> };
  b: { hooks: Record<string, string | null> };
  c: Hop;
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

/** A POST whose body is written in two chunks a turn apart, so parsers of many requests interleave. */
function post(agent: http.Agent, port: number, path: string, headers: Record<string, string>, body: unknown) {
  return new Promise<{ status: number; json: unknown }>((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        agent,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': payload.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) });
          } catch (error) {
            reject(error);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    const half = payload.length >> 1;
    req.write(payload.subarray(0, half));
    setImmediate(() => req.end(payload.subarray(half)));
  });
}

function countMembers(baggage: string[], name: string): number {
  return baggage
    .join(',')
    .split(',')
    .filter((m) => m.trim().startsWith(`${name}=`)).length;
}

// express@4 under an npm alias, without type declarations of its own.
const e4 = createRequire(import.meta.url)('express4') as ExpressFactory;
const f4 = fastify4 as unknown as FastifyFactory;
// [name, express, fastify, keyed requests, baseline requests]
const combos: Array<[string, ExpressFactory, FastifyFactory, number, number]> = [
  ['Express 5 → Fastify 5 → Express 5', express5, fastify5, 1000, 100],
  ['Express 4 → Fastify 4 → Express 4', e4, f4, 1000, 100],
  ['Express 4 → Fastify 5 → Express 5', e4, fastify5, 200, 20],
  ['Express 5 → Fastify 4 → Express 4', express5, f4, 200, 20],
];

describe.each(combos)('%s', (_name, express, fastify, KEYED, BASELINE) => {
  let uninstall: () => void;
  const servers: http.Server[] = [];
  let app: FastifyInstance;
  let portA = 0;
  let connectionsB = 0;
  let connectionsC = 0;
  const keysPerSocketB = new Map<object, Set<string>>();
  const finishSeen = new Map<number, string | null>();
  const agentAB = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const client = new http.Agent({ keepAlive: true, maxSockets: 64 });

  beforeAll(async () => {
    uninstall = installHttpPropagation();

    const c = express();
    c.use(routingMiddleware());
    c.use(express.json());
    c.post('/c', (req, res) => {
      const baggage: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        if (req.rawHeaders[i]!.toLowerCase() === 'baggage') baggage.push(req.rawHeaders[i + 1]!);
      }
      res.json({ key: req.routingKey ?? null, ctx: getRoutingKey() ?? null, baggage, body: req.body });
    });
    const serverC = http.createServer(c);
    serverC.on('connection', () => connectionsC++);
    servers.push(serverC);
    const portC = await listen(serverC);

    app = fastify();
    await app.register(routingPlugin);
    app.addHook('preParsing', async (request) => {
      (request as unknown as { hooks: Record<string, string | null> }).hooks = {
        preParsing: getRoutingKey() ?? null,
      };
    });
    for (const hook of ['preValidation', 'preHandler'] as const) {
      app.addHook(hook, async (request) => {
        (request as unknown as { hooks: Record<string, string | null> }).hooks[hook] =
          getRoutingKey() ?? null;
      });
    }
    app.post('/b', async (request) => {
      const hooks = (request as unknown as { hooks: Record<string, string | null> }).hooks;
      hooks.handler = getRoutingKey() ?? null;
      const socket = request.raw.socket;
      if (request.routingKey !== undefined) {
        let keys = keysPerSocketB.get(socket);
        if (keys === undefined) keysPerSocketB.set(socket, (keys = new Set()));
        keys.add(request.routingKey);
      }
      const body = request.body as { id: number; a: string | null };
      // A caller-supplied baggage member must survive the merge, in one header.
      const response = await fetch(`http://127.0.0.1:${portC}/c`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', baggage: 'hop=b' },
        body: JSON.stringify({ ...body, b: getRoutingKey() ?? null }),
      });
      hooks.afterFetch = getRoutingKey() ?? null;
      return { hooks, c: await response.json() };
    });
    await app.ready();
    app.server.on('connection', () => connectionsB++);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const portB = (app.server.address() as AddressInfo).port;

    const a = express();
    a.use(routingMiddleware());
    a.use(express.json());
    a.post('/a', async (req, res) => {
      const id = (req.body as { id: number }).id;
      res.on('finish', () => finishSeen.set(id, getRoutingKey() ?? null));
      const ctx = getRoutingKey() ?? null;
      await new Promise((r) => setImmediate(r));
      const afterAwait = getRoutingKey() ?? null;
      const upstream = await post(agentAB, portB, '/b', {}, { id, a: getRoutingKey() ?? null });
      const fromB = upstream.json as { hooks: Record<string, string | null>; c: Hop };
      res.json({
        a: { ctx, afterAwait, url: req.originalUrl, query: req.query },
        b: { hooks: fromB.hooks },
        c: fromB.c,
      });
    });
    const serverA = http.createServer(a);
    servers.push(serverA);
    portA = await listen(serverA);
  });

  afterAll(async () => {
    uninstall?.();
    agentAB.destroy();
    client.destroy();
    await app?.close();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it(`delivers each of ${KEYED} keyed + ${BASELINE} baseline POSTs with exactly its own key to the last hop`, async () => {
    const expected: Array<string | null> = [];
    // Baseline requests spread among the keyed ones.
    const every = Math.floor((KEYED + BASELINE) / BASELINE);
    for (let i = 0; i < KEYED + BASELINE; i++) {
      expected.push(
        i % every === every - 1 && Math.floor(i / every) < BASELINE ? null : KEYS[i % KEYS.length]!,
      );
    }
    // Exactly BASELINE baseline requests, the rest keyed.
    const baselineCount = expected.filter((k) => k === null).length;
    expect(baselineCount).toBe(BASELINE);
    expect(expected.length - baselineCount).toBe(KEYED);

    const answers = await Promise.all(
      expected.map((key, id) =>
        post(client, portA, '/a', key === null ? {} : routingHeaders(key), { id }).then((r) => {
          expect(r.status).toBe(200);
          return r.json as Answer;
        }),
      ),
    );

    let crossTalk = 0;
    answers.forEach((answer, id) => {
      const key = expected[id]!;
      const wrong =
        answer.c.key !== key ||
        answer.c.ctx !== key ||
        answer.c.body.id !== id ||
        answer.c.body.a !== key ||
        answer.c.body.b !== key ||
        answer.a.ctx !== key ||
        answer.a.afterAwait !== key ||
        Object.values(answer.b.hooks).some((k) => k !== key);
      if (wrong) crossTalk++;
      // One baggage header at the last hop; one routing member when keyed, none for baseline.
      expect(answer.c.baggage.length).toBe(1);
      expect(countMembers(answer.c.baggage, 'sd-routing-key')).toBe(key === null ? 0 : 1);
      expect(countMembers(answer.c.baggage, 'hop')).toBe(1);
      expect(Object.keys(answer.b.hooks).sort()).toEqual(
        ['afterFetch', 'handler', 'preHandler', 'preParsing', 'preValidation'].sort(),
      );
    });
    expect(crossTalk).toBe(0);
    expect(answers.map((a) => a.c.key)).toEqual(expected);

    // `res.on('finish')` listeners ran in their request's context.
    await vi.waitFor(() => expect(finishSeen.size).toBe(expected.length));
    for (const [id, key] of finishSeen) expect(key).toBe(expected[id]);

    // Keep-alive: a handful of sockets carried every request, each socket many keys.
    expect(connectionsB).toBeLessThanOrEqual(16);
    expect(connectionsC).toBeLessThan(200);
    const reused = [...keysPerSocketB.values()].filter((keys) => keys.size > 1);
    expect(reused.length).toBeGreaterThan(0);
  });

  it('carries a webhook’s ?sd-routing-key= to the last hop, and A’s app never sees the parameter', async () => {
    const webhooks = await Promise.all(
      KEYS.slice(0, 20).map((key, i) =>
        post(client, portA, `/a?sd-routing-key=${key}&source=hook`, {}, { id: 10_000 + i }).then(
          (r) => r.json as Answer,
        ),
      ),
    );
    webhooks.forEach((answer, i) => {
      const key = KEYS[i]!;
      expect(answer.c.key).toBe(key);
      expect(answer.c.body.a).toBe(key);
      expect(countMembers(answer.c.baggage, 'sd-routing-key')).toBe(1);
      expect(answer.a.url).toBe('/a?source=hook');
      expect(answer.a.query).toEqual({ source: 'hook' });
    });
  });
});
