/**
 * A Fetch `Headers`, or anything with the same `get`/`set` pair.
 * @public
 */
export interface HeadersLike {
  get(name: string): string | null | undefined;
  set(name: string, value: string): void;
  delete?(name: string): void;
}

/**
 * A gRPC `Metadata` (grpc-js), described structurally so the core needs no gRPC import.
 * @public
 */
export interface MetadataLike {
  get(key: string): Array<string | Uint8Array>;
  set(key: string, value: string): void;
  remove(key: string): void;
  getMap(): Record<string, unknown>;
}

/**
 * One header value as the carriers of Node, Kafka and gRPC hold it.
 * @public
 */
export type HeaderValue =
  | string
  | number
  | Uint8Array
  | ReadonlyArray<string | Uint8Array>
  | null
  | undefined;

/**
 * Anything the library can read a routing key from or write one into: Node's
 * `IncomingHttpHeaders` / `OutgoingHttpHeaders`, a Fetch `Headers`, a Kafka message's
 * `headers` record (values `string | Buffer | (string | Buffer)[]`), or a gRPC `Metadata`.
 * @public
 */
export type HeaderCarrier = HeadersLike | MetadataLike | { [name: string]: HeaderValue | unknown };

/**
 * Where a candidate routing key was found, in the order of precedence.
 * @public
 */
export type KeySource = 'header' | 'baggage' | 'tracestate' | 'legacy' | 'query' | 'host';

/**
 * Information passed to {@link RoutingOptions.onInvalidKey}.
 * @public
 */
export interface InvalidKeyInfo {
  /** Which source carried the rejected value. */
  source: KeySource;
  /** The header, member or parameter name that carried it. */
  name: string;
  /** The rejected value, truncated to 128 characters. */
  value: string;
}

/**
 * The part of an incoming request that `trustIncoming` predicates may look at. Node's
 * `IncomingMessage` (Express `req`, Fastify `request.raw`) satisfies it.
 * @public
 */
export interface IncomingRequestLike {
  headers: { [name: string]: string | string[] | undefined };
  url?: string | undefined;
  socket?: { remoteAddress?: string | undefined } | undefined;
}

/**
 * Which outbound hosts receive the routing key. Strings match a hostname exactly (case-insensitive);
 * a string starting with `*.` matches every subdomain of the rest. Deny wins over allow; with
 * `allow`, only matching hosts receive the key.
 * @public
 */
export interface PropagationTargets {
  allow?: ReadonlyArray<string | RegExp>;
  deny?: ReadonlyArray<string | RegExp>;
}

/**
 * Read and write switches for a key format.
 * @public
 */
export interface FormatSwitch {
  /** Read this format from incoming carriers. */
  read?: boolean;
  /** Write this format into outgoing carriers. */
  write?: boolean;
}

/**
 * Process-wide (see `configureRouting`) or per-integration settings.
 * @public
 */
export interface RoutingOptions {
  /**
   * The baggage (and tracestate) member name written on outbound carriers.
   * @defaultValue `'sd-routing-key'`
   */
  baggageKey?: string;
  /**
   * Baggage and tracestate member names read, in order of preference. `baggageKey` is always read,
   * first, even when it is not listed.
   * @defaultValue `['sd-routing-key', 'sd-sandbox']`
   */
  acceptKeys?: readonly string[];
  /**
   * Dedicated header names whose whole value is the key (Signadot "custom headers"). They take
   * precedence over baggage on read and are written on every outbound carrier.
   * @defaultValue `[]`
   */
  headers?: readonly string[];
  /**
   * `uberctx-<name>` (Jaeger) and `ot-baggage-<name>` (OpenTracing) headers. `true`/`false` set both
   * switches.
   * @defaultValue `{ read: true, write: false }`
   */
  legacyHeaders?: boolean | FormatSwitch;
  /**
   * The W3C `tracestate` header. `true`/`false` set both switches.
   * @defaultValue `{ read: true, write: false }`
   */
  tracestate?: boolean | FormatSwitch;
  /**
   * Query parameter read by the middleware (for webhooks and shared links), then stripped from the
   * URL the application sees. `false` disables it.
   * @defaultValue `'sd-routing-key'`
   */
  queryParam?: string | false;
  /**
   * A RegExp with a named group `key`, matched against the `host` header, e.g.
   * `/^pr-(?<key>\d+)\.preview\./`.
   * @defaultValue none
   */
  hostPattern?: RegExp | undefined;
  /**
   * What a valid routing key looks like. Invalid keys are treated as absent.
   * @defaultValue `/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/`
   */
  validate?: RegExp | ((key: string) => boolean);
  /**
   * Which outbound hosts receive the key.
   * @defaultValue every host
   */
  propagateTo?: PropagationTargets | undefined;
  /**
   * Whether inbound routing headers are honoured. `false` ignores them (edge services facing the
   * internet); a predicate decides per request.
   * @defaultValue `true`
   */
  trustIncoming?: boolean | ((request: IncomingRequestLike) => boolean);
  /**
   * Called when an inbound value under a routing-key name fails validation and is dropped.
   * Exceptions it throws are swallowed.
   * @defaultValue none
   */
  onInvalidKey?: ((info: InvalidKeyInfo) => void) | undefined;
}
