/**
 * Options of `routedRedis`.
 * @public
 */
export interface RoutedRedisOptions {
  /**
   * Namespace of baseline (unrouted) keys: with `'main'`, a baseline `GET cart:7` reads
   * `main:cart:7`, and a baseline `SCAN`/`KEYS` sees only `main:` keys, never a sandbox's.
   * Without it, baseline commands pass through unchanged and a baseline `SCAN`/`KEYS` also sees
   * routed keys. The same semantics as the core's `cacheKey`. A routing key equal to this prefix
   * is refused, so the two namespaces can never overlap.
   * @defaultValue env `CACHE_KEY_PREFIX` (read once, when `routedRedis` runs), else none
   */
  baselinePrefix?: string | undefined;
}
