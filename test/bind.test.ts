import { describe, expect, it } from 'vitest';
import { createRequestKeys } from '../src/core/bind.js';

describe.each([
  ['private fields', true],
  ['a WeakMap', false],
])('request keys kept in %s', (_name, useFields) => {
  it('reads back what was written, per request, and nothing for an unknown request', () => {
    const keys = createRequestKeys(useFields);
    const a = {};
    const b = Object.create({ inherited: true }) as object;
    keys.write(a, 'pr-1');
    keys.write(b, '');
    expect(keys.read(a)).toBe('pr-1');
    expect(keys.read(b)).toBe('');
    expect(keys.read({})).toBeUndefined();
    keys.write(a, 'pr-2');
    expect(keys.read(a)).toBe('pr-2');
  });

  it('adds nothing the application can see on the request', () => {
    const keys = createRequestKeys(useFields);
    const request = { url: '/a' };
    keys.write(request, 'pr-1');
    expect(Reflect.ownKeys(request)).toEqual(['url']);
    expect({ ...request }).toEqual({ url: '/a' });
    expect(JSON.stringify(request)).toBe('{"url":"/a"}');
  });

  it('keeps the key of a frozen request', () => {
    const keys = createRequestKeys(useFields);
    const request = Object.freeze({ url: '/a' });
    keys.write(request, 'pr-1');
    expect(keys.read(request)).toBe('pr-1');
  });

  it('keeps requests apart: a key written for one is never read for another', () => {
    const keys = createRequestKeys(useFields);
    const requests = Array.from({ length: 100 }, () => ({}));
    for (const [i, request] of requests.entries()) keys.write(request, `pr-${i}`);
    expect(requests.map((request) => keys.read(request))).toEqual(requests.map((_, i) => `pr-${i}`));
  });
});
