// installHttpPropagation against real http and https servers: what goes on the wire for
// http.request, http.get, https.request, https.get and global fetch, inside and outside a routed
// context, merged baggage, denied hosts, double installs and uninstall.
import { execFileSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as httpNamespace from 'node:http';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRoutingKey, withRoutingKey } from 'routing-context';
import { installHttpPropagation } from 'routing-context/http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

interface Seen {
  headers: IncomingHttpHeaders;
  raw: string[];
}

/** Every `baggage` value as sent on the wire (one entry per header line). */
function baggageLines(seen: Seen): string[] {
  const out: string[] = [];
  for (let i = 0; i < seen.raw.length; i += 2)
    if (seen.raw[i]!.toLowerCase() === 'baggage') out.push(seen.raw[i + 1]!);
  return out;
}

function echo(req: http.IncomingMessage, res: http.ServerResponse): void {
  const body: Seen = { headers: req.headers, raw: req.rawHeaders };
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(body));
}

let server: http.Server;
let tlsServer: https.Server;
let port = 0;
let tlsPort = 0;
let certDir = '';
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const tlsAgent = new https.Agent({ keepAlive: true, maxSockets: 4, rejectUnauthorized: false });

function read(res: http.IncomingMessage): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString()) as Seen));
    res.on('error', reject);
  });
}

type Client = (headers?: Record<string, string>, host?: string) => Promise<Seen>;

const clients: Record<string, Client> = {
  'http.request': (headers = {}, host = '127.0.0.1') =>
    new Promise((resolve, reject) => {
      const req = http.request({ host, port, path: '/', agent, headers }, (res) =>
        read(res).then(resolve, reject),
      );
      req.on('error', reject);
      req.end();
    }),
  'http.get (URL form)': (headers = {}, host = '127.0.0.1') =>
    new Promise((resolve, reject) => {
      http
        .get(`http://${host}:${port}/x?y=1`, { agent, headers }, (res) => read(res).then(resolve, reject))
        .on('error', reject);
    }),
  'https.request': (headers = {}, host = '127.0.0.1') =>
    new Promise((resolve, reject) => {
      const req = https.request({ host, port: tlsPort, path: '/', agent: tlsAgent, headers }, (res) =>
        read(res).then(resolve, reject),
      );
      req.on('error', reject);
      req.end();
    }),
  'https.get': (headers = {}, host = '127.0.0.1') =>
    new Promise((resolve, reject) => {
      https
        .get({ host, port: tlsPort, path: '/', agent: tlsAgent, headers }, (res) =>
          read(res).then(resolve, reject),
        )
        .on('error', reject);
    }),
  // Node writes the head of these three in the ClientRequest constructor.
  'http.request (headers as a flat array)': (headers = {}, host = '127.0.0.1') =>
    new Promise((resolve, reject) => {
      const flat = ['Host', `${host}:${port}`, ...Object.entries(headers).flat()];
      const req = http.request({ host, port, path: '/', agent, headers: flat }, (res) =>
        read(res).then(resolve, reject),
      );
      req.on('error', reject);
      req.end();
    }),
  'http.get (URL form, headers as pairs)': (headers = {}, host = '127.0.0.1') =>
    new Promise((resolve, reject) => {
      const pairs = [['Host', `${host}:${port}`], ...Object.entries(headers)] as unknown as string[];
      http
        .get(`http://${host}:${port}/`, { agent, headers: pairs }, (res) => read(res).then(resolve, reject))
        .on('error', reject);
    }),
  'http.request (Expect: 100-continue)': (headers = {}, host = '127.0.0.1') =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host, port, method: 'POST', path: '/', agent, headers: { ...headers, Expect: '100-continue' } },
        (res) => read(res).then(resolve, reject),
      );
      req.on('error', reject);
      req.on('continue', () => req.end('body'));
    }),
  fetch: async (headers = {}, host = '127.0.0.1') =>
    (await fetch(`http://${host}:${port}/`, { headers })).json() as Promise<Seen>,
};

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'routing-context-tls-'));
  // A real TLS server needs a certificate; openssl is part of the test machine's toolchain.
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(certDir, 'key.pem'),
      '-out',
      join(certDir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ],
    { stdio: 'ignore' },
  );
  server = http.createServer(echo);
  tlsServer = https.createServer(
    { key: readFileSync(join(certDir, 'key.pem')), cert: readFileSync(join(certDir, 'cert.pem')) },
    echo,
  );
  // `::` accepts both 127.0.0.1 and localhost (which may resolve to ::1).
  await new Promise<void>((r) => server.listen(0, '::', r));
  await new Promise<void>((r) => tlsServer.listen(0, '::', r));
  port = (server.address() as AddressInfo).port;
  tlsPort = (tlsServer.address() as AddressInfo).port;
});

afterAll(async () => {
  agent.destroy();
  tlsAgent.destroy();
  await new Promise((r) => server.close(r));
  await new Promise((r) => tlsServer.close(r));
  rmSync(certDir, { recursive: true, force: true });
});

describe.each(Object.entries(clients))('%s', (_name, send) => {
  let uninstall: (() => void) | undefined;
  afterEach(() => uninstall?.());

  it('carries the key inside a routed context, in one baggage header with one member', async () => {
    uninstall = installHttpPropagation();
    const seen = await withRoutingKey('pr-142', () => send());
    expect(baggageLines(seen)).toEqual(['sd-routing-key=pr-142']);
  });

  it('sends nothing outside a routed context, nor in an explicit baseline context', async () => {
    uninstall = installHttpPropagation();
    expect(baggageLines(await send())).toEqual([]);
    const nested = await withRoutingKey('outer', () => withRoutingKey(undefined, () => send()));
    expect(baggageLines(nested)).toEqual([]);
    // A caller's own baggage passes through untouched.
    expect(baggageLines(await send({ baggage: 'a=1' }))).toEqual(['a=1']);
  });

  it('merges into an existing baggage header: ours first, a stale routing member replaced, others kept', async () => {
    uninstall = installHttpPropagation();
    const seen = await withRoutingKey('fresh', () =>
      send({ Baggage: 'a=1,sd-routing-key=stale, b=2;prop', 'x-other': 'y' }),
    );
    expect(baggageLines(seen)).toEqual(['sd-routing-key=fresh,a=1,b=2;prop']);
    expect(seen.headers['x-other']).toBe('y');
  });

  it('never sends the key to a host that propagateTo denies', async () => {
    uninstall = installHttpPropagation({ propagateTo: { deny: ['localhost'] } });
    await withRoutingKey('secret', async () => {
      const denied = await send({ baggage: 'a=1' }, 'localhost');
      expect(baggageLines(denied)).toEqual(['a=1']);
      expect(JSON.stringify(denied.headers)).not.toContain('secret');
      const allowed = await send({}, '127.0.0.1');
      expect(baggageLines(allowed)).toEqual(['sd-routing-key=secret']);
    });
  });

  it('with an allow list, only those hosts receive the key', async () => {
    uninstall = installHttpPropagation({ propagateTo: { allow: ['localhost'] } });
    await withRoutingKey('k1', async () => {
      expect(baggageLines(await send({}, '127.0.0.1'))).toEqual([]);
      expect(baggageLines(await send({}, 'localhost'))).toEqual(['sd-routing-key=k1']);
    });
  });

  it('installing twice is harmless; uninstalling both stops propagation', async () => {
    const first = installHttpPropagation();
    const second = installHttpPropagation();
    uninstall = first;
    try {
      const seen = await withRoutingKey('twice', () => send({ baggage: 'z=9' }));
      expect(baggageLines(seen)).toEqual(['sd-routing-key=twice,z=9']);
      first();
      first(); // idempotent: does not remove the second install
      expect(baggageLines(await withRoutingKey('still', () => send()))).toEqual(['sd-routing-key=still']);
    } finally {
      first();
      second();
    }
    expect(baggageLines(await withRoutingKey('gone', () => send()))).toEqual([]);
  });

  it('writes the dedicated headers configured, and keeps 200 interleaved keys apart', async () => {
    uninstall = installHttpPropagation({ headers: ['x-routing-key'] });
    const keys = Array.from({ length: 200 }, (_, i) => (i % 7 === 0 ? undefined : `k${i % 40}`));
    const seen = await Promise.all(
      keys.map((key) =>
        withRoutingKey(key, async () => {
          await new Promise((r) => setImmediate(r));
          const result = await send();
          // The caller's context is intact after the call.
          expect(getRoutingKey()).toBe(key);
          return result;
        }),
      ),
    );
    seen.forEach((s, i) => {
      const key = keys[i];
      expect(s.headers['x-routing-key']).toBe(key);
      expect(baggageLines(s)).toEqual(key === undefined ? [] : [`sd-routing-key=${key}`]);
    });
  });
});

describe('requests whose head Node writes in the constructor', () => {
  it("routes a copy of the options: the caller's options and headers are left as they were", async () => {
    const uninstall = installHttpPropagation();
    try {
      const flat = ['Host', `127.0.0.1:${port}`, 'baggage', 'a=1'];
      const options = { host: '127.0.0.1', port, path: '/', agent, headers: flat };
      const seen = await withRoutingKey(
        'copy',
        () =>
          new Promise<Seen>((resolve, reject) => {
            const req = http.request(options, (res) => read(res).then(resolve, reject));
            req.on('error', reject);
            req.end();
          }),
      );
      expect(baggageLines(seen)).toEqual(['sd-routing-key=copy,a=1']);
      expect(seen.headers.host).toBe(`127.0.0.1:${port}`);
      expect(options.headers).toBe(flat);
      expect(flat).toEqual(['Host', `127.0.0.1:${port}`, 'baggage', 'a=1']);
      // A malformed (odd-length) array is passed to Node untouched: Node's own error, not ours.
      await withRoutingKey('copy', () => {
        expect(() => http.request({ host: '127.0.0.1', port, headers: ['baggage'] })).toThrow(/headers/);
      });
    } finally {
      uninstall();
    }
  });
});

describe('module forms', () => {
  it('covers ESM named bindings of node:http too (import { request } from "node:http")', async () => {
    const uninstall = installHttpPropagation();
    try {
      const seen = await withRoutingKey(
        'named',
        () =>
          new Promise<Seen>((resolve, reject) => {
            const req = httpNamespace.request({ host: '127.0.0.1', port, path: '/', agent }, (res) =>
              read(res).then(resolve, reject),
            );
            req.on('error', reject);
            req.end();
          }),
      );
      expect(baggageLines(seen)).toEqual(['sd-routing-key=named']);
    } finally {
      uninstall();
    }
    // Uninstalled: the original functions are back, for the default and the named bindings.
    expect(httpNamespace.request).toBe(http.request);
    expect(
      (http.request as unknown as Record<symbol, unknown>)[
        Symbol.for('routing-context.http-propagation.original')
      ],
    ).toBe(undefined);
  });
});

/** Whether this Node publishes `http.client.request.created` (newer versions; not Node 20). */
function clientRequestCreatedPublished(): boolean {
  let published = false;
  const seen = () => {
    published = true;
  };
  diagnosticsChannel.subscribe('http.client.request.created', seen);
  const probe = new http.ClientRequest({ host: '127.0.0.1', port, path: '/', agent });
  probe.on('error', () => {});
  probe.destroy();
  diagnosticsChannel.unsubscribe('http.client.request.created', seen);
  return published;
}

function sendBuilt(): Promise<Seen> {
  return new Promise<Seen>((resolve, reject) => {
    const req = new http.ClientRequest({ host: '127.0.0.1', port, path: '/', agent }, (res) =>
      read(res).then(resolve, reject),
    );
    req.on('error', reject);
    req.end();
  });
}

describe('requests built past the wrappers (new http.ClientRequest)', () => {
  it('carry the key where Node publishes http.client.request.created, and only in a routed context', async () => {
    const published = clientRequestCreatedPublished();
    // Node 20 does not publish it; Node 24 does (22 does from a late 22.x).
    const major = Number(process.versions.node.split('.')[0]);
    if (major <= 20) expect(published).toBe(false);
    if (major >= 24) expect(published).toBe(true);
    const uninstall = installHttpPropagation({ headers: ['x-routing-key'] });
    try {
      const built = await withRoutingKey('built', sendBuilt);
      expect(baggageLines(built)).toEqual(published ? ['sd-routing-key=built'] : []);
      expect(built.headers['x-routing-key']).toBe(published ? 'built' : undefined);
      expect(baggageLines(await sendBuilt())).toEqual([]);
      expect(baggageLines(await withRoutingKey('outer', () => withRoutingKey(undefined, sendBuilt)))).toEqual(
        [],
      );
      // Through the wrapped http.request, routed once whichever path saw it first.
      const wrapped = await withRoutingKey('built', () => clients['http.request']!({ baggage: 'a=1' }));
      expect(baggageLines(wrapped)).toEqual(['sd-routing-key=built,a=1']);
      expect(wrapped.headers['x-routing-key']).toBe('built');
    } finally {
      uninstall();
    }
    expect(baggageLines(await withRoutingKey('built', sendBuilt))).toEqual([]);
  });
});

describe('undici request shapes (published on undici:request:create as undici does)', () => {
  // Node 20.6 to 20.9 bundle undici 5, whose requests hold headers as one string; undici 6 holds
  // an array and offers addHeader, which instrumentations subscribed after us call.
  const channel = diagnosticsChannel.channel('undici:request:create');

  it('undici 5 string headers: merged into one baggage line, other lines kept', () => {
    const uninstall = installHttpPropagation();
    try {
      const request = {
        origin: 'http://orders.svc:8080',
        headers: 'host: orders\r\nbaggage: a=1\r\nBaggage: sd-routing-key=old\r\n',
      };
      withRoutingKey('str', () => channel.publish({ request }));
      expect(request.headers).toBe('host: orders\r\nbaggage: sd-routing-key=str,a=1\r\n');
      const denied = { origin: 'https://api.stripe.com', headers: 'baggage: a=1\r\n' };
      uninstall();
      const onlyOrders = installHttpPropagation({ propagateTo: { allow: ['*.svc'] } });
      withRoutingKey('str', () => channel.publish({ request: denied }));
      onlyOrders();
      expect(denied.headers).toBe('baggage: a=1\r\n');
    } finally {
      uninstall();
    }
  });

  it('undici 6 array headers: a later addHeader("baggage") is merged, not appended', () => {
    class FakeRequest {
      origin = 'http://[::1]:3000';
      headers: unknown[] = ['accept', '*/*', 'baggage', ['a=1', 'b=2']];
      addHeader(name: string, value: string) {
        this.headers.push(name, value);
        return this;
      }
    }
    const uninstall = installHttpPropagation();
    try {
      const request = new FakeRequest();
      withRoutingKey('arr', () => channel.publish({ request }));
      expect(request.headers).toEqual(['accept', '*/*', 'baggage', 'sd-routing-key=arr,a=1,b=2']);
      // What OpenTelemetry's undici instrumentation does when it runs after us.
      request.addHeader('baggage', 'sd-routing-key=arr,otel=1');
      request.addHeader('traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00');
      expect(request.headers).toEqual([
        'accept',
        '*/*',
        'baggage',
        'sd-routing-key=arr,a=1,b=2,otel=1',
        'traceparent',
        '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
      ]);
      // Outside a routed context nothing is touched, addHeader included.
      const plain = new FakeRequest();
      channel.publish({ request: plain });
      expect(plain.headers).toEqual(['accept', '*/*', 'baggage', ['a=1', 'b=2']]);
      expect(Object.hasOwn(plain, 'addHeader')).toBe(false);
    } finally {
      uninstall();
    }
  });
});

describe('fetch specifics', () => {
  let uninstall: (() => void) | undefined;
  afterEach(() => uninstall?.());

  it('merges several baggage entries of a Headers/array init into one header', async () => {
    uninstall = installHttpPropagation();
    const seen = await withRoutingKey('multi', async () => {
      const headers = new Headers([
        ['baggage', 'a=1'],
        ['baggage', 'sd-sandbox=old,b=2'],
      ]);
      return (await fetch(`http://127.0.0.1:${port}/`, { headers })).json() as Promise<Seen>;
    });
    expect(baggageLines(seen)).toEqual(['sd-routing-key=multi,a=1,b=2']);
  });

  it('leaves the caller’s Headers object unchanged', async () => {
    uninstall = installHttpPropagation();
    const headers = new Headers({ baggage: 'a=1' });
    await withRoutingKey('mine', () => fetch(`http://127.0.0.1:${port}/`, { headers }).then((r) => r.json()));
    expect(headers.get('baggage')).toBe('a=1');
  });

  it('rejects invalid options with a TypeError naming the option, at install time', () => {
    expect(() => installHttpPropagation({ propagateTo: { allow: [42 as unknown as string] } })).toThrow(
      /propagateTo\.allow\[0\]/,
    );
  });
});
