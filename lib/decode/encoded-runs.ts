// Finds base64 and hex runs in a view and decodes those that turn out to be text, so a secret
// wrapped in base64 (a common way to slip data past naive filters) is still seen. Binary payloads
// (images, hashes, compressed data) decode to non-text and are skipped cheaply. Views are latin1
// bytes (Buffers), one byte per character.
import { HEX_VALUE } from './hex.js';

export const MIN_B64_RUN = 24;
export const MIN_HEX_RUN = 32;
/** Longest run decoded; longer runs are decoded up to this many characters. */
export const MAX_RUN = 256 * 1024;
/**
 * Base64 characters decoded first to judge whether a run is text (a multiple of 4: 66 bytes). Binary
 * payloads (images, ciphertext) are most of the long runs in agent traffic and fail this at once.
 */
const HEAD_CHARS = 88;

/** Characters of standard and URL-safe base64 (hex is a subset). */
const RUN_CHAR = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-') RUN_CHAR[c.charCodeAt(0)] = 1;

/**
 * Yields [start, end) of every run of at least `min` base64 characters (with up to two `=` of padding).
 * Samples every `min`-th byte: any long enough run must contain a sampled position. From a sampled run
 * byte it looks back first; a word shorter than `min` ends that look within a few bytes, and the next
 * run can then only start after it, so ordinary prose costs a few reads per `min` bytes.
 */
const NO_RUNS: readonly never[] = Object.freeze([]);

export function findRuns(s: Uint8Array, min: number, max = Number.POSITIVE_INFINITY): readonly [number, number][] {
  // Most views have no run: no array is made for them.
  let out: [number, number][] | null = null;
  const n = s.length;
  let i = min - 1;
  let found = 0;
  while (i < n && found < max) {
    if (RUN_CHAR[s[i]!] !== 1) {
      i += min;
      continue;
    }
    // Back from i to the start of its run (a), or to the first byte that is not part of one.
    let a = i;
    while (a > 0 && RUN_CHAR[s[a - 1]!] === 1) a--;
    // The run must reach a + min - 1; look there first, then fill in backwards.
    const q = a + min - 1;
    if (q >= n) break;
    let gap = -1;
    for (let k = q; k > i; k--) {
      if (RUN_CHAR[s[k]!] !== 1) {
        gap = k;
        break;
      }
    }
    if (gap !== -1) {
      // No run through i; a run after the gap contains gap + min.
      i = gap + min;
      continue;
    }
    let b = q + 1;
    // Long runs (base64 images) are common: eight independent lookups per step, then byte by byte.
    while (
      b + 8 <= n &&
      (RUN_CHAR[s[b]!]! &
        RUN_CHAR[s[b + 1]!]! &
        RUN_CHAR[s[b + 2]!]! &
        RUN_CHAR[s[b + 3]!]! &
        RUN_CHAR[s[b + 4]!]! &
        RUN_CHAR[s[b + 5]!]! &
        RUN_CHAR[s[b + 6]!]! &
        RUN_CHAR[s[b + 7]!]!) ===
        1
    ) {
      b += 8;
    }
    while (b < n && RUN_CHAR[s[b]!] === 1) b++;
    let e = b;
    while (e < n && e - b < 2 && s[e] === 0x3d) e++; // '=' padding
    (out ??= []).push([a, e]);
    found++;
    i = b + min;
  }
  return out ?? NO_RUNS;
}

export interface DecodedRun {
  /** Offset of the run in the view. */
  start: number;
  end: number;
  kind: 'base64' | 'hex';
  /** Decoded bytes. */
  bytes: Buffer;
}

/** True when most of the bytes are printable text (ASCII printable, whitespace or UTF-8 lead/continuation). */
export function looksLikeText(buf: Uint8Array): boolean {
  const n = Math.min(buf.length, 512);
  if (n < 12) return false;
  let printable = 0;
  for (let i = 0; i < n; i++) {
    const b = buf[i]!;
    if ((b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09) printable++;
    else if (b >= 0x80) printable += 0.5; // UTF-8 text is fine but random bytes are mostly >= 0x80
  }
  return printable / n >= 0.9;
}

function allHex(s: Uint8Array, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (HEX_VALUE[s[i]!]! < 0) return false;
  return true;
}

/**
 * Decodes the text-bearing base64/hex runs of `view`. `openEnd` says the view may continue past its
 * end (streaming): a run touching the end is left for the next pass, when it is complete.
 */
export function decodeEncodedRuns(view: Buffer, openEnd: boolean, maxRuns = 64): readonly DecodedRun[] {
  let runs: DecodedRun[] | null = null;
  for (const [start, end] of findRuns(view, MIN_B64_RUN, 4096)) {
    if (openEnd && end >= view.length) break;
    let stop = Math.min(end, start + MAX_RUN);
    while (stop > start && view[stop - 1] === 0x3d) stop--;
    const len = stop - start;
    let buf: Buffer;
    let kind: DecodedRun['kind'];
    if (len >= MIN_HEX_RUN && len % 2 === 0 && allHex(view, start, stop)) {
      buf = Buffer.from(view.toString('latin1', start, stop), 'hex');
      kind = 'hex';
    } else {
      // Decode a prefix first: binary payloads (images, hashes, ciphertext) are rejected cheaply.
      const run = view.subarray(start, stop);
      const enc = run.includes(0x2d) || run.includes(0x5f) ? 'base64url' : 'base64';
      const head = Buffer.from(run.toString('latin1', 0, Math.min(len, HEAD_CHARS)), enc);
      if (!looksLikeText(head)) continue;
      buf = len > HEAD_CHARS ? Buffer.from(run.toString('latin1'), enc) : head;
      kind = 'base64';
    }
    if (!looksLikeText(buf)) continue;
    (runs ??= []).push({ start, end, kind, bytes: buf });
    if (runs.length >= maxRuns) break;
  }
  return runs ?? NO_RUNS;
}
