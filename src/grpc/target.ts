/** Schemes grpc-js resolves whose path is a host list (`dns:///h:p`, `ipv4:h:p,h:p`...). */
const SCHEME = /^([a-z][a-z0-9+.-]*):/i;
const LOCAL_SCHEMES = new Set(['unix', 'unix-abstract', 'vsock']);

/**
 * The hostname of a gRPC channel target or authority, without port or brackets, lower-case;
 * `undefined` when it cannot be told.
 * @internal
 */
export function targetHostname(target: string): string | undefined {
  let rest = target.trim();
  const scheme = SCHEME.exec(rest);
  // `host:port` also matches the scheme pattern; a scheme is only one when followed by `//` or
  // when it is one grpc-js knows.
  if (scheme !== null) {
    const name = scheme[1]!.toLowerCase();
    if (LOCAL_SCHEMES.has(name)) return 'localhost';
    const after = rest.slice(scheme[0].length);
    if (after.startsWith('//')) {
      // `dns://authority/host:port`: the name is the path.
      const slash = after.indexOf('/', 2);
      rest = slash === -1 ? after.slice(2) : after.slice(slash + 1);
    } else if (name === 'dns' || name === 'ipv4' || name === 'ipv6' || name === 'xds') {
      rest = after;
    }
  }
  const comma = rest.indexOf(',');
  if (comma !== -1) rest = rest.slice(0, comma);
  let host: string;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end === -1) return undefined;
    host = rest.slice(1, end);
  } else {
    const colon = rest.indexOf(':');
    // More than one colon without brackets: a bare IPv6 address.
    host = colon !== -1 && rest.indexOf(':', colon + 1) === -1 ? rest.slice(0, colon) : rest;
  }
  host = host.toLowerCase();
  return host.length > 0 ? host : undefined;
}
