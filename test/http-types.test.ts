// Type tests for the HTTP entry points, checked by `tsc --noEmit` (part of `npm test`): the
// declaration merging of `req.routingKey` (Express) and `request.routingKey` (Fastify), and the
// shapes of the public functions. At run time they only check that the values exist.
import express, { type Request as ExpressRequest, type RequestHandler } from 'express';
import Fastify, { type FastifyPluginCallback, type FastifyRequest } from 'fastify';
import {
  type RoutingMiddleware,
  type RoutingMiddlewareOptions,
  routingMiddleware,
} from 'routing-context/express';
import { type RoutingPluginOptions, routingPlugin } from 'routing-context/fastify';
import {
  type HttpPropagationOptions,
  installHttpPropagation,
  type UninstallHttpPropagation,
} from 'routing-context/http';
import { describe, expect, expectTypeOf, it } from 'vitest';

describe('types', () => {
  it('Express: req.routingKey is string | undefined, the middleware fits app.use', () => {
    expectTypeOf<ExpressRequest['routingKey']>().toEqualTypeOf<string | undefined>();
    expectTypeOf(routingMiddleware).parameter(0).toEqualTypeOf<RoutingMiddlewareOptions | undefined>();
    expectTypeOf(routingMiddleware()).toEqualTypeOf<RoutingMiddleware>();
    expectTypeOf(routingMiddleware()).toMatchTypeOf<RequestHandler>();
    const app = express();
    app.use(routingMiddleware({ trustIncoming: (req) => req.headers['x-internal'] === 'yes' }));
    app.get('/', (req, res) => {
      expectTypeOf(req.routingKey).toEqualTypeOf<string | undefined>();
      // @ts-expect-error the key is read-only data, not a number
      req.routingKey = 42;
      res.end();
    });
    // Unknown options are rejected at compile time and at start-up.
    // @ts-expect-error not an option
    expect(() => routingMiddleware({ nope: true })).toThrow(/unknown option "nope"/);
    expect(typeof routingMiddleware).toBe('function');
  });

  it('Fastify: request.routingKey is string | undefined, the plugin registers with routing options', async () => {
    expectTypeOf<FastifyRequest['routingKey']>().toEqualTypeOf<string | undefined>();
    expectTypeOf(routingPlugin).toEqualTypeOf<FastifyPluginCallback<RoutingPluginOptions>>();
    const app = Fastify();
    await app.register(routingPlugin, {
      headers: ['x-routing-key'],
      propagateTo: { deny: ['api.stripe.com'] },
    });
    app.get('/', async (request) => {
      expectTypeOf(request.routingKey).toEqualTypeOf<string | undefined>();
      return { key: request.routingKey ?? null };
    });
    // @ts-expect-error a wrong option type is a compile error
    void app.register(routingPlugin, { trustIncoming: 'yes' });
    await app.close().catch(() => {});
  });

  it('http: installHttpPropagation returns an uninstall function', () => {
    expectTypeOf(installHttpPropagation).parameter(0).toEqualTypeOf<HttpPropagationOptions | undefined>();
    expectTypeOf(installHttpPropagation).returns.toEqualTypeOf<UninstallHttpPropagation>();
    expectTypeOf<UninstallHttpPropagation>().toEqualTypeOf<() => void>();
    const uninstall = installHttpPropagation();
    uninstall();
    expect(typeof uninstall).toBe('function');
  });
});
