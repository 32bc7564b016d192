import { RoutesUnavailableError } from './errors.js';
import type { RoutesSource } from './routes.js';
import { runWithKey } from './state.js';

/**
 * The workload whose routes are asked for (a Kubernetes workload of the baseline).
 * @public
 */
export interface BaselineWorkload {
  /** e.g. `'Deployment'`, `'Rollout'`; default env `SIGNADOT_BASELINE_KIND`. */
  kind: string;
  /** default env `SIGNADOT_BASELINE_NAMESPACE`. */
  namespace: string;
  /** default env `SIGNADOT_BASELINE_NAME`. */
  name: string;
}

/**
 * Options of {@link routesApi}. Every field has an environment default, so `routesApi()` works in
 * a workload the Signadot operator configured.
 * @public
 */
export interface RoutesApiOptions {
  /**
   * Base URL of the Routes API's HTTP endpoint; the client appends
   * `/api/v1/workloads/routing-rules`.
   * @defaultValue `http://<host of env SIGNADOT_ROUTESERVER>:7778`
   */
  url?: string | undefined;
  /**
   * This workload's baseline; fields left out come from the environment.
   * @defaultValue env `SIGNADOT_BASELINE_KIND`, `SIGNADOT_BASELINE_NAMESPACE`, `SIGNADOT_BASELINE_NAME`
   */
  baseline?: Partial<BaselineWorkload> | undefined;
  /**
   * The sandbox this process runs in; when set, only the rules routing to it are asked for.
   * Empty means baseline.
   * @defaultValue env `SIGNADOT_SANDBOX_NAME`
   */
  sandboxName?: string | undefined;
  /**
   * Time between two successful loads, in ms.
   * @defaultValue `10_000`
   */
  refreshMs?: number | undefined;
  /**
   * Time limit of one request, in ms.
   * @defaultValue `10_000`
   */
  requestTimeoutMs?: number | undefined;
  /**
   * Stops polling when aborted, like `close()`.
   * @defaultValue none
   */
  signal?: AbortSignal | undefined;
  /**
   * Called with each failed load (network error, HTTP status, malformed answer); the last good
   * routes stay in force. Exceptions it throws are swallowed.
   * @defaultValue none
   */
  onError?: ((error: Error) => void) | undefined;
}

/** @internal */
export const ROUTES_API_DEFAULTS = {
  refreshMs: 10_000,
  requestTimeoutMs: 10_000,
  /** Back-off after failures: 1 s, doubling, at most 30 s, with jitter. */
  backoffBaseMs: 1_000,
  backoffMaxMs: 30_000,
  httpPort: 7778,
  path: '/api/v1/workloads/routing-rules',
  maxBodyBytes: 32 * 1024 * 1024,
} as const;

function env(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function fail(option: string, message: string): never {
  throw new TypeError(`routing-context: routesApi() option "${option}" ${message}`);
}

function defaultUrl(): string {
  const server = env('SIGNADOT_ROUTESERVER');
  if (server === undefined) {
    fail('url', 'is required: pass it or set env SIGNADOT_ROUTESERVER (e.g. routeserver.signadot.svc:7777)');
  }
  let host: string;
  try {
    host = new URL(server.includes('://') ? server : `http://${server}`).hostname;
  } catch {
    fail('url', `could not be derived from env SIGNADOT_ROUTESERVER=${JSON.stringify(server)}`);
  }
  if (host === '')
    fail('url', `could not be derived from env SIGNADOT_ROUTESERVER=${JSON.stringify(server)}`);
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${ROUTES_API_DEFAULTS.httpPort}`;
}

function positiveMs(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || value > 2_147_483_647) {
    fail(option, `must be a positive number of ms, got ${String(value)}`);
  }
  return value;
}

function baselineField(options: RoutesApiOptions, field: keyof BaselineWorkload, envName: string): string {
  const value = options.baseline?.[field] ?? env(envName);
  if (value === undefined) fail(`baseline.${field}`, `is required: pass it or set env ${envName}`);
  if (typeof value !== 'string' || value.length === 0)
    fail(`baseline.${field}`, 'must be a non-empty string');
  return value;
}

/** The request URL, built and checked once. */
function requestUrl(
  options: RoutesApiOptions,
  baseline: BaselineWorkload,
  sandboxName: string | undefined,
): string {
  const base = options.url ?? defaultUrl();
  if (typeof base !== 'string') fail('url', 'must be a string');
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    fail('url', `is not a valid URL: ${JSON.stringify(base)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('url', 'must be an http(s) URL');
  url.pathname = url.pathname.replace(/\/+$/, '') + ROUTES_API_DEFAULTS.path;
  url.searchParams.set('baselineKind', baseline.kind);
  url.searchParams.set('baselineNamespace', baseline.namespace);
  url.searchParams.set('baselineName', baseline.name);
  if (sandboxName !== undefined) url.searchParams.set('destinationSandboxName', sandboxName);
  return url.toString();
}

/**
 * Delay before the next attempt after `failures` consecutive failures: 1 s doubling up to 30 s,
 * jittered into the upper half of that ceiling so that many clients do not retry in step.
 * @internal
 */
export function backoffDelay(failures: number, random: () => number = Math.random): number {
  const ceiling = Math.min(
    ROUTES_API_DEFAULTS.backoffMaxMs,
    ROUTES_API_DEFAULTS.backoffBaseMs * 2 ** Math.min(Math.max(failures, 1) - 1, 16),
  );
  return ceiling / 2 + random() * (ceiling / 2);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

/**
 * Parses an answer strictly: `{ "routingRules": [ { routingKey, destinationSandbox: { name },
 * baseline?: { kind, namespace, name } }, ... ] | null }`. Throws on anything else, so a garbage
 * answer never replaces good routes. Rules of another baseline are ignored.
 * @internal
 */
export function parseRoutingRules(body: unknown, baseline: BaselineWorkload): Map<string, string> {
  if (!isRecord(body) || !('routingRules' in body))
    throw new Error('answer is not an object with "routingRules"');
  const rules = body.routingRules;
  const table = new Map<string, string>();
  if (rules === null) return table;
  if (!Array.isArray(rules)) throw new Error('"routingRules" is not an array');
  for (let i = 0; i < rules.length; i++) {
    const rule: unknown = rules[i];
    if (!isRecord(rule)) throw new Error(`routingRules[${i}] is not an object`);
    if (!nonEmptyString(rule.routingKey))
      throw new Error(`routingRules[${i}].routingKey is not a non-empty string`);
    const destination = rule.destinationSandbox;
    if (!isRecord(destination) || !nonEmptyString(destination.name)) {
      throw new Error(`routingRules[${i}].destinationSandbox.name is not a non-empty string`);
    }
    const ruleBaseline = rule.baseline;
    if (ruleBaseline !== undefined && ruleBaseline !== null) {
      if (
        !isRecord(ruleBaseline) ||
        typeof ruleBaseline.kind !== 'string' ||
        typeof ruleBaseline.namespace !== 'string' ||
        typeof ruleBaseline.name !== 'string'
      ) {
        throw new Error(`routingRules[${i}].baseline is not { kind, namespace, name }`);
      }
      if (
        ruleBaseline.kind !== baseline.kind ||
        ruleBaseline.namespace !== baseline.namespace ||
        ruleBaseline.name !== baseline.name
      ) {
        continue;
      }
    }
    table.set(rule.routingKey, destination.name);
  }
  return table;
}

/**
 * Routes from the Signadot Routes API, over HTTP: `GET <url>/api/v1/workloads/routing-rules` for
 * this baseline workload, polled every `refreshMs`. On a failure (network, HTTP status, an answer
 * of the wrong shape) the last good routes stay in force and the next attempt backs off (1 s,
 * doubling, at most 30 s, with jitter). `ready()` resolves on the first good load; `close()` (or
 * `signal`) stops polling. Timers never keep the process alive. Requests run outside any routing
 * context.
 *
 * @param options - see {@link RoutesApiOptions}; every field has an environment default
 * @returns a {@link RoutesSource} for `routingConsumer` / `shouldProcess`
 * @throws `TypeError` naming the option (and its environment variable) when configuration is
 *   missing or invalid
 * @example
 * ```ts
 * const routes = routesApi({
 *   url: 'http://routeserver.signadot.svc:7778',
 *   baseline: { kind: 'Deployment', namespace: 'shop', name: 'orders' },
 * });
 * const consumer = routingConsumer(kafka.consumer({ groupId: sandboxGroupId('orders') }), { routes });
 * ```
 * @public
 */
export function routesApi(options: RoutesApiOptions = {}): RoutesSource {
  if (!isRecord(options)) throw new TypeError('routing-context: routesApi() options must be an object');
  const baseline: BaselineWorkload = {
    kind: baselineField(options, 'kind', 'SIGNADOT_BASELINE_KIND'),
    namespace: baselineField(options, 'namespace', 'SIGNADOT_BASELINE_NAMESPACE'),
    name: baselineField(options, 'name', 'SIGNADOT_BASELINE_NAME'),
  };
  const rawSandbox = options.sandboxName ?? env('SIGNADOT_SANDBOX_NAME');
  if (rawSandbox !== undefined && typeof rawSandbox !== 'string') fail('sandboxName', 'must be a string');
  const sandboxName = rawSandbox === '' ? undefined : rawSandbox;
  const url = requestUrl(options, baseline, sandboxName);
  const refreshMs = positiveMs('refreshMs', options.refreshMs, ROUTES_API_DEFAULTS.refreshMs);
  const requestTimeoutMs = positiveMs(
    'requestTimeoutMs',
    options.requestTimeoutMs,
    ROUTES_API_DEFAULTS.requestTimeoutMs,
  );
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal))
    fail('signal', 'must be an AbortSignal');
  if (options.onError !== undefined && typeof options.onError !== 'function')
    fail('onError', 'must be a function');
  const onError = options.onError;

  let table: Map<string, string> | undefined;
  let failures = 0;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const inFlight = new AbortController();
  let polling: Promise<void> | undefined;
  let markReady!: () => void;
  let markClosed!: (error: Error) => void;
  const loaded = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    markClosed = reject;
  });
  loaded.catch(() => {});

  function report(error: Error): void {
    try {
      onError?.(error);
    } catch {
      // A reporting hook must never stop polling.
    }
  }

  async function load(): Promise<void> {
    const signal = AbortSignal.any([inFlight.signal, AbortSignal.timeout(requestTimeoutMs)]);
    const response = await fetch(url, { signal, headers: { accept: 'application/json' } });
    if (!response.ok) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`Routes API answered HTTP ${response.status}`);
    }
    const declared = Number(response.headers.get('content-length'));
    if (declared > ROUTES_API_DEFAULTS.maxBodyBytes) {
      await response.body?.cancel().catch(() => {});
      throw new Error(`Routes API answer too large (${declared} bytes)`);
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error('Routes API answer is not JSON');
    }
    table = parseRoutingRules(body, baseline);
  }

  function schedule(delayMs: number): void {
    if (closed) return;
    timer = setTimeout(tick, delayMs);
    timer.unref?.();
  }

  function tick(): void {
    timer = undefined;
    polling = load().then(
      () => {
        failures = 0;
        markReady();
        schedule(refreshMs);
      },
      (error: unknown) => {
        if (closed) return;
        failures++;
        report(error instanceof Error ? error : new Error(String(error)));
        schedule(backoffDelay(failures));
      },
    );
  }

  async function close(): Promise<void> {
    if (closed) return polling?.catch(() => {});
    closed = true;
    clearTimeout(timer);
    timer = undefined;
    inFlight.abort();
    options.signal?.removeEventListener('abort', onAbort);
    markClosed(
      new RoutesUnavailableError('routing-context: routesApi() was closed before the routes loaded'),
    );
    await polling?.catch(() => {});
  }

  function onAbort(): void {
    void close();
  }

  if (options.signal?.aborted) {
    closed = true;
    markClosed(
      new RoutesUnavailableError('routing-context: routesApi() signal was aborted before the routes loaded'),
    );
  } else {
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // Polling belongs to no request: never let an outbound-propagation hook tag it.
    runWithKey(undefined, tick);
  }

  return {
    ready(signal?: AbortSignal): Promise<void> {
      if (table !== undefined) return Promise.resolve();
      if (signal === undefined) return loaded;
      if (signal.aborted) return Promise.reject(signal.reason);
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        loaded.then(
          () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          },
          (error: unknown) => {
            signal.removeEventListener('abort', onAbort);
            reject(error);
          },
        );
      });
    },
    sandboxFor(routingKey: string): string | undefined {
      return table?.get(routingKey);
    },
    close,
  };
}
