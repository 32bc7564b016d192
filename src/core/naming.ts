import { getRoutingKey } from './state.js';

/**
 * Options of {@link cacheKey}.
 * @public
 */
export interface CacheKeyOptions {
  /**
   * Prefix for baseline keys, e.g. `'main'` gives `'main:<name>'`.
   * @defaultValue env `CACHE_KEY_PREFIX`, else none
   */
  baselinePrefix?: string | undefined;
}

/**
 * A cache key isolated per routing key: `"<routingKey>:<name>"` in a routed context; the bare
 * `name` (or `"<baselinePrefix>:<name>"`) for baseline.
 * @example
 * ```ts
 * await redis.set(cacheKey(`cart:${userId}`), json); // "pr-142:cart:7" inside a routed request
 * ```
 * @public
 */
export function cacheKey(name: string, options?: CacheKeyOptions): string {
  const key = getRoutingKey();
  if (key !== undefined) return `${key}:${name}`;
  const prefix = options?.baselinePrefix ?? process.env.CACHE_KEY_PREFIX;
  return prefix === undefined || prefix === '' ? name : `${prefix}:${name}`;
}

/**
 * Options of {@link routedName}.
 * @public
 */
export interface RoutedNameOptions {
  /**
   * Between the routing key and the name.
   * @defaultValue `'.'`
   */
  separator?: string;
}

/**
 * A topic or queue name isolated per routing key (namespace-style isolation):
 * `"<routingKey>.<name>"` in a routed context, `name` for baseline. Use it in producers AND
 * consumers.
 * @example
 * ```ts
 * await producer.send({ topic: routedName('order.created'), messages }); // "pr-142.order.created"
 * ```
 * @public
 */
export function routedName(name: string, options?: RoutedNameOptions): string {
  const key = getRoutingKey();
  return key === undefined ? name : `${key}${options?.separator ?? '.'}${name}`;
}
