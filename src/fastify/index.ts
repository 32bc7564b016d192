/**
 * Fastify 4 and 5 plugin: reads the routing key of each request and keeps it active in every hook
 * and the handler, POST bodies included.
 * @packageDocumentation
 */
export { routingPlugin } from './plugin.js';
export type { RoutingPluginOptions } from './types.js';
