import { cacheKey, routedName, withRoutingKey } from 'routing-context';
import { afterEach, describe, expect, it } from 'vitest';

describe('cacheKey and routedName', () => {
  afterEach(() => {
    delete process.env.CACHE_KEY_PREFIX;
  });

  it('prefixes per routing key and leaves baseline alone', () => {
    expect(cacheKey('cart:7')).toBe('cart:7');
    expect(withRoutingKey('pr-142', () => cacheKey('cart:7'))).toBe('pr-142:cart:7');
    expect(cacheKey('cart:7', { baselinePrefix: 'main' })).toBe('main:cart:7');
    expect(withRoutingKey('pr-142', () => cacheKey('c', { baselinePrefix: 'main' }))).toBe('pr-142:c');
  });

  it('takes the baseline prefix from CACHE_KEY_PREFIX', () => {
    process.env.CACHE_KEY_PREFIX = 'base';
    expect(cacheKey('c')).toBe('base:c');
    expect(cacheKey('c', { baselinePrefix: '' })).toBe('c');
  });

  it('names topics and queues per routing key', () => {
    expect(routedName('order.created')).toBe('order.created');
    expect(withRoutingKey('pr-142', () => routedName('order.created'))).toBe('pr-142.order.created');
    expect(withRoutingKey('pr-142', () => routedName('orders', { separator: '_' }))).toBe('pr-142_orders');
  });
});
