import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import { bindEmitter } from '../core/bind.js';
import { extractWith, stripQueryParam } from '../core/codec.js';
import type { NormalizedOptions } from '../core/options.js';
import { optionsResolver, runWithKey } from '../core/state.js';
import type { RoutingOptions } from '../core/types.js';
import type { RoutingPluginOptions } from './types.js';

type HookDone = (error?: Error) => void;

/** Removes `param` from `request.url` (and the raw `originalUrl` Fastify keeps) and `request.query`. */
function stripParam(request: FastifyRequest, param: string): void {
  const raw = request.raw as FastifyRequest['raw'] & { originalUrl?: string };
  const url = raw.url;
  if (url === undefined || url.indexOf('?') === -1 || !url.includes(param)) return;
  raw.url = stripQueryParam(url, param);
  if (typeof raw.originalUrl === 'string') raw.originalUrl = stripQueryParam(raw.originalUrl, param);
  // Fastify parses the query before `onRequest`, into an own property.
  const query = request.query as Record<string, unknown> | null | undefined;
  if (query !== null && typeof query === 'object' && Object.hasOwn(query, param)) {
    const copy = Object.assign(Object.create(Object.getPrototypeOf(query)) as object, query) as Record<
      string,
      unknown
    >;
    delete copy[param];
    request.query = copy;
  }
}

function routingOptionsOf(options: RoutingPluginOptions | undefined): RoutingOptions | undefined {
  if (options === undefined || options === null) return undefined;
  const { prefix: _prefix, logLevel: _logLevel, logSerializers: _logSerializers, ...routing } = options;
  return routing;
}

function register(fastify: FastifyInstance, options: RoutingPluginOptions, done: HookDone): void {
  let getOptions: () => NormalizedOptions;
  try {
    getOptions = optionsResolver(routingOptionsOf(options));
  } catch (error) {
    done(error as Error);
    return;
  }
  if (!fastify.hasRequestDecorator('routingKey')) fastify.decorateRequest('routingKey', undefined);

  fastify.addHook(
    'onRequest',
    function routingOnRequest(request: FastifyRequest, reply: FastifyReply, next: HookDone) {
      const o = getOptions();
      const raw = request.raw;
      let key: string | undefined;
      try {
        // Node's parser lower-cases header names: exact look-ups suffice.
        if (o.trusts(raw)) key = extractWith(raw.headers, o, raw.url, undefined, true);
        if (o.queryParam !== undefined) stripParam(request, o.queryParam);
      } catch {
        // Untrusted input never throws; whatever went wrong, the request runs as baseline.
        key = undefined;
      }
      request.routingKey = key;
      // Body parsing and `onResponse` run in listeners of the raw request and response.
      bindEmitter(raw, key);
      bindEmitter(reply.raw, key);
      runWithKey(key, next);
    },
  );

  // The first hook after the body is parsed: re-enter the context in case a custom parser or a
  // `preParsing` stream resumed from a foreign context (as @fastify/request-context does).
  fastify.addHook(
    'preValidation',
    function routingPreValidation(request: FastifyRequest, _reply: FastifyReply, next: HookDone) {
      runWithKey(request.routingKey, next);
    },
  );
  done();
}

const plugin = register as FastifyPluginCallback<RoutingPluginOptions> & Record<symbol, unknown>;
// What `fastify-plugin` would set, without depending on it: hooks reach every route of the
// instance the plugin is registered on, not just an encapsulated child.
plugin[Symbol.for('skip-override')] = true;
plugin[Symbol.for('fastify.display-name')] = 'routing-context';
plugin[Symbol.for('plugin-meta')] = { name: 'routing-context' };

/**
 * Fastify (4 and 5) plugin that reads the routing key of each request and keeps it active in every
 * hook and the handler: `onRequest`, `preParsing`, `preValidation`, `preHandler`, the handler,
 * `preSerialization`, `onSend`, `onResponse`, POST bodies included. The key is exposed as
 * `request.routingKey`.
 *
 * The key comes from the dedicated headers, `baggage`, `tracestate`, legacy headers, the query
 * parameter (removed from `request.url` and `request.query` afterwards) or the host, as configured.
 * An untrusted request (`trustIncoming`) and a request with no valid key run as baseline,
 * explicitly. Register it on the root instance: it is not encapsulated, so it reaches every route.
 *
 * @example
 * ```ts
 * import Fastify from 'fastify';
 * import { routingPlugin } from 'routing-context/fastify';
 *
 * const app = Fastify();
 * await app.register(routingPlugin, { trustIncoming: true });
 * app.post('/orders', async (request) => ({ key: request.routingKey }));
 * ```
 * @public
 */
export const routingPlugin: FastifyPluginCallback<RoutingPluginOptions> = plugin;
