// routingMiddleware on real Express 4 and 5 servers: the context survives body parsers, req/res
// events, callbacks and piped streams under interleaved concurrent requests; trustIncoming, the
// webhook query parameter and start-up validation.
import { readFile } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Readable, Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import express5 from 'express';
import { getRoutingKey, routingHeaders, withRoutingKey } from 'routing-context';
import { routingMiddleware } from 'routing-context/express';
import { installHttpPropagation } from 'routing-context/http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

type ExpressFactory = typeof express5;
// express@4 under an npm alias, without type declarations of its own.
const express4 = createRequire(import.meta.url)('express4') as ExpressFactory;
const THIS_FILE = fileURLToPath(import.meta.url);

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

/**
 * A request whose body (if any) is written in two chunks a turn apart (or `gapMs` apart), so
 * parsers interleave.
 */
function send(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
  gapMs?: number,
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
    if (gapMs === undefined) setImmediate(() => req.end(payload.subarray(half)));
    else setTimeout(() => req.end(payload.subarray(half)), gapMs);
  });
}

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

const close = (server: http.Server) => new Promise((r) => server.close(r));

describe.each([
  ['Express 5', express5],
  ['Express 4', express4],
])('%s', (_name, express) => {
  const servers: http.Server[] = [];
  let port = 0;
  let downstreamPort = 0;
  let uninstall: () => void;
  const finishSeen = new Map<string, string | null>();

  beforeAll(async () => {
    uninstall = installHttpPropagation();
    // Echoes the key it receives: the outbound hop of the routes below.
    const downstream = express();
    downstream.use(routingMiddleware());
    downstream.get('/echo', (req, res) => {
      res.json({ key: req.routingKey ?? null, baggage: req.headers.baggage ?? null });
    });
    const downstreamServer = http.createServer(downstream);
    servers.push(downstreamServer);
    downstreamPort = await listen(downstreamServer);

    const app = express();
    app.use(routingMiddleware());
    app.use(express.json());
    app.use(express.urlencoded({ extended: false }));
    app.use((req, res, next) => {
      const id = req.headers['x-id'] as string;
      res.on('finish', () => finishSeen.set(id, getRoutingKey() ?? null));
      next();
    });
    app.post('/json', async (req, res) => {
      const before = getRoutingKey() ?? null;
      await new Promise((r) => setTimeout(r, 1));
      res.json({ key: req.routingKey ?? null, before, after: getRoutingKey() ?? null, body: req.body });
    });
    app.post('/form', (req, res) => {
      res.json({ key: req.routingKey ?? null, ctx: getRoutingKey() ?? null, body: req.body });
    });
    app.get('/callback', (req, res) => {
      setTimeout(() => {
        const inTimer = getRoutingKey() ?? null;
        readFile(THIS_FILE, () => {
          res.json({ key: req.routingKey ?? null, inTimer, inFsCallback: getRoutingKey() ?? null });
        });
      }, 1);
    });
    app.get('/stream', (req, res) => {
      const seen: Array<string | null> = [];
      const source = Readable.from(['a', 'b', 'c'], { objectMode: false });
      const recorder = new Transform({
        transform(chunk, _encoding, done) {
          seen.push(getRoutingKey() ?? null);
          done(null, chunk);
        },
        flush(done) {
          seen.push(getRoutingKey() ?? null);
          this.push(`|${JSON.stringify(seen)}|${req.routingKey ?? 'baseline'}`);
          done();
        },
      });
      res.setHeader('content-type', 'text/plain');
      source.pipe(recorder).pipe(res);
    });
    // Listeners of the raw request, as hand-written and older body parsers attach them: the data
    // and end events of a body arriving in several packets are emitted outside the request's
    // context unless the middleware binds the emitter.
    app.post('/raw', (req, res) => {
      const seen: Array<string | null> = [];
      req.on('data', () => seen.push(getRoutingKey() ?? null));
      req.on('end', () => {
        seen.push(getRoutingKey() ?? null);
        res.on('finish', () => finishSeen.set(`raw-${req.headers['x-id']}`, getRoutingKey() ?? null));
        res.json({ key: req.routingKey ?? null, seen });
      });
    });
    app.get('/outbound', (req, res) => {
      http
        .get(`http://127.0.0.1:${downstreamPort}/echo`, (upstream) => {
          let text = '';
          upstream.on('data', (c: Buffer) => (text += c));
          upstream.on('end', () => res.json({ key: req.routingKey ?? null, downstream: JSON.parse(text) }));
        })
        .on('error', (error) => res.status(500).json({ error: String(error) }));
    });
    const server = http.createServer(app);
    servers.push(server);
    port = await listen(server);
  });

  afterAll(async () => {
    uninstall?.();
    await Promise.all(servers.map(close));
  });

  it('keeps each request’s key through json and urlencoded bodies, raw req/res listeners, awaits, timers, fs callbacks, piped streams and res.on("finish")', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => (i % 10 === 9 ? undefined : `pr-${i % 30}`));
    const results = await Promise.all(
      keys.map(async (key, i) => {
        const headers = { ...(key === undefined ? {} : routingHeaders(key)), 'x-id': String(i) };
        const expected = key ?? null;
        switch (i % 6) {
          case 0: {
            const r = await send(
              port,
              'POST',
              '/json',
              { ...headers, 'content-type': 'application/json' },
              '{"n":1}',
            );
            return (
              [r.json.key, r.json.before, r.json.after].every((v) => v === expected) &&
              (r.json.body as { n: number }).n === 1
            );
          }
          case 1: {
            const r = await send(
              port,
              'POST',
              '/form',
              { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
              `id=${i}&pad=${'x'.repeat(200)}`,
            );
            return (
              r.json.key === expected &&
              r.json.ctx === expected &&
              (r.json.body as { id: string }).id === String(i)
            );
          }
          case 2: {
            const r = await send(port, 'GET', '/callback', headers);
            return r.json.key === expected && r.json.inTimer === expected && r.json.inFsCallback === expected;
          }
          case 3: {
            const r = await send(port, 'GET', '/stream', headers);
            const [, seen, tail] = String(r.json.text).split('|');
            return (
              tail === (key ?? 'baseline') && (JSON.parse(seen!) as unknown[]).every((k) => k === expected)
            );
          }
          case 4: {
            const r = await send(port, 'POST', '/raw', headers, 'x'.repeat(64));
            const seen = r.json.seen as unknown[];
            return r.json.key === expected && seen.length >= 2 && seen.every((k) => k === expected);
          }
          default: {
            const r = await send(port, 'GET', '/outbound', headers);
            const downstream = r.json.downstream as { key: string | null; baggage: string | null };
            return (
              r.json.key === expected &&
              downstream.key === expected &&
              downstream.baggage === (key === undefined ? null : `sd-routing-key=${key}`)
            );
          }
        }
      }),
    );
    const wrong = results.map((ok, i) => (ok ? -1 : i)).filter((i) => i !== -1);
    expect(wrong).toEqual([]);
    const raw = keys.filter((_, i) => i % 6 === 4).length;
    await vi.waitFor(() => expect(finishSeen.size).toBe(keys.length + raw));
    for (const [i, key] of keys.entries()) {
      expect(finishSeen.get(String(i))).toBe(key ?? null);
      if (i % 6 === 4) expect(finishSeen.get(`raw-${i}`)).toBe(key ?? null);
    }
  });

  it('reads then strips the webhook query parameter from req.url, req.originalUrl and req.query', async () => {
    const app = express();
    app.use(routingMiddleware());
    const capture = (req: express5.Request, res: express5.Response) => {
      res.json({
        key: req.routingKey ?? null,
        ctx: getRoutingKey() ?? null,
        url: req.url,
        originalUrl: req.originalUrl,
        query: req.query,
      });
    };
    app.post('/hook', capture);
    const router = express.Router();
    router.post('/hook', capture);
    app.use('/api', router);
    const server = http.createServer(app);
    const p = await listen(server);
    try {
      const direct = await send(p, 'POST', '/hook?x=1&sd-routing-key=wh-1&y=2');
      expect(direct.json).toEqual({
        key: 'wh-1',
        ctx: 'wh-1',
        url: '/hook?x=1&y=2',
        originalUrl: '/hook?x=1&y=2',
        query: { x: '1', y: '2' },
      });
      const mounted = await send(p, 'POST', '/api/hook?sd-routing-key=wh-2');
      expect(mounted.json).toEqual({
        key: 'wh-2',
        ctx: 'wh-2',
        url: '/hook',
        originalUrl: '/api/hook',
        query: {},
      });
      // An invalid value counts as absent, and is stripped all the same.
      const invalid = await send(p, 'POST', '/hook?sd-routing-key=%20bad%20&x=1');
      expect(invalid.json).toEqual({
        key: null,
        ctx: null,
        url: '/hook?x=1',
        originalUrl: '/hook?x=1',
        query: { x: '1' },
      });
      // A header wins over the query parameter.
      const both = await send(p, 'POST', '/hook?sd-routing-key=from-query', routingHeaders('from-header'));
      expect(both.json.key).toBe('from-header');
    } finally {
      await close(server);
    }
  });

  it('ignores routing headers from untrusted callers, and runs them as explicit baseline', async () => {
    const app = express();
    app.use(routingMiddleware({ trustIncoming: (req) => req.headers['x-internal'] === 'yes' }));
    app.get('/', (req, res) => {
      http.get(`http://127.0.0.1:${downstreamPort}/echo`, (upstream) => {
        let text = '';
        upstream.on('data', (c: Buffer) => (text += c));
        upstream.on('end', () =>
          res.json({
            key: req.routingKey ?? null,
            ctx: getRoutingKey() ?? null,
            downstream: JSON.parse(text),
          }),
        );
      });
    });
    // A server started inside a routed context: without an explicit baseline context, its
    // requests would inherit 'leaky'.
    const server = withRoutingKey('leaky', () => http.createServer(app));
    const p = await withRoutingKey('leaky', () => listen(server));
    try {
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) => {
          const trusted = i % 2 === 0;
          const headers = { ...routingHeaders(`k${i}`), ...(trusted ? { 'x-internal': 'yes' } : {}) };
          return send(p, 'GET', '/', headers).then((r) => ({ trusted, i, json: r.json }));
        }),
      );
      for (const { trusted, i, json } of results) {
        const expected = trusted ? `k${i}` : null;
        expect(json.key).toBe(expected);
        expect(json.ctx).toBe(expected);
        expect((json.downstream as { key: string | null }).key).toBe(expected);
      }
    } finally {
      await close(server);
    }
  });

  it('routes the events of requests inside mounted sub-apps, and keeps later patches of Node’s emit in the chain', async () => {
    // A patch of IncomingMessage's emit made after the middleware routed Express's prototypes
    // (as an APM agent might install one): it must still see every event.
    const spy = vi.spyOn(http.IncomingMessage.prototype, 'emit');
    const sub = express();
    sub.use(express.json());
    sub.post('/raw', (req, res) => {
      const seen: Array<string | null> = [getRoutingKey() ?? null];
      req.on('data', () => seen.push(getRoutingKey() ?? null));
      req.on('end', () => {
        seen.push(getRoutingKey() ?? null);
        res.json({ key: req.routingKey ?? null, seen, body: req.body });
      });
    });
    sub.post('/json', (req, res) =>
      res.json({ key: req.routingKey ?? null, ctx: getRoutingKey() ?? null, body: req.body }),
    );
    const app = express();
    app.use(routingMiddleware());
    app.use('/sub', sub);
    const server = withRoutingKey('leaky', () => http.createServer(app));
    const p = await withRoutingKey('leaky', () => listen(server));
    try {
      const keys = Array.from({ length: 80 }, (_, i) => (i % 8 === 7 ? undefined : `sub-${i % 20}`));
      const results = await Promise.all(
        keys.map((key, i) =>
          send(
            p,
            'POST',
            i % 2 === 0 ? '/sub/json' : '/sub/raw',
            {
              ...(key === undefined ? {} : routingHeaders(key)),
              'content-type': i % 2 === 0 ? 'application/json' : 'text/plain',
            },
            JSON.stringify({ i }),
            // The second half arrives after the listeners are attached: Node emits its `data` and
            // the `end` from the socket's context.
            30,
          ).then((r) => ({ key: key ?? null, i, json: r.json })),
        ),
      );
      for (const { key, i, json } of results) {
        expect(json.key).toBe(key);
        if (i % 2 === 0) {
          expect(json.ctx).toBe(key);
          expect(json.body).toEqual({ i });
        } else {
          // Before the listeners, then each `data` event and `end`.
          expect(new Set(json.seen as unknown[])).toEqual(new Set([key]));
          expect((json.seen as unknown[]).length).toBeGreaterThanOrEqual(3);
        }
      }
      expect(spy.mock.calls.some(([event]) => event === 'data')).toBe(true);
      expect(spy.mock.calls.some(([event]) => event === 'end')).toBe(true);
    } finally {
      spy.mockRestore();
      await close(server);
    }
  });

  it('leaves the events of requests the middleware never saw to Node, even where it routed the prototype', async () => {
    // The same Express copy as the routed apps above (so the same shared prototype), no middleware.
    const app = express();
    app.post('/raw', (req, res) => {
      const seen: Array<string | null> = [];
      req.on('data', () => seen.push(getRoutingKey() ?? null));
      req.on('end', () => {
        seen.push(getRoutingKey() ?? null);
        res.json({ own: Object.hasOwn(req, 'routingKey'), seen });
      });
    });
    // Node runs these listeners in the server's context: 'outer', for every request.
    const server = withRoutingKey('outer', () => http.createServer(app));
    const p = await withRoutingKey('outer', () => listen(server));
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          send(p, 'POST', '/raw', routingHeaders(`k${i}`), 'x'.repeat(64), 30),
        ),
      );
      for (const { json } of results) {
        expect(json.own).toBe(false);
        expect(new Set(json.seen as unknown[])).toEqual(new Set(['outer']));
      }
    } finally {
      await close(server);
    }
  });

  it('exposes req.routingKey without adding a property to the request, and lets the application assign it', async () => {
    const app = express();
    app.use(routingMiddleware());
    app.post('/key', (req, res) => {
      const before = { key: req.routingKey ?? null, own: Object.hasOwn(req, 'routingKey') };
      req.routingKey = 'assigned';
      const after = { key: req.routingKey, own: Object.hasOwn(req, 'routingKey') };
      const seen: Array<string | null> = [];
      // Events keep running in the context the middleware read, whatever the application assigns.
      req.on('data', () => seen.push(getRoutingKey() ?? null));
      req.on('end', () =>
        res.json({ before, after, seen: [...new Set(seen)], end: getRoutingKey() ?? null }),
      );
    });
    const server = http.createServer(app);
    const p = await listen(server);
    try {
      const keyed = await send(p, 'POST', '/key', routingHeaders('pr-7'), 'x'.repeat(32), 20);
      expect(keyed.json).toEqual({
        before: { key: 'pr-7', own: false },
        after: { key: 'assigned', own: true },
        seen: ['pr-7'],
        end: 'pr-7',
      });
      const baseline = await send(p, 'POST', '/key', {}, 'x'.repeat(32), 20);
      expect(baseline.json.before).toEqual({ key: null, own: false });
      expect(baseline.json.seen).toEqual([null]);
    } finally {
      await close(server);
    }
  });

  it('shares the routed prototype between the ESM and CommonJS builds used on one Express', async () => {
    const cjs = createRequire(import.meta.url)('routing-context/express') as {
      routingMiddleware: typeof routingMiddleware;
    };
    expect(cjs.routingMiddleware).not.toBe(routingMiddleware);
    const apps = [routingMiddleware, cjs.routingMiddleware].map((middleware) => {
      const app = express();
      app.use(middleware());
      app.post('/both', (req, res) => {
        const seen: Array<string | null> = [];
        req.on('data', () => seen.push(getRoutingKey() ?? null));
        req.on('end', () => res.json({ key: req.routingKey ?? null, seen: [...new Set(seen)] }));
      });
      return http.createServer(app);
    });
    const ports = await Promise.all(apps.map(listen));
    try {
      const results = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          const key = i % 5 === 0 ? undefined : `dual-${i}`;
          const reply = await send(
            ports[i % 2]!,
            'POST',
            '/both',
            key === undefined ? {} : routingHeaders(key),
            'y'.repeat(64),
            5,
          );
          return { key: key ?? null, json: reply.json };
        }),
      );
      for (const { key, json } of results) expect(json).toEqual({ key, seen: [key] });
    } finally {
      await Promise.all(apps.map(close));
    }
  });

  it('runs once and prepended listeners in the request’s context, and removes listeners by the application’s own function', async () => {
    const app = express();
    app.use(routingMiddleware());
    app.post('/listeners', (req, res) => {
      const seen: string[] = [];
      const onData = () => seen.push(`on:${getRoutingKey() ?? null}`);
      const onceData = () => seen.push(`once:${getRoutingKey() ?? null}`);
      const first = () => seen.push(`first:${getRoutingKey() ?? null}`);
      const removed = () => seen.push('removed');
      const removedOnce = () => seen.push('removed-once');
      req.on('data', onData);
      req.once('data', onceData);
      req.prependOnceListener('data', first);
      req.prependListener('data', removed);
      req.addListener('data', removedOnce);
      req.removeListener('data', removed);
      req.off('data', removedOnce);
      const once = () => seen.push('never');
      req.once('end', once);
      req.removeListener('end', once);
      const listed = req.listeners('data');
      const counts = [req.listenerCount('data'), req.listenerCount('data', onData)];
      req.on('end', () =>
        res.json({
          seen,
          listed: listed.map((fn) => [onData, onceData, first].indexOf(fn as () => number)),
          counts,
          after: req.listeners('data').map((fn) => [onData, onceData, first].indexOf(fn as () => number)),
        }),
      );
    });
    const server = http.createServer(app);
    const p = await listen(server);
    try {
      const replies = await Promise.all(
        ['pr-1', 'pr-2', undefined].map((key) =>
          send(p, 'POST', '/listeners', key === undefined ? {} : routingHeaders(key), 'x'.repeat(64), 20),
        ),
      );
      for (const [i, key] of ['pr-1', 'pr-2', null].entries()) {
        // Two packets: the once listeners see only the first.
        expect(replies[i]!.json).toEqual({
          seen: [`first:${key}`, `on:${key}`, `once:${key}`, `on:${key}`],
          listed: [2, 0, 1],
          counts: [3, 1],
          after: [0],
        });
      }
    } finally {
      await close(server);
    }
  });

  it('throws a TypeError naming the option at start-up, not per request', () => {
    expect(() => routingMiddleware({ queryParam: 'a&b' })).toThrow(TypeError);
    expect(() => routingMiddleware({ queryParam: 'a&b' })).toThrow(/queryParam/);
    expect(() => routingMiddleware({ trustIncoming: 'yes' as unknown as boolean })).toThrow(/trustIncoming/);
  });
});
