import { AsyncLocalStorage } from 'node:async_hooks';
import { RoutingContextError, RoutingKeyError } from './errors.js';
import { type NormalizedOptions, normalizeOptions } from './options.js';
import type { RoutingOptions } from './types.js';

/**
 * Lets another context system (OpenTelemetry baggage) see and carry the key. Installed by
 * `routing-context/otel`; the core never imports OpenTelemetry.
 * @internal
 */
export interface ContextBridge {
  /** The key held by the other system's active context, if any. */
  read(): string | undefined;
  /** Runs `fn` with `key` (or baseline) also set in the other system's context. */
  run<T>(key: string | undefined, fn: () => T): T;
}

/**
 * What the ALS holds: the key, or `BASELINE` for a context explicitly set to baseline (so that a
 * bridge cannot bring an outer key back).
 */
const BASELINE = '';

interface GlobalState {
  readonly als: AsyncLocalStorage<string>;
  raw: RoutingOptions;
  options: NormalizedOptions;
  /** Bumped by every `configureRouting`, so cached per-integration merges know to refresh. */
  version: number;
  bridge: ContextBridge | undefined;
}

// One store per process, shared by the ESM and CJS builds and by duplicate installs of this
// major version (the same technique as OpenTelemetry's global-utils).
const STATE_KEY = Symbol.for('routing-context.store.v1');
const globalRecord = globalThis as unknown as Record<symbol, GlobalState | undefined>;

function createState(): GlobalState {
  return {
    als: new AsyncLocalStorage<string>(),
    raw: {},
    options: normalizeOptions({}),
    version: 0,
    bridge: undefined,
  };
}

/** @internal */
export const state: GlobalState = globalRecord[STATE_KEY] ?? (globalRecord[STATE_KEY] = createState());

/**
 * The routing key of the active context; `undefined` means baseline.
 * @public
 */
export function getRoutingKey(): string | undefined {
  const stored = state.als.getStore();
  if (stored !== undefined) return stored === BASELINE ? undefined : stored;
  return state.bridge?.read();
}

/**
 * The routing key of the active context; throws when there is none.
 * @throws {@link RoutingContextError} with code `ERR_NO_ROUTING_KEY` in a baseline context.
 * @public
 */
export function requireRoutingKey(): string {
  const key = getRoutingKey();
  if (key === undefined) {
    throw new RoutingContextError(
      'ERR_NO_ROUTING_KEY',
      'No routing key is active: this code runs outside a routed request or message (baseline).',
    );
  }
  return key;
}

/**
 * Runs `fn` with `key` as the active routing key, for `fn` and everything it starts
 * asynchronously. `undefined` runs `fn` as baseline, even inside a routed context.
 *
 * @param key - the routing key, or `undefined` for baseline
 * @param fn - the work to run
 * @returns what `fn` returns
 * @throws {@link RoutingKeyError} when `key` fails the configured `validate` option
 * @example
 * ```ts
 * await withRoutingKey('pr-142', () => fetch('http://orders/api'));
 * ```
 * @public
 */
export function withRoutingKey<T>(key: string | undefined, fn: () => T): T {
  if (key !== undefined && (typeof key !== 'string' || !state.options.isValid(key))) {
    throw new RoutingKeyError(String(key));
  }
  return runWithKey(key, fn);
}

/**
 * `withRoutingKey` for a key that is already validated (integrations call it per request).
 * @internal
 */
export function runWithKey<T>(key: string | undefined, fn: () => T): T {
  const bridge = state.bridge;
  if (bridge !== undefined) return state.als.run(key ?? BASELINE, bridge.run, key, fn) as T;
  return state.als.run(key ?? BASELINE, fn);
}

/**
 * Whether running something in `key`'s context would change nothing: `key` is already the active
 * routing context and no bridge (OpenTelemetry) has its own context to set. Lets hot paths that run
 * per event call straight through instead of opening a new scope.
 * @internal
 */
export function isActiveKey(key: string | undefined): boolean {
  return state.bridge === undefined && state.als.getStore() === (key ?? BASELINE);
}

/** @internal Installs the bridge to another context system; returns the previous one. */
export function setContextBridge(bridge: ContextBridge | undefined): ContextBridge | undefined {
  const previous = state.bridge;
  state.bridge = bridge;
  return previous;
}

/**
 * Sets process-wide options, merged over the current ones. Every integration also takes the same
 * options locally, merged over these.
 *
 * @throws `TypeError` naming the option when a value is invalid; nothing changes then.
 * @example
 * ```ts
 * configureRouting({ headers: ['x-routing-key'], propagateTo: { deny: ['api.stripe.com'] } });
 * ```
 * @public
 */
export function configureRouting(options: RoutingOptions): void {
  const raw = { ...state.raw, ...options };
  state.options = normalizeOptions(raw);
  state.raw = raw;
  state.version++;
}

/**
 * Restores the defaults (for tests).
 * @public
 */
export function resetRouting(): void {
  state.raw = {};
  state.options = normalizeOptions({});
  state.version++;
}

/**
 * Returns a function that yields the effective options: the process-wide ones, or `local` merged
 * over them. `local` is validated now (bad configuration throws at start-up); the merge is redone
 * only after a `configureRouting` call.
 * @internal
 */
export function optionsResolver(local?: RoutingOptions): () => NormalizedOptions {
  if (local === undefined || Object.keys(local).length === 0) return () => state.options;
  normalizeOptions({ ...state.raw, ...local });
  let version = -1;
  let cached: NormalizedOptions = state.options;
  return () => {
    if (version !== state.version) {
      cached = normalizeOptions({ ...state.raw, ...local });
      version = state.version;
    }
    return cached;
  };
}

/** @internal The options in force when `local` is merged over the process-wide ones. */
export function resolveOptions(local?: RoutingOptions): NormalizedOptions {
  return local === undefined ? state.options : normalizeOptions({ ...state.raw, ...local });
}
