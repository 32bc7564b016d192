import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, normalizeOptions } from '../../src/core/options.js';

describe('default validate', () => {
  const fast = normalizeOptions({}).isValid;
  const re = new RegExp(DEFAULTS.validate.source);

  it('accepts exactly what the documented RegExp accepts', () => {
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
});
