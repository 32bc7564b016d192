/**
 * Express 4 and 5 middleware: reads the routing key of each request and keeps it active for the
 * whole request, body parsers and `req`/`res` events included.
 * @packageDocumentation
 */
export { routingMiddleware } from './middleware.js';
export type { RoutingMiddleware, RoutingMiddlewareOptions } from './types.js';
