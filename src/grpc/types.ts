import type { RoutingOptions } from '../core/types.js';

/**
 * Options of `routingClientInterceptor`: the routing options, plus the channel target the
 * `propagateTo` policy is matched against.
 * @public
 */
export interface RoutingClientInterceptorOptions extends RoutingOptions {
  /**
   * The target the client was created with (`'orders.svc:50051'`, `'dns:///orders.svc:50051'`,
   * `'ipv4:10.0.0.7:50051'`...). Its hostname is matched against `propagateTo`. A call option
   * `host` (authority override) takes precedence. grpc-js does not show interceptors the channel,
   * so when `propagateTo` is configured and neither is known, the key is NOT sent (fail closed).
   * @defaultValue none
   */
  target?: string | undefined;
}

/**
 * Options of `routingServerInterceptor`: the routing options (`trustIncoming`, `validate`,
 * `acceptKeys`, `headers`...), merged over the process-wide ones.
 * @public
 */
export interface RoutingServerInterceptorOptions extends RoutingOptions {}
