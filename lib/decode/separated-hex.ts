// Hex written with separators, decoded so the rules see the bytes: `\x41\x42` (printf, Python and
// shell escapes), `0x41,0x42` / `0x41 0x42` (C arrays, Python lists), `41:42:43` (fingerprint style)
// and `41 42 43` with line breaks and leading offsets (`od -An -tx1`, `od -tx1`, `hexdump -C` without
// its ASCII column). Contiguous hex (`xxd -p`) is an encoded run (encoded-runs.ts). A run must hold at
// least MIN_SEP_HEX_BYTES bytes; callers keep only runs that decode to text.
import { HEX_VALUE } from './hex.js';
import { sepHexBlocksOf } from './encoded-runs.js';

export const MIN_SEP_HEX_BYTES = 16;
/** Bare pairs (`41 42`, `41:42`) need a longer run: the sampling stride that keeps the pass cheap depends on it. */
export const MIN_BARE_HEX_BYTES = 20;
/** Runs decoded per view at most, and bytes per run. */
const MAX_RUNS = 32;
const MAX_BYTES = 64 * 1024;

export interface SepHexRun {
  start: number;
  end: number;
  bytes: Buffer;
}

const isHex = (c: number | undefined): boolean => c !== undefined && HEX_VALUE[c]! >= 0;
const isBlank = (c: number | undefined): boolean => c === 0x20 || c === 0x09;
const isSpace = (c: number | undefined): boolean => isBlank(c) || c === 0x0a || c === 0x0d;

type Style = 'esc' | 'prefixed' | 'colon' | 'space';

/**
 * Parses a run of `style` starting at `i`; returns [end, bytes] or null when it is shorter than the minimum.
 * The separator style is fixed by the first pair, so ordinary text rarely parses as a run.
 */
function parseRun(s: Uint8Array, i: number, style: Style): [number, Buffer] | null {
  const out: number[] = [];
  let p = i;
  let end = i;
  const n = s.length;
  while (p < n && out.length < MAX_BYTES) {
    let q = p;
    if (style === 'esc') {
      if (s[q] !== 0x5c || (s[q + 1] !== 0x78 && s[q + 1] !== 0x58)) break;
      q += 2;
    } else if (style === 'prefixed') {
      if (s[q] !== 0x30 || (s[q + 1] !== 0x78 && s[q + 1] !== 0x58)) break;
      q += 2;
    }
    if (!isHex(s[q]) || !isHex(s[q + 1]) || isHex(s[q + 2])) break;
    out.push((HEX_VALUE[s[q]!]! << 4) | HEX_VALUE[s[q + 1]!]!);
    q += 2;
    end = q;
    // Separator.
    if (style === 'esc') {
      p = q;
      continue;
    }
    if (style === 'prefixed') {
      if (s[q] === 0x2c) q++;
      while (q < n && q - end < 4 && isSpace(s[q])) q++;
    } else if (style === 'colon') {
      if (s[q] !== 0x3a && s[q] !== 0x2d) break;
      q++;
    } else {
      if (!isSpace(s[q])) break;
      let newline = false;
      while (q < n && q - end < 6 && isSpace(s[q])) {
        if (s[q] === 0x0a) newline = true;
        q++;
      }
      // After a line break, `od` and `hexdump` print an offset: skip one long hex/octal token.
      if (newline) {
        let k = q;
        while (k < n && isHex(s[k])) k++;
        if (k - q >= 6 && k - q <= 10 && (s[k] === 0x3a || isBlank(s[k]))) {
          q = k + (s[k] === 0x3a ? 1 : 0);
          while (q < n && isBlank(s[q])) q++;
        }
      }
    }
    if (q === end) break;
    p = q;
  }
  if (out.length < (style === 'space' || style === 'colon' ? MIN_BARE_HEX_BYTES : MIN_SEP_HEX_BYTES)) return null;
  return [end, Buffer.from(out)];
}

const isSep = (c: number | undefined): boolean => c === 0x20 || c === 0x3a || c === 0x2d;
const isX = (c: number | undefined): boolean => c === 0x78 || c === 0x58;

/** Bytes of which every `\\xHH` or `0xHH,` / `0xHH, ` run has one in any three consecutive bytes. */
const MARK = new Uint8Array(256);
for (const c of '\\xX,') MARK[c.charCodeAt(0)] = 1;

/**
 * The shortest run (20 bare pairs `HHs`, 59 bytes; 16 `\\xHH`, 64; 16 `0xHH,`, 79) is longer than
 * SAMPLE + 11, so a sample every SAMPLE bytes lands early enough in any run for the checks below (at
 * most 11 bytes ahead) to stay inside it.
 */
const SAMPLE = 44;

/** True when `HHsHHsHHs` (one separator byte, repeated) starts at k. */
function periodAt(s: Uint8Array, k: number): boolean {
  const sep = s[k + 2];
  return (
    k >= 0 &&
    isSep(sep) &&
    s[k + 5] === sep &&
    s[k + 8] === sep &&
    isHex(s[k]) &&
    isHex(s[k + 1]) &&
    isHex(s[k + 3]) &&
    isHex(s[k + 4]) &&
    isHex(s[k + 6]) &&
    isHex(s[k + 7])
  );
}

/** `\\xHH\\xHH` at k. */
const escAt = (s: Uint8Array, k: number): boolean =>
  k >= 0 && s[k] === 0x5c && isX(s[k + 1]) && isHex(s[k + 2]) && isHex(s[k + 3]) && s[k + 4] === 0x5c && isX(s[k + 5]);

/** `0xHH` then a separator then `0x` at k; returns the period (5 or 6) or 0. */
function prefixedAt(s: Uint8Array, k: number): number {
  if (k < 0 || s[k] !== 0x30 || !isX(s[k + 1]) || !isHex(s[k + 2]) || !isHex(s[k + 3])) return 0;
  if (s[k + 5] === 0x30 && isX(s[k + 6]) && isHex(s[k + 7])) return 5;
  if (s[k + 6] === 0x30 && isX(s[k + 7]) && isHex(s[k + 8])) return 6;
  return 0;
}

/** Style of the run `runThrough` found (set with its return value; no object per sample). */
let foundStyle: Style = 'space';

/**
 * The start of a run through the marker byte at `at`, or -1 (then `foundStyle` is meaningless). Each
 * branch first tests the one byte ordinary text most often fails on.
 */
function runThrough(s: Uint8Array, at: number): number {
  const c = s[at]!;
  if (c === 0x5c) {
    foundStyle = 'esc';
    return escAt(s, at) ? at : -1;
  }
  if (c === 0x78 || c === 0x58) {
    const p = s[at - 1];
    if (p === 0x5c && escAt(s, at - 1)) {
      foundStyle = 'esc';
      return at - 1;
    }
    if (p === 0x30 && prefixedAt(s, at - 1) > 0) {
      foundStyle = 'prefixed';
      return at - 1;
    }
    return -1;
  }
  if (c === 0x2c || c === 0x20) {
    foundStyle = 'prefixed';
    if (s[at + 1] === 0x30 && prefixedAt(s, at + 1) > 0) return at + 1;
    if (s[at + 2] === 0x30 && prefixedAt(s, at + 2) > 0) return at + 2;
  }
  if (c !== 0x2c && s[at + 3] === c && periodAt(s, at - 2)) {
    foundStyle = c === 0x20 ? 'space' : 'colon';
    return at - 2;
  }
  return -1;
}

/** Moves k back to the first token of its run. */
function runStart(s: Uint8Array, k: number, style: Style): number {
  if (style === 'esc') {
    while (escAt(s, k - 4)) k -= 4;
  } else if (style === 'prefixed') {
    const period = prefixedAt(s, k);
    while (k >= period && prefixedAt(s, k - period) === period) k -= period;
  } else if (style === 'colon') {
    const sep = s[k + 2];
    while (k >= 3 && s[k - 1] === sep && isHex(s[k - 3]) && isHex(s[k - 2]) && !isHex(s[k - 4])) k -= 3;
  } else {
    // Back over whitespace (line breaks too) to the previous pair; an `od`/`hexdump` offset at the start
    // of a line is stepped over, not taken as the start.
    let at = k;
    for (;;) {
      let p = at - 1;
      while (p >= 0 && at - p <= 6 && isSpace(s[p])) p--;
      if (p === at - 1) break;
      let q = p;
      while (q >= 0 && isHex(s[q])) q--;
      const len = p - q;
      if (len === 2) {
        k = at = q + 1;
      } else if (len >= 6 && len <= 10 && (q < 0 || s[q] === 0x0a || s[q] === 0x0d)) {
        at = q + 1;
      } else {
        break;
      }
    }
  }
  return k;
}

/**
 * Samples near a candidate block (one made only of separated-hex bytes) are taken; others are not: a
 * run of 59 bytes or more covers a whole block, and a sample that finds a run lies at most 4 bytes
 * before it. The sample grid stays the same, so the runs found are those of the full pass
 * (test/decode-fast-paths.test.ts compares both).
 */
const WINDOW_BEFORE = 32;
const WINDOW_AFTER = 48;

/**
 * Separated-hex runs of the view, at most MAX_RUNS. One sampled pass: a sample whose three bytes hold no
 * marker byte is skipped after three loads, which is most of ordinary text. With `blocks` (by default
 * those the run finder saw in this view, when it went over it), only samples near them are taken.
 */
export function findSeparatedHex(
  s: Buffer,
  blocks: ArrayLike<number> | null = sepHexBlocksOf(s),
): readonly SepHexRun[] {
  const out: SepHexRun[] = [];
  const n = s.length;
  let i = 0;
  let bi = 0;
  while (i + 16 <= n && out.length < MAX_RUNS) {
    if (blocks !== null) {
      while (bi < blocks.length && blocks[bi]! + WINDOW_AFTER <= i) bi++;
      if (bi === blocks.length) break;
      const lo = blocks[bi]! - WINDOW_BEFORE;
      if (i < lo) {
        i += Math.ceil((lo - i) / SAMPLE) * SAMPLE;
        continue;
      }
    }
    i = sampleAt(s, i, out);
  }
  return out;
}

/** One sample at `i`: a run found through it goes to `out`; returns where the next sample is. */
function sampleAt(s: Buffer, i: number, out: SepHexRun[]): number {
  // A bare run repeats its separator every 3 bytes; `\\xHH` and `0xHH,` runs have a `\\`, `x` or `,` in
  // any 3 bytes. Ordinary text fails both tests on most samples.
  const b0 = s[i]!;
  const b1 = s[i + 1]!;
  const b2 = s[i + 2]!;
  if (b0 !== s[i + 3] && b1 !== s[i + 4] && b2 !== s[i + 5] && (MARK[b0]! | MARK[b1]! | MARK[b2]!) === 0) {
    return i + SAMPLE;
  }
  let k = -1;
  for (let d = 0; d < 3 && k < 0; d++) if (MARK[s[i + d]!] === 1 || isSep(s[i + d])) k = runThrough(s, i + d);
  if (k < 0) return i + SAMPLE;
  const style = foundStyle;
  k = runStart(s, k, style);
  const r = parseRun(s, k, style);
  if (r) {
    out.push({ start: k, end: r[0], bytes: r[1] });
    return r[0] + 1;
  }
  return i + SAMPLE;
}
