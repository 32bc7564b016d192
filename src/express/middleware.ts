import type { IncomingMessage } from 'node:http';
import { routeRequest } from '../core/bind.js';
import { extractWith, stripQueryParam } from '../core/codec.js';
import { optionsResolver, runWithKey } from '../core/state.js';
import type { RoutingMiddleware, RoutingMiddlewareOptions } from './types.js';

/** The fields of an Express request (4 or 5) the middleware reads and rewrites. */
interface ExpressRequestLike extends IncomingMessage {
  originalUrl?: string;
}

/**
 * Removes `param` from the URL the application sees. Express 4 parses `req.query` into an own
 * property before any middleware runs, so that copy is rebuilt too; Express 5 computes `req.query`
 * from `req.url` on every read.
 */
function stripParam(req: ExpressRequestLike, param: string): void {
  const url = req.url;
  if (url === undefined || url.indexOf('?') === -1 || !url.includes(param)) return;
  req.url = stripQueryParam(url, param);
  const original = req.originalUrl;
  if (typeof original === 'string') req.originalUrl = stripQueryParam(original, param);
  const own = Object.getOwnPropertyDescriptor(req, 'query');
  const query = own?.value as Record<string, unknown> | undefined;
  if (own?.writable && query !== null && typeof query === 'object' && Object.hasOwn(query, param)) {
    const copy = Object.assign(Object.create(Object.getPrototypeOf(query)) as object, query) as Record<
      string,
      unknown
    >;
    delete copy[param];
    (req as unknown as { query: unknown }).query = copy;
  }
}

/**
 * Express (4 and 5) middleware that reads the routing key of each request and runs the rest of the
 * chain inside its context.
 *
 * The key comes from the dedicated headers, `baggage`, `tracestate`, legacy headers, the query
 * parameter (removed from the URL afterwards) or the host, as configured. An untrusted request
 * (`trustIncoming`) and a request with no valid key run as baseline, explicitly, so no outer
 * context leaks in. The context survives body parsers (`express.json()`, `urlencoded`),
 * listeners of `req`/`res` events such as `res.on('finish')`, callbacks, promises and piped
 * streams. The key is also exposed as `req.routingKey`.
 *
 * Register it first, before body parsers and routes: listeners added to `req`/`res` before it ran
 * (by middleware registered ahead of it) run in the context of whoever emits the event.
 *
 * @param options - routing options for this middleware, merged over the process-wide ones
 * @returns the middleware
 * @throws `TypeError` naming the option when `options` is invalid (at start-up, never per request)
 * @example
 * ```ts
 * import express from 'express';
 * import { routingMiddleware } from 'routing-context/express';
 * import { getRoutingKey } from 'routing-context';
 *
 * const app = express();
 * app.use(routingMiddleware());
 * app.use(express.json());
 * app.post('/orders', (req, res) => res.json({ key: req.routingKey, same: getRoutingKey() }));
 * ```
 * @public
 */
export function routingMiddleware(options?: RoutingMiddlewareOptions): RoutingMiddleware {
  const getOptions = optionsResolver(options);
  return function routingContext(req, res, next) {
    const request = req as ExpressRequestLike;
    const o = getOptions();
    let key: string | undefined;
    try {
      // Node's parser lower-cases header names: exact look-ups suffice.
      if (o.trusts(req)) key = extractWith(req.headers, o, req.url, undefined, true);
      if (o.queryParam !== undefined) stripParam(request, o.queryParam);
    } catch {
      // Untrusted input never throws; whatever went wrong, the request runs as baseline.
      key = undefined;
    }
    // `req.routingKey`, and the context every event of `req` and `res` runs in.
    routeRequest(req, res, key);
    runWithKey(key, next);
  };
}
