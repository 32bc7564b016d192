type AnyFunction = (...args: any[]) => any;

/**
 * A Proxy of `target` that answers `own` members itself and every other method bound to
 * `target`, so classes with private fields (the Confluent client) keep working.
 * @internal
 */
export function bindingProxy<T extends object>(target: T, own: Record<PropertyKey, unknown>): T {
  const bound = new Map<PropertyKey, { fn: unknown; bound: unknown }>();
  return new Proxy(target, {
    get(t, prop) {
      if (Object.hasOwn(own, prop)) return own[prop];
      const value = Reflect.get(t, prop, t);
      if (typeof value !== 'function') return value;
      const hit = bound.get(prop);
      if (hit !== undefined && hit.fn === value) return hit.bound;
      const fn = (value as AnyFunction).bind(t);
      bound.set(prop, { fn: value, bound: fn });
      return fn;
    },
  });
}
