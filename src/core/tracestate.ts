import type { NormalizedOptions } from './options.js';

/** W3C Trace Context limits. */
export const MAX_TRACESTATE_MEMBERS = 32;
/** 32 members of up to 256 + 1 + 256 characters, with separators. */
export const MAX_TRACESTATE_LENGTH = 32 * 514;

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * Finds the routing key in a (combined) `tracestate` value: members `name=value`, names from
 * `names` in order of preference, the first valid one among duplicates.
 */
export function findInTracestate(header: string, o: NormalizedOptions): string | undefined {
  const names = o.acceptKeys;
  const len = header.length;
  if (len === 0 || len > MAX_TRACESTATE_LENGTH) return undefined;
  let best: string | undefined;
  let bestIndex = names.length;
  let members = 0;
  let start = 0;
  while (start <= len) {
    let end = header.indexOf(',', start);
    if (end === -1) end = len;
    let ms = start;
    while (ms < end && isOws(header.charCodeAt(ms))) ms++;
    let me = end;
    while (me > ms && isOws(header.charCodeAt(me - 1))) me--;
    if (me > ms) {
      if (++members > MAX_TRACESTATE_MEMBERS) return undefined;
      const eq = header.indexOf('=', ms);
      if (eq !== -1 && eq < me && bestIndex > 0) {
        for (let j = 0; j < bestIndex; j++) {
          const name = names[j]!;
          if (eq - ms === name.length && header.startsWith(name, ms)) {
            const value = header.slice(eq + 1, me);
            if (value.length <= 256 && o.isValid(value)) {
              best = value;
              bestIndex = j;
            } else o.reportInvalid?.({ source: 'tracestate', name, value: value.slice(0, 128) });
            break;
          }
        }
      }
    }
    start = end + 1;
  }
  return best;
}

/**
 * A `tracestate` value with `name=value` first and the other members of `existing` after it,
 * members named in `stale` removed, at most 32 members.
 */
export function mergeTracestate(
  existing: string | undefined,
  member: string,
  stale: readonly string[],
): string {
  if (existing === undefined || existing.length === 0) return member;
  const parts = [member];
  for (const raw of existing.split(',', 4 * MAX_TRACESTATE_MEMBERS)) {
    if (parts.length >= MAX_TRACESTATE_MEMBERS) break;
    const m = raw.trim();
    const eq = m.indexOf('=');
    if (eq <= 0 || m.length > 513) continue;
    const name = m.slice(0, eq);
    if (stale.includes(name)) continue;
    parts.push(m);
  }
  return parts.join(',');
}
