/**
 * Carry a sandbox routing key through every hop of a request: the core (context, codecs,
 * cache/name helpers, routes). Integrations live in their own entry points.
 * @packageDocumentation
 */
export { type ExtractOptions, extractRoutingKey, injectRoutingKey, routingHeaders } from './core/codec.js';
export { RoutesUnavailableError, RoutingContextError, RoutingKeyError } from './core/errors.js';
export { type CacheKeyOptions, cacheKey, type RoutedNameOptions, routedName } from './core/naming.js';
export { ANY_SANDBOX, type RoutesSource, shouldProcess, staticRoutes } from './core/routes.js';
export { type BaselineWorkload, type RoutesApiOptions, routesApi } from './core/routes-api.js';
export {
  configureRouting,
  getRoutingKey,
  requireRoutingKey,
  resetRouting,
  withRoutingKey,
} from './core/state.js';
export type {
  FormatSwitch,
  HeaderCarrier,
  HeadersLike,
  HeaderValue,
  IncomingRequestLike,
  InvalidKeyInfo,
  KeySource,
  MetadataLike,
  PropagationTargets,
  RoutingOptions,
} from './core/types.js';
