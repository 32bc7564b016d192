// Types of bench/_stats.mjs, for the tests that check it.
export declare function median(values: readonly number[]): number;
export declare function medianInterval(
  values: readonly number[],
  level?: number,
): { low: number; high: number; confidence: number };
export declare function settle(
  values: readonly number[],
  target: number,
): { interval: string; verdict: 'met' | 'missed' | 'unresolved' };
