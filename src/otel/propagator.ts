import type { Context, TextMapGetter, TextMapPropagator, TextMapSetter } from '@opentelemetry/api';
import { trace } from '@opentelemetry/api';
import { readHeader } from '../core/carrier.js';
import { extractWith, injectWith } from '../core/codec.js';
import type { NormalizedOptions } from '../core/options.js';
import { getRoutingKey, optionsResolver } from '../core/state.js';
import type { HeaderCarrier, HeadersLike } from '../core/types.js';
import { createBridge, installBridge } from './bridge.js';
import { contextWithKey, keyInContext, splitOptions } from './shared.js';
import type { RoutingPropagatorOptions } from './types.js';

/** Reads an OTel carrier through its getter, so the core's extraction works on any carrier. */
class GetterCarrier implements HeadersLike {
  constructor(
    private readonly carrier: unknown,
    private readonly getter: TextMapGetter,
  ) {}
  get(name: string): string | null | undefined {
    // The getter may return `string[]` for repeated headers; the core's reader handles both.
    return this.getter.get(this.carrier, name) as string | undefined;
  }
  set(): void {}
}

/**
 * Writes through an OTel setter, and reads what the carrier already holds (a `baggage` written
 * by a propagator that ran before ours) from the carrier itself: a `TextMapSetter` has no getter.
 */
class SetterCarrier implements HeadersLike {
  constructor(
    private readonly carrier: unknown,
    private readonly setter: TextMapSetter,
  ) {}
  get(name: string): string | null | undefined {
    const carrier = this.carrier;
    if (carrier === null || typeof carrier !== 'object') return undefined;
    return readHeader(carrier as HeaderCarrier, name) as string | undefined;
  }
  set(name: string, value: string): void {
    this.setter.set(this.carrier, name, value);
  }
}

/** The carrier as Node's `IncomingHttpHeaders` when it is a plain record (for `trustIncoming` predicates). */
function headersOf(carrier: unknown): Record<string, string | string[] | undefined> {
  if (
    carrier === null ||
    typeof carrier !== 'object' ||
    typeof (carrier as { get?: unknown }).get === 'function'
  ) {
    return {};
  }
  return carrier as Record<string, string | string[] | undefined>;
}

/**
 * An OpenTelemetry `TextMapPropagator` for the routing key.
 *
 * `extract` reads every format the core reads (dedicated `headers`, `baggage`, `tracestate`,
 * legacy `uberctx-`/`ot-baggage-` headers, `hostPattern` on `host`), with the same precedence and
 * validation, and puts the key into the context's baggage (first member) so `getRoutingKey()` and
 * every other propagator see it. `inject` writes the key of the given context (or of the routing
 * store) into the carrier: it merges into a `baggage` header written by a `W3CBaggagePropagator`
 * that ran before it (one member, ours first, W3C limits kept) and writes the extra formats
 * configured.
 *
 * Compose it with `W3CTraceContextPropagator` and `W3CBaggagePropagator` in a
 * `CompositePropagator`, preferably last. Constructing one enables the baggage bridge (see
 * {@link enableOtelBridge}) with the same options; it never registers OTel globals itself.
 *
 * Under `trustIncoming: false` (or a predicate, which sees the headers but no socket here),
 * `extract` marks the context as baseline and removes routing members from its baggage.
 * `propagateTo` cannot apply here (a propagator does not know the destination): use the
 * instrumentation's own hooks, or `routing-context/http`, for host filtering.
 *
 * @example
 * ```ts
 * import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
 * import { NodeSDK } from '@opentelemetry/sdk-node';
 * import { RoutingPropagator } from 'routing-context/otel';
 *
 * new NodeSDK({
 *   textMapPropagator: new CompositePropagator({
 *     propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator(), new RoutingPropagator()],
 *   }),
 * }).start();
 * ```
 * @public
 */
export class RoutingPropagator implements TextMapPropagator {
  readonly #options: () => NormalizedOptions;
  readonly #spanAttribute: string | undefined;
  readonly #disableBridge: () => void;

  /**
   * @param options - routing options for this propagator and its bridge (merged over the
   *   process-wide ones), and `spanAttribute`
   * @throws `TypeError` naming the option when an option is invalid
   */
  constructor(options?: RoutingPropagatorOptions) {
    const { routing, spanAttribute } = splitOptions(options);
    this.#options = optionsResolver(routing);
    this.#spanAttribute = spanAttribute;
    this.#disableBridge = installBridge(createBridge(this.#options, spanAttribute));
  }

  /**
   * Writes the routing key of `context` (its routing slot or baggage, else the active routing
   * key) into `carrier`. Writes nothing for baseline.
   *
   * @param context - the context of the outbound call
   * @param carrier - the outbound carrier (headers, Kafka headers, gRPC metadata)
   * @param setter - how to write into `carrier`
   */
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    const o = this.#options();
    const fromContext = keyInContext(context, o);
    const key = fromContext === null ? undefined : (fromContext ?? getRoutingKey());
    if (key === undefined || !o.isValid(key)) return;
    try {
      injectWith(new SetterCarrier(carrier, setter), key, o);
    } catch {
      // A carrier that refuses a header must not break the outbound call.
      return;
    }
    if (this.#spanAttribute !== undefined) trace.getSpan(context)?.setAttribute(this.#spanAttribute, key);
  }

  /**
   * Reads the routing key from `carrier` and returns `context` with it in the baggage (first
   * member). Returns `context` unchanged when the carrier holds no valid key. Never throws.
   *
   * @param context - the context to extend
   * @param carrier - the inbound carrier
   * @param getter - how to read `carrier`
   */
  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    const o = this.#options();
    let key: string | undefined;
    try {
      const trust = o.raw.trustIncoming;
      if (trust !== undefined && trust !== true && !o.trusts({ headers: headersOf(carrier) })) {
        return contextWithKey(context, undefined, o);
      }
      key = extractWith(new GetterCarrier(carrier, getter), o);
    } catch {
      return context;
    }
    return key === undefined ? context : contextWithKey(context, key, o);
  }

  /**
   * The headers this propagator may write: `baggage`, the dedicated `headers`, and `tracestate`
   * and the legacy headers when their `write` switch is on.
   */
  fields(): string[] {
    const o = this.#options();
    const fields = ['baggage', ...o.headers];
    if (o.tracestateWrite) fields.push('tracestate');
    if (o.legacyWrite) {
      const name = o.baggageKey.toLowerCase();
      fields.push(`uberctx-${name}`, `ot-baggage-${name}`);
    }
    return fields;
  }

  /**
   * Disables the bridge this propagator enabled (for tests and shutdown). The propagator itself
   * keeps working.
   */
  disableBridge(): void {
    this.#disableBridge();
  }
}
