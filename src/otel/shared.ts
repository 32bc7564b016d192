import {
  type Baggage,
  type BaggageEntry,
  type Context,
  createContextKey,
  propagation,
} from '@opentelemetry/api';
import type { NormalizedOptions } from '../core/options.js';
import type { OtelBridgeOptions } from './types.js';

/**
 * Context slot holding the key our code decided on: the propagator's extraction (with the full
 * precedence of the formats) or the bridge. Wins over the raw baggage, which another propagator
 * may have replaced after ours ran. `Symbol.for` underneath, so the ESM and CJS builds share it.
 */
export const ROUTING_KEY_SLOT = createContextKey('routing-context.routing-key');

/** The slot value for a context explicitly set to baseline. */
export const BASELINE = '';

/** Default name of the span attribute. */
export const DEFAULT_SPAN_ATTRIBUTE = 'routing.key';

/** Splits our own option from the routing options the core validates. */
export function splitOptions(options: OtelBridgeOptions | undefined): {
  routing: Omit<OtelBridgeOptions, 'spanAttribute'> | undefined;
  spanAttribute: string | undefined;
} {
  if (options === undefined) return { routing: undefined, spanAttribute: undefined };
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('routing-context: options must be an object');
  }
  const { spanAttribute, ...routing } = options;
  let name: string | undefined;
  if (spanAttribute === true) name = DEFAULT_SPAN_ATTRIBUTE;
  else if (typeof spanAttribute === 'string' && spanAttribute.length > 0) name = spanAttribute;
  else if (spanAttribute !== undefined && spanAttribute !== false) {
    throw new TypeError(
      `routing-context: option "spanAttribute" must be a boolean or a non-empty attribute name, got ${JSON.stringify(spanAttribute)}`,
    );
  }
  return { routing, spanAttribute: name };
}

/** The first valid accepted member of `baggage`, in the order of `acceptKeys`. */
export function keyInBaggage(baggage: Baggage, o: NormalizedOptions): string | undefined {
  for (const name of o.acceptKeys) {
    const value = baggage.getEntry(name)?.value;
    if (typeof value === 'string' && o.isValid(value)) return value;
  }
  return undefined;
}

/**
 * The key `ctx` carries: what our propagator or bridge recorded, else a valid accepted baggage
 * member. `null` means explicitly baseline (do not look further).
 */
export function keyInContext(ctx: Context, o: NormalizedOptions): string | null | undefined {
  const slot = ctx.getValue(ROUTING_KEY_SLOT);
  if (typeof slot === 'string') return slot === BASELINE ? null : slot;
  const baggage = propagation.getBaggage(ctx);
  return baggage === undefined ? undefined : keyInBaggage(baggage, o);
}

function hasAccepted(baggage: Baggage, o: NormalizedOptions): boolean {
  for (const name of o.acceptKeys) if (baggage.getEntry(name) !== undefined) return true;
  return false;
}

/**
 * `baggage` with `key` as its FIRST entry under `baggageKey` and every other accepted member
 * removed. First, because OTel's W3CBaggagePropagator drops the members that overflow 8192 bytes
 * in map order: a key added last to a near-full baggage would be lost silently.
 */
export function baggageWithKey(baggage: Baggage | undefined, key: string, o: NormalizedOptions): Baggage {
  const entries: Record<string, BaggageEntry> = { [o.baggageKey]: { value: key } };
  if (baggage !== undefined) {
    for (const [name, entry] of baggage.getAllEntries()) {
      if (!o.acceptKeys.includes(name)) entries[name] = entry;
    }
  }
  return propagation.createBaggage(entries);
}

/** Whether `baggage` holds `key` under `baggageKey` and no member of another accepted name. */
function holdsOnly(baggage: Baggage | undefined, key: string | undefined, o: NormalizedOptions): boolean {
  if (baggage === undefined) return key === undefined;
  for (const name of o.acceptKeys) {
    const value = baggage.getEntry(name)?.value;
    if (name === o.baggageKey ? value !== key : value !== undefined) return false;
  }
  return true;
}

/**
 * `ctx` set to `key` (or baseline): our slot plus the baggage seen by every other propagator.
 * Returns `ctx` itself when it already says so (the usual case behind our propagator's extract),
 * so a middleware running after OTel allocates nothing.
 */
export function contextWithKey(ctx: Context, key: string | undefined, o: NormalizedOptions): Context {
  const baggage = propagation.getBaggage(ctx);
  if (ctx.getValue(ROUTING_KEY_SLOT) === (key ?? BASELINE) && holdsOnly(baggage, key, o)) return ctx;
  if (key !== undefined) {
    return propagation.setBaggage(ctx, baggageWithKey(baggage, key, o)).setValue(ROUTING_KEY_SLOT, key);
  }
  const out =
    baggage !== undefined && hasAccepted(baggage, o)
      ? propagation.setBaggage(ctx, baggage.removeEntries(...o.acceptKeys))
      : ctx;
  return out.setValue(ROUTING_KEY_SLOT, BASELINE);
}
