import {
  InterceptingCall,
  type Interceptor,
  type Listener,
  type Metadata,
  type Requester,
} from '@grpc/grpc-js';
import { injectWith } from '../core/codec.js';
import type { NormalizedOptions } from '../core/options.js';
import { getRoutingKey, optionsResolver, runWithKey } from '../core/state.js';
import { targetHostname } from './target.js';
import type { RoutingClientInterceptorOptions } from './types.js';

/** Metadata entry whose whole value is the key, written next to `baggage`. @internal */
export const DEDICATED_METADATA = 'sd-routing-key';

/** grpc-js accepts only printable ASCII in text metadata values. @internal */
export function isPrintableAscii(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/** A copy of `metadata` carrying `key`; the copy without it if grpc-js rejects a value. */
function withKey(metadata: Metadata, key: string, o: NormalizedOptions): Metadata {
  const copy = metadata.clone();
  try {
    injectWith(copy, key, o);
    if (isPrintableAscii(key)) copy.set(DEDICATED_METADATA, key);
    return copy;
  } catch {
    // A value grpc-js refuses must not fail the call: send it without the key.
    return metadata.clone();
  }
}

/**
 * Response callbacks (unary callback, stream `data`/`status` events) run in the caller's context
 * rather than in the HTTP/2 session's, which belongs to whichever call opened the connection.
 */
function contextListener(key: string | undefined): Listener {
  return {
    onReceiveMetadata: (metadata, next) => runWithKey(key, () => next(metadata)),
    onReceiveMessage: (message, next) => runWithKey(key, () => next(message)),
    onReceiveStatus: (status, next) => runWithKey(key, () => next(status)),
  };
}

/**
 * A grpc-js client interceptor that sends the active routing key with every call: into a COPY of
 * the call's metadata (the caller's `Metadata` is never changed, so reusing it later sends no
 * stale key), merged into `baggage` and in the dedicated `sd-routing-key` entry (when the key is
 * printable ASCII). It respects `propagateTo`, matched against the `host` call option or the
 * `target` option. Response callbacks and client stream events run in the calling context.
 *
 * @param options - routing options merged over the process-wide ones, plus the channel `target`
 * @returns an interceptor for the `interceptors` client option
 * @throws `TypeError` at creation when an option is invalid
 * @example
 * ```ts
 * const target = 'orders.svc:50051';
 * const client = new OrdersClient(target, credentials.createInsecure(), {
 *   interceptors: [routingClientInterceptor({ target })],
 * });
 * ```
 * @public
 */
export function routingClientInterceptor(options?: RoutingClientInterceptorOptions): Interceptor {
  const { target, ...routing } = options ?? {};
  if (target !== undefined && typeof target !== 'string') {
    throw new TypeError('routing-context: option "target" must be a string (the channel target)');
  }
  const resolve = optionsResolver(options === undefined ? undefined : routing);
  const targetHost = target === undefined ? undefined : targetHostname(target);

  return (callOptions, nextCall) => {
    const key = getRoutingKey();
    let send = false;
    let o: NormalizedOptions | undefined;
    if (key !== undefined) {
      o = resolve();
      const host = typeof callOptions.host === 'string' ? targetHostname(callOptions.host) : targetHost;
      send = host === undefined ? o.raw.propagateTo === undefined : o.allowsHost(host);
    }
    const requester: Requester = {
      start(metadata, _listener, next) {
        next(send ? withKey(metadata, key!, o!) : metadata, contextListener(key));
      },
    };
    return new InterceptingCall(nextCall(callOptions), requester);
  };
}
