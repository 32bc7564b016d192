// Types of bench/_stats.mjs, for the tests that check it.
export declare function median(values: readonly number[]): number;
export declare function medianInterval(
  values: readonly number[],
  level?: number,
): { low: number; high: number; confidence: number };
export declare function verdict(values: readonly number[], target: number): 'met' | 'missed' | 'unresolved';
export declare function formatInterval(values: readonly number[]): string;
