// Maps a position in a decoded view back to the bytes it was decoded from, so a finding's `offset`
// points into the body as received (after content decoding), also when the match was found in a
// JSON-unescaped, percent-decoded or base64/hex-decoded view. Each function walks its source the way
// the decoder in lib/decode/ does (test/offset-map.test.ts checks them against the decoders); they run
// only for matches, never per byte of traffic.
import { HEX_VALUE } from '../decode/hex.js';

const SIMPLE_ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') SIMPLE_ESCAPE[c.charCodeAt(0)] = 1;

function hex4(s: Uint8Array, i: number): number {
  if (i + 4 > s.length) return -1;
  const a = HEX_VALUE[s[i]!]!;
  const b = HEX_VALUE[s[i + 1]!]!;
  const c = HEX_VALUE[s[i + 2]!]!;
  const d = HEX_VALUE[s[i + 3]!]!;
  return (a | b | c | d) < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
}

function utf8Length(cp: number): number {
  return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

/**
 * The offset in `raw` of the byte that JSON-unescaping turned into byte `pos` of its output (for a byte
 * inside a multi-byte escape's output: the escape's backslash).
 */
export function jsonSourceOffset(raw: Uint8Array, pos: number): number {
  return jsonWalk(raw, pos, { i: 0, o: 0 });
}

/** Walk state: source index `i` and output count `o` at a unit boundary. */
interface Cursor {
  i: number;
  o: number;
}

function jsonWalk(raw: Uint8Array, pos: number, at: Cursor): number {
  const n = raw.length;
  let o = at.o;
  let i = at.i;
  while (i < n) {
    // Remember the last boundary at or before `pos`, so the next, later position resumes from here.
    at.i = i;
    at.o = o;
    let len = 0;
    let out = 1;
    if (raw[i] === 0x5c && i < n - 1) {
      const c = raw[i + 1]!;
      if (SIMPLE_ESCAPE[c] === 1) {
        len = 2;
      } else if (c === 0x75) {
        const hi = hex4(raw, i + 2);
        if (hi >= 0) {
          let cp = hi;
          len = 6;
          if (hi >= 0xd800 && hi <= 0xdbff && raw[i + 6] === 0x5c && raw[i + 7] === 0x75) {
            const lo = hex4(raw, i + 8);
            if (lo >= 0xdc00 && lo <= 0xdfff) {
              cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
              len = 12;
            }
          }
          if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;
          out = utf8Length(cp);
        }
      }
    }
    if (len === 0) {
      if (o === pos) return i;
      // A backslash that starts no escape is copied, and so is the byte after it (never an escape start).
      o++;
      i++;
      continue;
    }
    if (pos < o + out) return i;
    o += out;
    i += len;
  }
  return n;
}

/** The offset in `raw` of the byte that percent-decoding turned into byte `pos` of its output. */
export function percentSourceOffset(raw: Uint8Array, pos: number): number {
  return percentWalk(raw, pos, { i: 0, o: 0 });
}

function percentWalk(raw: Uint8Array, pos: number, at: Cursor): number {
  const n = raw.length;
  let o = at.o;
  let i = at.i;
  while (i < n) {
    at.i = i;
    at.o = o;
    if (o === pos) return i;
    if (raw[i] === 0x25 && i < n - 2 && HEX_VALUE[raw[i + 1]!]! >= 0 && HEX_VALUE[raw[i + 2]!]! >= 0) i += 3;
    else i++;
    o++;
  }
  return n;
}

/** The offset in an encoded run of the characters that decode to byte `pos` (base64: its 4-char group). */
export function runSourceOffset(kind: 'base64' | 'hex', pos: number): number {
  return kind === 'hex' ? 2 * pos : 4 * Math.floor(pos / 3);
}

/**
 * A mapper for one decoded view that resumes from the previous answer when asked about a later
 * position (a rule's hits come in order), so mapping many hits costs one walk, not one per hit.
 */
export function sourceMapper(kind: 'json' | 'percent', raw: Uint8Array): (pos: number) => number {
  const walk = kind === 'json' ? jsonWalk : percentWalk;
  let at: Cursor = { i: 0, o: 0 };
  return (pos) => {
    if (pos < at.o) at = { i: 0, o: 0 };
    return walk(raw, pos, at);
  };
}
