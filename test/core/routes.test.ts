import { ANY_SANDBOX, shouldProcess, staticRoutes } from 'routing-context';
import { afterEach, describe, expect, it } from 'vitest';

const routes = staticRoutes({ ka: 'sb-a', kb: 'sb-b' });

describe('shouldProcess', () => {
  afterEach(() => {
    delete process.env.SIGNADOT_SANDBOX_NAME;
  });

  it('baseline takes everything but the keys a sandbox of this workload serves', () => {
    expect(shouldProcess(routes, undefined, undefined)).toBe(true);
    expect(shouldProcess(routes, '', '')).toBe(true);
    expect(shouldProcess(routes, 'kz', undefined)).toBe(true);
    expect(shouldProcess(routes, 'ka', undefined)).toBe(false);
    expect(shouldProcess(routes, 'kb', '')).toBe(false);
  });

  it('a sandbox takes exactly its own keys', () => {
    expect(shouldProcess(routes, 'ka', 'sb-a')).toBe(true);
    expect(shouldProcess(routes, 'kb', 'sb-a')).toBe(false);
    expect(shouldProcess(routes, 'kz', 'sb-a')).toBe(false);
    expect(shouldProcess(routes, undefined, 'sb-a')).toBe(false);
  });

  it('reads SIGNADOT_SANDBOX_NAME when no sandbox name is given', () => {
    process.env.SIGNADOT_SANDBOX_NAME = 'sb-b';
    expect(shouldProcess(routes, 'kb')).toBe(true);
    expect(shouldProcess(routes, 'ka')).toBe(false);
    process.env.SIGNADOT_SANDBOX_NAME = '';
    expect(shouldProcess(routes, 'ka')).toBe(false);
    expect(shouldProcess(routes, 'kz')).toBe(true);
  });

  it('a list of keys matches whichever sandbox asks', async () => {
    const list = staticRoutes(new Set(['k1']));
    await list.ready();
    expect(list.sandboxFor('k1')).toBe(ANY_SANDBOX);
    expect(shouldProcess(list, 'k1', 'any-sandbox')).toBe(true);
    expect(shouldProcess(list, 'k1', undefined)).toBe(false);
    expect(shouldProcess(list, 'k2', 'any-sandbox')).toBe(false);
    await list.close();
  });

  it('rejects bad static routes at creation', () => {
    expect(() => staticRoutes({ ka: '' })).toThrowError(TypeError);
    expect(() => staticRoutes([42 as unknown as string])).toThrowError(/routing key/);
    expect(() => staticRoutes(null as unknown as string[])).toThrowError(TypeError);
  });

  it('ready() rejects on an aborted signal', async () => {
    await expect(routes.ready(AbortSignal.abort(new Error('stop')))).rejects.toThrow('stop');
  });
});
