// Invisible characters inside tokens removed from a latin1 view of UTF-8 text, so a token split by them
// (`gh\u200bp_…`, `sk-\u00adant-…`) reads whole again before the rules run. Removed: zero-width space,
// non-joiner and joiner (U+200B..U+200D), word joiner (U+2060), zero-width no-break space / BOM (U+FEFF)
// and soft hyphen (U+00AD), in their UTF-8 bytes. Nothing else changes; the view stays one byte per char.
import { copyBytes } from '../copy-bytes.js';

/** ASCII characters of a token (keys, base64, hex, identifiers): an invisible one between two of them is hiding. */
const TOKEN = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-.') TOKEN[c.charCodeAt(0)] = 1;

/**
 * Length of the invisible characters starting at `i` when they sit inside a token (an ASCII token
 * character on both sides), else 0. Emoji sequences joined by U+200D and a BOM at the start of text
 * are left alone, so ordinary text gets no second view.
 */
function hiddenAt(s: Uint8Array, i: number): number {
  if (i === 0 || TOKEN[s[i - 1]!] !== 1) return 0;
  let k = i;
  for (let len = invisibleAt(s, k); len > 0; len = invisibleAt(s, k)) k += len;
  return k > i && k < s.length && TOKEN[s[k]!] === 1 ? k - i : 0;
}

/** Length of the invisible character's UTF-8 encoding at `i`, or 0. */
function invisibleAt(s: Uint8Array, i: number): number {
  const a = s[i]!;
  if (a === 0xe2) {
    const b = s[i + 1];
    const c = s[i + 2];
    if (b === 0x80 && c !== undefined && c >= 0x8b && c <= 0x8d) return 3; // U+200B..U+200D
    if (b === 0x81 && c === 0xa0) return 3; // U+2060
    return 0;
  }
  if (a === 0xef) return s[i + 1] === 0xbb && s[i + 2] === 0xbf ? 3 : 0; // U+FEFF
  if (a === 0xc2) return s[i + 1] === 0xad ? 2 : 0; // U+00AD
  return 0;
}

/**
 * Returns the view without the invisible characters that sit inside tokens, or null when it has none. Cost on text without them:
 * native searches for the three lead bytes (0xE2 is common in prose: curly quotes, dashes).
 */
export function stripInvisible(src: Buffer): Buffer | null {
  let first = -1;
  for (const lead of [0xe2, 0xef, 0xc2]) {
    let i = src.indexOf(lead);
    while (i !== -1 && (first === -1 || i < first)) {
      if (hiddenAt(src, i) > 0) {
        first = i;
        break;
      }
      i = src.indexOf(lead, i + 1);
    }
  }
  if (first === -1) return null;
  const out = Buffer.allocUnsafe(src.length);
  let o = copyBytes(src.subarray(0, first), out, 0);
  for (let i = first; i < src.length;) {
    const k = invisibleAt(src, i);
    if (k > 0) {
      i += k;
    } else {
      out[o++] = src[i++]!;
    }
  }
  return out.subarray(0, o);
}
