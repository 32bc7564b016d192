import type { RoutingOptions } from '../core/types.js';

/**
 * Options of {@link routingPlugin} (the second argument of `fastify.register`): the routing
 * options, merged over the process-wide ones set with `configureRouting`. Fastify's own register
 * options (`prefix`, `logLevel`, `logSerializers`) are accepted and ignored.
 * @public
 */
export interface RoutingPluginOptions extends RoutingOptions {
  /** Ignored: the plugin applies to the whole instance it is registered on. */
  prefix?: string;
  /** Ignored. */
  logLevel?: string;
  /** Ignored. */
  logSerializers?: Record<string, (value: unknown) => unknown>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The routing key of this request, as read by `routingPlugin`; `undefined` for baseline (no
     * key, an invalid key, or an untrusted caller).
     */
    routingKey?: string | undefined;
  }
}
