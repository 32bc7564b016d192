import type { EventEmitter } from 'node:events';
import { runWithKey } from './state.js';

const BOUND = Symbol.for('routing-context.bound-emitter');

/**
 * Makes every listener of `emitter` run in the routing context of `key`, whatever context emits.
 *
 * AsyncLocalStorage runs listeners in the emitter's context, so a body parser's `data`/`end`
 * listener (and the `next()` it calls) would lose the key. Binding `emit` once per request object
 * fixes that for every listener, added before or after. Idempotent per emitter.
 * @internal
 */
export function bindEmitter(emitter: EventEmitter, key: string | undefined): void {
  const target = emitter as EventEmitter & { [BOUND]?: true };
  if (target[BOUND]) return;
  target[BOUND] = true;
  const emit = emitter.emit;
  target.emit = function boundEmit(this: EventEmitter, ...args: [string | symbol, ...unknown[]]): boolean {
    return runWithKey(key, () => emit.apply(this, args));
  };
}
