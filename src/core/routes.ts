/**
 * Tells, for THIS workload, which sandbox (if any) serves a routing key. Selective consumption
 * (`routing-context/kafkajs`) asks it for every message.
 * @public
 */
export interface RoutesSource {
  /** Resolves once the routes are loaded (at once for static routes). Rejects if `signal` aborts first. */
  ready(signal?: AbortSignal): Promise<void>;
  /**
   * The sandbox serving `routingKey` for this workload, `ANY_SANDBOX` when a static list
   * names the key without a sandbox, or `undefined` when no sandbox of this workload serves it.
   */
  sandboxFor(routingKey: string): string | undefined;
  /** Stops any background work (polling). */
  close(): Promise<void>;
}

/**
 * Returned by `sandboxFor` of `staticRoutes([...keys])`: "a sandbox of this workload serves this
 * key", matching whichever sandbox asks.
 * @public
 */
export const ANY_SANDBOX = '*';

/**
 * Routes known in advance.
 *
 * @param routes - a record `routingKey → sandboxName`, or a list of routing keys that sandboxes of
 *   this workload serve (each sandbox of this workload then processes them, and the baseline skips
 *   them; give a record when several sandboxes fork this workload)
 * @example
 * ```ts
 * const routes = staticRoutes({ 'vf0ju8vw50wpu': 'pr-142-orders' });
 * ```
 * @public
 */
export function staticRoutes(routes: Readonly<Record<string, string>> | Iterable<string>): RoutesSource {
  const table = new Map<string, string>();
  if (typeof routes !== 'object' || routes === null) {
    throw new TypeError(
      'routing-context: staticRoutes() takes a record { routingKey: sandboxName } or a list of keys',
    );
  }
  if (Symbol.iterator in routes) {
    for (const key of routes as Iterable<string>) {
      if (typeof key !== 'string' || key.length === 0) {
        throw new TypeError(
          `routing-context: staticRoutes() got a routing key that is not a non-empty string: ${JSON.stringify(key)}`,
        );
      }
      table.set(key, ANY_SANDBOX);
    }
  } else {
    for (const [key, sandbox] of Object.entries(routes)) {
      if (typeof sandbox !== 'string' || sandbox.length === 0) {
        throw new TypeError(
          `routing-context: staticRoutes() maps routing key "${key}" to ${JSON.stringify(sandbox)}; expected a sandbox name`,
        );
      }
      table.set(key, sandbox);
    }
  }
  return {
    ready: (signal) => (signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve()),
    sandboxFor: (routingKey) => table.get(routingKey),
    close: () => Promise.resolve(),
  };
}

function envSandboxName(): string | undefined {
  const name = process.env.SIGNADOT_SANDBOX_NAME;
  return name === undefined || name.length === 0 ? undefined : name;
}

/**
 * Whether this process (a sandbox named `sandboxName`, or the baseline when it is empty) should
 * process a message carrying `routingKey`.
 *
 * - A sandbox processes exactly the keys whose route for this workload points to it.
 * - The baseline processes every message except those whose key some sandbox of THIS workload
 *   serves; a message with no key, or with the key of a sandbox that does not fork this workload,
 *   is the baseline's.
 *
 * @param routes - the routes of this workload
 * @param routingKey - the message's key (`undefined` for none)
 * @param sandboxName - this process's sandbox; defaults to env `SIGNADOT_SANDBOX_NAME`, empty or
 *   unset meaning baseline
 * @public
 */
export function shouldProcess(
  routes: RoutesSource,
  routingKey: string | undefined,
  sandboxName: string | undefined = envSandboxName(),
): boolean {
  const target = routingKey === undefined || routingKey === '' ? undefined : routes.sandboxFor(routingKey);
  if (sandboxName === undefined || sandboxName === '') return target === undefined;
  return target !== undefined && (target === sandboxName || target === ANY_SANDBOX);
}
