import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { median, medianInterval, settle } from '../bench/_stats.mjs';

// The statistics the benchmarks print their verdicts with.
describe('bench statistics', () => {
  it('takes the median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('gives the order-statistic interval of the median with its exact coverage', () => {
    const values = Array.from({ length: 15 }, (_, i) => (i + 1) / 100);
    // n = 15: [x(4), x(12)] covers the median with 1 - 2·P(Binomial(15, 1/2) <= 3) = 0.9648.
    const interval = medianInterval(values.slice().reverse());
    expect(interval.low).toBe(0.04);
    expect(interval.high).toBe(0.12);
    expect(interval.confidence).toBeCloseTo(0.96484, 4);
    // n = 5 cannot reach 95%: the widest interval, with its own 93.75%.
    expect(medianInterval([5, 4, 3, 2, 1])).toEqual({ low: 1, high: 5, confidence: 0.9375 });
    expect(settle([0.9, 1, 0.95, 0.97, 0.99], 0.95).interval).toBe('0.900–1.000 (94%)');
  });

  it('reaches at least the asked confidence whenever the count allows it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 2, noNaN: true }), { minLength: 6, maxLength: 60 }),
        (xs) => {
          const { low, high, confidence } = medianInterval(xs);
          const sorted = [...xs].sort((a, b) => a - b);
          expect(confidence).toBeGreaterThanOrEqual(0.95);
          expect(low).toBeLessThanOrEqual(median(xs));
          expect(high).toBeGreaterThanOrEqual(median(xs));
          expect(sorted).toContain(low);
          expect(sorted).toContain(high);
        },
      ),
    );
  });

  it('calls a target met, missed or unresolved from the whole interval', () => {
    const around = (centre: number) => Array.from({ length: 15 }, (_, i) => centre + (i - 7) / 1000);
    expect(settle(around(0.97), 0.95).verdict).toBe('met');
    expect(settle(around(0.93), 0.95).verdict).toBe('missed');
    expect(settle(around(0.952), 0.95).verdict).toBe('unresolved');
  });
});
