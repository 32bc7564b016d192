// The variants of the HTTP benchmarks (bench/http.mjs, bench/http-instructions.mjs): every
// `bench/http-variants/<name>.mjs` whose name does not start with `_`, `bare` (the baseline) first.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const variantsDir = dirname(fileURLToPath(import.meta.url));

/** Every request of the benchmarks carries this, so routed variants do real work. */
export const BENCH_HEADERS = { baggage: 'sd-routing-key=vf0ju8vw50wpu,user=bench' };

/**
 * Sends one request through a variant's chain and returns what reached B (`GET /__seen` on B):
 * `{ baggage, traceparent }`. Throws when A does not answer 2xx.
 * @param {string} name - the variant, for the error message
 * @param {{ a: number, b: number }} ports
 */
export async function seenAtB(name, ports) {
  const response = await fetch(`http://127.0.0.1:${ports.a}/a`, { headers: BENCH_HEADERS });
  if (!response.ok) throw new Error(`variant ${name}: GET /a answered ${response.status}`);
  await response.arrayBuffer();
  return (await fetch(`http://127.0.0.1:${ports.b}/__seen`)).json();
}

/**
 * The variant names to run: all of them, or those listed in `only` (a comma-separated string,
 * `BENCH_VARIANTS`), always with `bare`.
 * @param {string | undefined} only
 */
export function variantNames(only) {
  const wanted = only?.split(',').map((s) => s.trim());
  const names = readdirSync(variantsDir)
    .filter((f) => f.endsWith('.mjs') && !f.startsWith('_'))
    .map((f) => f.slice(0, -4))
    .filter((n) => wanted === undefined || wanted.includes(n) || n === 'bare')
    .sort((x, y) => (x === 'bare' ? -1 : y === 'bare' ? 1 : x.localeCompare(y)));
  if (!names.includes('bare')) throw new Error('bench/http-variants/bare.mjs (the baseline) is missing');
  for (const name of wanted ?? []) {
    if (!names.includes(name)) throw new Error(`BENCH_VARIANTS: no variant "${name}" in ${variantsDir}`);
  }
  return names;
}

/** The path of variant `name`'s file. */
export function variantFile(name) {
  return join(variantsDir, `${name}.mjs`);
}
