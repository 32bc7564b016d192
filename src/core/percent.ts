function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/**
 * Percent-decodes `s[start, end)`. Invalid UTF-8 after decoding becomes U+FFFD (W3C Baggage);
 * a `%` not followed by two hex digits makes the whole value invalid (`undefined`). With
 * `plusIsSpace` (query strings), `+` decodes to a space.
 */
export function percentDecode(
  s: string,
  start: number,
  end: number,
  plusIsSpace = false,
): string | undefined {
  const bytes = Buffer.allocUnsafe(end - start);
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */) {
      if (i + 2 >= end) return undefined;
      const hi = hexValue(s.charCodeAt(i + 1));
      const lo = hexValue(s.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return undefined;
      bytes[n++] = hi * 16 + lo;
      i += 2;
    } else if (c === 43 /* + */ && plusIsSpace) {
      bytes[n++] = 32;
    } else if (c < 128) {
      bytes[n++] = c;
    } else {
      // Not valid in a percent-encoded value: the caller's character check rejects it first.
      return undefined;
    }
  }
  return bytes.toString('utf8', 0, n);
}

/** Whether `c` is a W3C `baggage-octet` (printable ASCII but space, `"`, `,`, `;`, `\`). */
export function isBaggageOctet(c: number): boolean {
  return (
    c === 0x21 ||
    (c >= 0x23 && c <= 0x2b) ||
    (c >= 0x2d && c <= 0x3a) ||
    (c >= 0x3c && c <= 0x5b) ||
    (c >= 0x5d && c <= 0x7e)
  );
}

/** Percent-encodes every character of `value` that is not a baggage-octet, and `%` itself. */
export function encodeBaggageValue(value: string): string {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (!isBaggageOctet(c) || c === 37) return encodeSlow(value);
  }
  return value;
}

function encodeSlow(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out +=
      isBaggageOctet(byte) && byte !== 37
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
