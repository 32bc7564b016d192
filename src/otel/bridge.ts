import { context, trace } from '@opentelemetry/api';
import type { NormalizedOptions } from '../core/options.js';
import { type ContextBridge, optionsResolver, setContextBridge, state } from '../core/state.js';
import { contextWithKey, keyInContext, splitOptions } from './shared.js';
import type { OtelBridgeOptions } from './types.js';

/** The bridge between our store and the active OpenTelemetry context. */
export function createBridge(
  options: () => NormalizedOptions,
  spanAttribute: string | undefined,
): ContextBridge {
  // Both functions are called without `this` by the core.
  return {
    read(): string | undefined {
      return keyInContext(context.active(), options()) ?? undefined;
    },
    run<T>(key: string | undefined, fn: () => T): T {
      const active = context.active();
      const ctx = contextWithKey(active, key, options());
      if (spanAttribute !== undefined && key !== undefined)
        trace.getSpan(ctx)?.setAttribute(spanAttribute, key);
      return ctx === active ? fn() : context.with(ctx, fn);
    },
  };
}

/** Every bridge this module installed: the bridge it replaced, and whether it is still enabled. */
const installed = new WeakMap<ContextBridge, { previous: ContextBridge | undefined; enabled: boolean }>();

/**
 * Installs `bridge` and returns a function that removes it again, restoring the newest earlier
 * bridge that is still enabled (unless another one replaced ours meanwhile). Idempotent.
 */
export function installBridge(bridge: ContextBridge): () => void {
  const record = { previous: setContextBridge(bridge), enabled: true };
  installed.set(bridge, record);
  return () => {
    if (!record.enabled) return;
    record.enabled = false;
    if (state.bridge !== bridge) return;
    let previous = record.previous;
    for (let r = previous && installed.get(previous); r !== undefined && !r.enabled; ) {
      previous = r.previous;
      r = previous && installed.get(previous);
    }
    setContextBridge(previous);
  };
}

/**
 * Connects the routing context to OpenTelemetry baggage, in both directions, without a
 * {@link RoutingPropagator}:
 *
 * - a routing key in the active OTel baggage (put there by OTel's `W3CBaggagePropagator` on an
 *   instrumented request or message) is what `getRoutingKey()` returns when no routing middleware
 *   set one;
 * - `withRoutingKey` and the routing middlewares also put the key into the active OTel baggage
 *   (first member, stale members of the other accepted names removed; baseline removes them all),
 *   so every OTel instrumentation (http, undici, grpc, kafkajs) carries it to the next hop.
 *
 * Registers no OTel global. Without an OTel SDK (no context manager) it is harmless: the OTel
 * context is then always empty. Enabling it again replaces the earlier bridge.
 *
 * @param options - routing options for the bridge (merged over the process-wide ones) and
 *   `spanAttribute`
 * @returns a function that disables the bridge
 * @throws `TypeError` naming the option when an option is invalid
 * @example
 * ```ts
 * import { enableOtelBridge } from 'routing-context/otel';
 *
 * const disable = enableOtelBridge({ spanAttribute: true });
 * // ... later, e.g. on shutdown
 * disable();
 * ```
 * @public
 */
export function enableOtelBridge(options?: OtelBridgeOptions): () => void {
  const { routing, spanAttribute } = splitOptions(options);
  return installBridge(createBridge(optionsResolver(routing), spanAttribute));
}
