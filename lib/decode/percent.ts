// Percent-encoding (`%2D`, `%0A`) decoded over a latin1 byte view. `+` stays `+` by default, because in
// base64 secrets it is data; in application/x-www-form-urlencoded bodies and query strings (`plusAsSpace`)
// it is a space, so multi-word patterns (PEM and OpenSSH armour, service-account JSON, credential
// files) match form posts (`-----BEGIN+OPENSSH+PRIVATE+KEY-----`), as browsers, curl --data-urlencode
// and Python's urlencode write them.
import { HEX_VALUE } from './hex.js';
import { copyBytes } from '../copy-bytes.js';

/**
 * Returns the decoded bytes, or null when there is nothing to decode (no percent escape, and with
 * `plusAsSpace` no `+` either). `info.base64Chars` is set when an escape decoded to `+`, `/` or `=`.
 */
export function decodePercent(src: Buffer, plusAsSpace = false, info?: { base64Chars: boolean }): Buffer | null {
  const n = src.length;
  let i = src.indexOf(0x25);
  const firstPlus = plusAsSpace ? src.indexOf(0x2b) : -1;
  if (i === -1 && firstPlus === -1) return null;
  let out: Buffer | null = null;
  let o = 0;
  let last = 0;
  while (i !== -1 && i < n - 2) {
    const h = HEX_VALUE[src[i + 1]!]!;
    const l = HEX_VALUE[src[i + 2]!]!;
    if (h >= 0 && l >= 0) {
      out ??= Buffer.allocUnsafe(n);
      o += copyBytes(src.subarray(last, i), out, o);
      const b = (h << 4) | l;
      out[o++] = b;
      // `+`, `/` and `=` escaped: a base64 run may only be whole after decoding.
      if (info && (b === 0x2b || b === 0x2f || b === 0x3d)) info.base64Chars = true;
      last = i + 3;
      i = src.indexOf(0x25, last);
    } else {
      i = src.indexOf(0x25, i + 1);
    }
  }
  if (out === null) {
    if (firstPlus === -1) return null;
    out = Buffer.allocUnsafe(n);
    copyBytes(src, out, 0);
    o = n;
  } else {
    o += copyBytes(src.subarray(last, n), out, o);
  }
  if (plusAsSpace) {
    // `%2B` was decoded to `+` above and must stay one: only literal `+` of the source become spaces.
    // Spaces are placed by re-walking the source, so escaped pluses are told apart from literal ones.
    let w = 0;
    for (let r = 0; r < n; r++) {
      const c = src[r]!;
      if (c === 0x25 && r < n - 2 && HEX_VALUE[src[r + 1]!]! >= 0 && HEX_VALUE[src[r + 2]!]! >= 0) {
        r += 2;
      } else if (c === 0x2b) {
        out[w] = 0x20;
      }
      w++;
    }
  }
  return out.subarray(0, o);
}
