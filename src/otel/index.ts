/**
 * OpenTelemetry integration: a `TextMapPropagator` for the routing key and a two-way bridge
 * between the routing context and OTel baggage.
 * @packageDocumentation
 */
export { enableOtelBridge } from './bridge.js';
export { RoutingPropagator } from './propagator.js';
export type { OtelBridgeOptions, RoutingPropagatorOptions } from './types.js';
