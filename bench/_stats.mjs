// Statistics shared by the benchmarks: medians of per-round ratios, how far those medians can be
// trusted, and whether a run settles a target at all.

/** The median of `values` (the mean of the two middle ones for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** P(X <= k) for X ~ Binomial(n, 1/2). */
function binomialHalfCdf(n, k) {
  let term = 0.5 ** n; // P(X = 0)
  let sum = term;
  for (let i = 1; i <= k; i++) {
    term = (term * (n - i + 1)) / i;
    sum += term;
  }
  return sum;
}

/**
 * A distribution-free confidence interval for the median of the population the `values` were
 * drawn from (the order-statistic interval: no assumption on the shape of the noise, only that
 * rounds are independent). Returns `{ low, high, confidence }`, `confidence` being the interval's
 * exact coverage, the smallest at or above `level` that `values.length` allows; with too few values
 * for `level` it is the widest interval (lowest to highest) and its own, lower, coverage.
 * @param {number[]} values
 * @param {number} [level]
 */
export function medianInterval(values, level = 0.95) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { low: Number.NaN, high: Number.NaN, confidence: 0 };
  // The interval [x(k), x(n-k+1)] (1-based) covers the median with probability 1 - 2·P(X <= k-1).
  let k = 1;
  while (k + 1 <= n - k && 1 - 2 * binomialHalfCdf(n, k) >= level) k++;
  return { low: sorted[k - 1], high: sorted[n - k], confidence: 1 - 2 * binomialHalfCdf(n, k - 1) };
}

/**
 * What a run says of `target` for a ratio whose per-round values are `values`, from one
 * `medianInterval`: `interval`, that interval as `low–high (NN%)` with three decimals, and
 * `verdict`: `met` when the whole interval lies at or above `target`, `missed` when it lies below,
 * `unresolved` when the run's noise leaves both possible (more rounds, or a quieter machine, may
 * settle it).
 * @param {number[]} values
 * @param {number} target
 */
export function settle(values, target) {
  const { low, high, confidence } = medianInterval(values);
  const verdict = low >= target ? 'met' : high < target ? 'missed' : 'unresolved';
  return { interval: `${low.toFixed(3)}–${high.toFixed(3)} (${Math.round(confidence * 100)}%)`, verdict };
}
