/**
 * Base class of every error this library throws. `code` is stable and safe to switch on.
 * @public
 */
export class RoutingContextError extends Error {
  /** A stable, machine-readable code such as `ERR_NO_ROUTING_KEY`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RoutingContextError';
    this.code = code;
  }
}

/**
 * Thrown when code (not a request) hands the library a routing key that fails validation,
 * for example `withRoutingKey('bad key', fn)`. Untrusted input never throws this: an invalid key
 * in a header is treated as absent.
 * @public
 */
export class RoutingKeyError extends RoutingContextError {
  /** The rejected key, truncated to 64 characters. */
  readonly key: string;

  constructor(key: string) {
    const shown = key.length > 64 ? `${key.slice(0, 64)}…` : key;
    super(
      'ERR_INVALID_ROUTING_KEY',
      `Invalid routing key ${JSON.stringify(shown)}: it does not pass the configured \`validate\` option.`,
    );
    this.name = 'RoutingKeyError';
    this.key = shown;
  }
}

/**
 * Thrown (or used to reject) when a {@link RoutesSource} did not load within the configured wait,
 * so selective consumption cannot decide which messages belong to this workload.
 * @public
 */
export class RoutesUnavailableError extends RoutingContextError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ROUTES_UNAVAILABLE', message, options);
    this.name = 'RoutesUnavailableError';
  }
}
