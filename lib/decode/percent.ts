// Percent-encoding (`%2D`, `%0A`) decoded over a latin1 byte view; `+` is left alone because in base64
// secrets it is data, and a space in prose changes no rule's outcome that matters.
import { HEX_VALUE } from './hex.js';

/** Returns the decoded bytes, or null when there is no percent escape. */
export function decodePercent(src: Buffer): Buffer | null {
  const n = src.length;
  let i = src.indexOf(0x25);
  let out: Buffer | null = null;
  let o = 0;
  let last = 0;
  while (i !== -1 && i < n - 2) {
    const h = HEX_VALUE[src[i + 1]!]!;
    const l = HEX_VALUE[src[i + 2]!]!;
    if (h >= 0 && l >= 0) {
      out ??= Buffer.allocUnsafe(n);
      o += src.copy(out, o, last, i);
      out[o++] = (h << 4) | l;
      last = i + 3;
      i = src.indexOf(0x25, last);
    } else {
      i = src.indexOf(0x25, i + 1);
    }
  }
  if (out === null) return null;
  o += src.copy(out, o, last, n);
  return out.subarray(0, o);
}
