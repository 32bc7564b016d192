import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RoutingOptions } from '../core/types.js';

/**
 * Options of {@link routingMiddleware}: the routing options, merged over the process-wide ones set
 * with `configureRouting`. `trustIncoming` decides whose headers are honoured and `queryParam`
 * which query parameter is read, then removed from `req.url`, `req.originalUrl` and `req.query`.
 * @public
 */
export type RoutingMiddlewareOptions = RoutingOptions;

/**
 * The middleware returned by {@link routingMiddleware}; usable with `app.use` in Express 4 and 5
 * (and any Connect-style server).
 * @public
 */
export type RoutingMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

declare global {
  namespace Express {
    interface Request {
      /**
       * The routing key of this request, as read by `routingMiddleware`; `undefined` for baseline
       * (no key, an invalid key, or an untrusted caller).
       */
      routingKey?: string | undefined;
    }
  }
}
