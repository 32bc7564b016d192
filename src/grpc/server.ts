import {
  type Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerListener,
} from '@grpc/grpc-js';
import { extractWith } from '../core/codec.js';
import type { NormalizedOptions } from '../core/options.js';
import { optionsResolver, runWithKey } from '../core/state.js';
import type { IncomingRequestLike } from '../core/types.js';
import { DEDICATED_METADATA } from './client.js';
import type { RoutingServerInterceptorOptions } from './types.js';

/** The first valid key among the values of the dedicated metadata entry. */
function fromDedicated(metadata: Metadata, o: NormalizedOptions): string | undefined {
  const values = metadata.get(DEDICATED_METADATA);
  for (const value of values) {
    if (typeof value === 'string' && o.isValid(value)) return value;
  }
  return undefined;
}

/** What a `trustIncoming` predicate sees of a gRPC call. */
function requestLike(
  metadata: Metadata,
  path: string,
  call: ServerInterceptingCallInterface,
): IncomingRequestLike {
  const headers: Record<string, string | string[] | undefined> = {};
  for (const [name, value] of Object.entries(metadata.getMap())) {
    if (typeof value === 'string') headers[name] = value;
  }
  let remoteAddress: string | undefined;
  try {
    remoteAddress = call.getConnectionInfo().remoteAddress;
  } catch {
    remoteAddress = undefined;
  }
  return { headers, url: path, socket: { remoteAddress } };
}

function extractKey(
  metadata: Metadata,
  o: NormalizedOptions,
  path: string,
  call: ServerInterceptingCallInterface,
): string | undefined {
  try {
    const policy = o.raw.trustIncoming;
    if (policy === false) return undefined;
    if (typeof policy === 'function' && !o.trusts(requestLike(metadata, path, call))) return undefined;
    return (
      fromDedicated(metadata, o) ??
      extractWith(metadata, o, undefined, o.hostPattern === undefined ? undefined : call.getHost())
    );
  } catch {
    // Untrusted input never fails the call.
    return undefined;
  }
}

/**
 * The call handed to the next interceptor / the server: runs every inbound step and every
 * response-write callback in the caller's routing context.
 */
class RoutingServerCall extends ServerInterceptingCall {
  key: string | undefined = undefined;

  override sendMessage(message: unknown, callback: () => void): void {
    const key = this.key;
    super.sendMessage(message, () => runWithKey(key, callback));
  }
}

/**
 * A grpc-js (1.10 or later) server interceptor that reads the routing key from the call's metadata
 * (the dedicated `sd-routing-key` entry, then `baggage` and the other configured sources) and
 * runs the handler, its awaits, its response writes and its request-stream `data`/`end`
 * listeners in that key's context, for unary, server-streaming, client-streaming and bidi
 * calls. Honours `trustIncoming` (a predicate receives the metadata as `headers`, the method
 * path as `url` and the peer address as `socket.remoteAddress`). Never fails a call because of
 * a malformed key.
 *
 * @param options - routing options merged over the process-wide ones
 * @returns an interceptor for the `interceptors` server option
 * @throws `TypeError` at creation when an option is invalid
 * @example
 * ```ts
 * const server = new Server({ interceptors: [routingServerInterceptor()] });
 * ```
 * @public
 */
export function routingServerInterceptor(options?: RoutingServerInterceptorOptions): ServerInterceptor {
  const resolve = optionsResolver(options);
  return (methodDescriptor, call) => {
    const routed: RoutingServerCall = new RoutingServerCall(call, {
      start(next) {
        const listener: ServerListener = {
          onReceiveMetadata(metadata, nextMetadata) {
            routed.key = extractKey(metadata, resolve(), methodDescriptor.path, call);
            runWithKey(routed.key, () => nextMetadata(metadata));
          },
          onReceiveMessage(message, nextMessage) {
            runWithKey(routed.key, () => nextMessage(message));
          },
          onReceiveHalfClose(nextHalfClose) {
            runWithKey(routed.key, nextHalfClose);
          },
        };
        next(listener);
      },
    });
    return routed;
  };
}
