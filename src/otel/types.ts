import type { RoutingOptions } from '../core/types.js';

/**
 * Options of {@link enableOtelBridge}: the routing options (merged over the process-wide ones set
 * with `configureRouting`) plus the span attribute switch.
 * @public
 */
export interface OtelBridgeOptions extends RoutingOptions {
  /**
   * Puts the routing key on spans as an attribute. `true` uses the name `routing.key`; a string
   * names the attribute. The attribute is set on the active span when the key enters through
   * `withRoutingKey` or a routing middleware (the server span of a request), and on the span of
   * every outbound call the {@link RoutingPropagator} injects the key into (client and producer
   * spans).
   * @defaultValue `false`
   */
  spanAttribute?: boolean | string;
}

/**
 * Options of {@link RoutingPropagator}; the same as {@link OtelBridgeOptions}, because
 * constructing a propagator enables the bridge with them.
 * @public
 */
export interface RoutingPropagatorOptions extends OtelBridgeOptions {}
