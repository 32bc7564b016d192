import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, normalizeOptions } from '../../src/core/options.js';

describe('default validate', () => {
  const fast = normalizeOptions({}).isValid;
  const re = new RegExp(DEFAULTS.validate.source);

  it('accepts exactly what the documented RegExp accepts', () => {
    // First, before any key was accepted: the empty string is not a key.
    expect(fast('')).toBe(false);
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 140 }), fc.stringMatching(/^[A-Za-z0-9._-]{0,130}$/)),
        (key) => {
          expect(fast(key)).toBe(re.test(key));
        },
      ),
      { numRuns: 5000 },
    );
    for (const key of [
      'a',
      'A.b_c-d',
      '0',
      'x'.repeat(128),
      'x'.repeat(129),
      '.a',
      '_a',
      '-a',
      'a b',
      '',
      'ü',
    ]) {
      expect(fast(key)).toBe(re.test(key));
    }
  });

  it('answers the same when keys repeat and alternate, valid or not', () => {
    // The validator remembers the last key it accepted: repeats, equal copies and keys in between
    // must not change an answer.
    const pool = ['pr-1', 'pr-2', 'pr 1', '', 'x'.repeat(128), 'x'.repeat(129), '-pr', 'Pr.9_z'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pool), { maxLength: 40 }), (keys) => {
        for (const key of keys) {
          // A copy with the same characters, not the same string object.
          const copy = [...key].join('');
          expect(fast(key)).toBe(re.test(key));
          expect(fast(copy)).toBe(re.test(key));
        }
      }),
      { numRuns: 500 },
    );
  });
});
