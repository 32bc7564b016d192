import { describe, expect, it } from 'vitest';
import { targetHostname } from '../src/grpc/target.js';

describe('targetHostname', () => {
  it('reads the hostname of every gRPC target form', () => {
    expect(targetHostname('orders.svc:50051')).toBe('orders.svc');
    expect(targetHostname('Orders.SVC')).toBe('orders.svc');
    expect(targetHostname('dns:///orders.svc:50051')).toBe('orders.svc');
    expect(targetHostname('dns://8.8.8.8/orders.svc:50051')).toBe('orders.svc');
    expect(targetHostname('dns:orders.svc:50051')).toBe('orders.svc');
    expect(targetHostname('ipv4:10.0.0.7:50051,10.0.0.8:50051')).toBe('10.0.0.7');
    expect(targetHostname('ipv6:[::1]:50051')).toBe('::1');
    expect(targetHostname('[::1]:50051')).toBe('::1');
    expect(targetHostname('::1')).toBe('::1');
    expect(targetHostname('xds:///orders')).toBe('orders');
    expect(targetHostname('unix:/run/orders.sock')).toBe('localhost');
    expect(targetHostname('localhost')).toBe('localhost');
    expect(targetHostname('')).toBeUndefined();
    expect(targetHostname('[::1')).toBeUndefined();
  });
});
