/**
 * grpc-js interceptors that carry the routing key across gRPC calls.
 * @packageDocumentation
 */
export { routingClientInterceptor } from './client.js';
export { routingServerInterceptor } from './server.js';
export type { RoutingClientInterceptorOptions, RoutingServerInterceptorOptions } from './types.js';
