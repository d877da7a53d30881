// Finds base64 and hex runs in a view and decodes those that turn out to be text, so a secret
// wrapped in base64 (a common way to slip data past naive filters) is still seen. Binary payloads
// (images, hashes, compressed data) decode to non-text and are skipped cheaply. Views are latin1
// bytes (Buffers), one byte per character.
import { HEX_VALUE } from '../../../lib/decode/hex.js';
import { compressionOf, inflateBounded, isTar, tarMembers, type DecodeBudget } from '../../../lib/decode/archive.js';

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
  /** Decoding steps, outermost first: `base64`, `hex`, `base32`, `base64>gzip>tar`, `base64>utf16`. */
  kind: string;
  /** Decoded bytes. */
  bytes: Buffer;
  /** The run continues past the view (a wrapped block cut at an open end): matches near its end may grow. */
  partial?: boolean;
  /** A fixed-width wrapped block joined across its line breaks. */
  wrapped?: boolean;
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

/** UTF-16LE ASCII text (`powershell -EncodedCommand`, Windows tools): every odd byte NUL, even bytes printable. */
function isUtf16LeText(buf: Uint8Array): boolean {
  const n = Math.min(buf.length, 512) & ~1;
  if (n < 24) return false;
  let ok = 0;
  for (let i = 0; i < n; i += 2) {
    const b = buf[i]!;
    if (buf[i + 1] === 0 && ((b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09)) ok++;
  }
  return ok / (n / 2) >= 0.9;
}

function fromUtf16Le(buf: Buffer): Buffer {
  // The text is ASCII (checked on its head); code units above 0xFF become '?', keeping one byte per char.
  const out = Buffer.allocUnsafe(buf.length >> 1);
  for (let i = 0, o = 0; o < out.length; i += 2, o++) out[o] = buf[i + 1] === 0 ? buf[i]! : 0x3f;
  return out;
}

function allHex(s: Uint8Array, a: number, b: number): boolean {
  for (let i = a; i < b; i++) if (HEX_VALUE[s[i]!]! < 0) return false;
  return true;
}

const B32_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 32; i++) B32_VALUE['ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.charCodeAt(i)] = i;

/** RFC 4648 base32 (`base32` from coreutils), or null when `s` holds another character. */
function decodeBase32(s: Uint8Array): Buffer | null {
  let n = s.length;
  while (n > 0 && s[n - 1] === 0x3d) n--;
  const out = Buffer.allocUnsafe(Math.floor((n * 5) / 8));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < n; i++) {
    const v = B32_VALUE[s[i]!]!;
    if (v < 0) return null;
    acc = ((acc << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, o);
}

/** Index just past a `\n` or `\r\n` at `i`, or -1. */
function afterNewline(s: Uint8Array, i: number): number {
  if (s[i] === 0x0a) return i + 1;
  if (s[i] === 0x0d && s[i + 1] === 0x0a) return i + 2;
  return -1;
}

/** Shortest line of a wrapped block (76 for `base64`, 64 for `openssl base64` and PEM, 60 for `xxd -p`). */
const MIN_WRAP = 40;

/**
 * Extends the run at `runs[idx]` over the lines that follow it when it is one line of a fixed-width
 * wrapped block: every line the same length, the last one possibly shorter. Returns the lines and the
 * index of the last run used, or null when the run is not followed by a line of the same block.
 */
function wrappedBlock(
  view: Uint8Array,
  runs: readonly (readonly [number, number])[],
  idx: number,
): { lines: [number, number][]; last: number } | null {
  const [start, end] = runs[idx]!;
  const width = end - start;
  // Wrap widths are multiples of 4 (76, 64, 60); the next line must start right after the break.
  if (width < MIN_WRAP || (width & 3) !== 0 || view[end - 1] === 0x3d) return null;
  const first = afterNewline(view, end);
  if (first === -1 || RUN_CHAR[view[first]!] !== 1) return null;
  const lines: [number, number][] = [[start, end]];
  let last = idx;
  let at = end;
  for (;;) {
    const nl = afterNewline(view, at);
    if (nl === -1) break;
    const next = runs[last + 1];
    if (next && next[0] === nl) {
      const w = next[1] - next[0];
      if (w > width) break;
      lines.push([next[0], next[1]]);
      last++;
      at = next[1];
      if (w < width || view[at - 1] === 0x3d) break;
      continue;
    }
    // A last line shorter than a run (`AA==`): base64 characters up to the next non-run byte.
    let k = nl;
    while (k < view.length && k - nl < width && (RUN_CHAR[view[k]!] === 1 || view[k] === 0x3d)) k++;
    if (k > nl && k < view.length && RUN_CHAR[view[k]!] !== 1) lines.push([nl, k]);
    break;
  }
  return lines.length > 1 ? { lines, last } : null;
}

/**
 * Classifies and decodes one run's characters: hex, base32, base64 to text; binary payloads that are
 * gzip/zlib (inflated), tar (members unpacked) or UTF-16LE text. Null when it is none of these.
 */
function decodeRun(chars: Buffer, budget: DecodeBudget | undefined): { kind: string; bytes: Buffer } | null {
  let len = chars.length;
  while (len > 0 && chars[len - 1] === 0x3d) len--;
  if (len >= MIN_HEX_RUN && len % 2 === 0 && allHex(chars, 0, len)) {
    const bytes = Buffer.from(chars.toString('latin1', 0, len), 'hex');
    if (looksLikeText(bytes)) return { kind: 'hex', bytes };
    return budget ? binaryPayload('hex', bytes, budget) : null;
  }
  const run = len === chars.length ? chars : chars.subarray(0, len);
  const enc = run.includes(0x2d) || run.includes(0x5f) ? 'base64url' : 'base64';
  // Decode a prefix first: binary payloads (images, hashes, ciphertext) are rejected cheaply.
  const head = Buffer.from(run.toString('latin1', 0, Math.min(len, HEAD_CHARS)), enc);
  if (looksLikeText(head)) {
    const bytes = len > HEAD_CHARS ? Buffer.from(run.toString('latin1'), enc) : head;
    return looksLikeText(bytes) ? { kind: 'base64', bytes } : null;
  }
  if (len >= 32 && B32_VALUE[run[0]!]! >= 0 && B32_VALUE[run[len - 1]!]! >= 0) {
    const b32 = decodeBase32(run);
    if (b32 !== null && looksLikeText(b32)) return { kind: 'base32', bytes: b32 };
  }
  if (!budget) return null;
  // Binary: worth a full decode only when the head says gzip, zlib, UTF-16 text, or tar (a NUL-padded
  // name, then the `ustar` magic at byte 257, which characters 340..351 hold as bytes 255..263).
  let wanted = compressionOf(head) !== null || (head[1] === 0 && isUtf16LeText(head));
  if (!wanted && len >= 352 && head.includes(0)) {
    const m = Buffer.from(run.toString('latin1', 340, 352), enc);
    wanted = m[2] === 0x75 && m[3] === 0x73 && m[4] === 0x74 && m[5] === 0x61 && m[6] === 0x72;
  }
  if (!wanted) return null;
  return binaryPayload('base64', Buffer.from(run.toString('latin1'), enc), budget);
}

function binaryPayload(outer: string, bytes: Buffer, budget: DecodeBudget): { kind: string; bytes: Buffer } | null {
  if (isUtf16LeText(bytes)) return { kind: `${outer}>utf16`, bytes: fromUtf16Le(bytes) };
  let kind = outer;
  let data = bytes;
  const c = compressionOf(data);
  if (c !== null) {
    const inflated = inflateBounded(data, c, budget);
    if (inflated === null || inflated.length === 0) return null;
    kind += `>${c}`;
    data = inflated;
  }
  if (isTar(data)) return { kind: `${kind}>tar`, bytes: tarMembers(data, budget) };
  // Inflated data is scanned whatever it looks like (a key then padding is not "text"); the budget bounds it.
  return c !== null ? { kind, bytes: data } : null;
}

/**
 * Decodes the text-bearing base64/hex/base32 runs of `view`, including fixed-width wrapped blocks
 * (`base64 file`, `openssl base64`, `xxd -p`) joined across their line breaks, and (with a `budget`)
 * compressed, archived or UTF-16 payloads inside them. `openEnd` says the view may continue past its end
 * (streaming): a run touching the end is left for the next pass, when it is complete; a wrapped block
 * touching the end is decoded up to its last whole line and marked `partial`.
 */
export function decodeEncodedRuns(
  view: Buffer,
  openEnd: boolean,
  maxRuns = 64,
  budget?: DecodeBudget,
): readonly DecodedRun[] {
  let runs: DecodedRun[] | null = null;
  const found = findRuns(view, MIN_B64_RUN, 4096);
  for (let idx = 0; idx < found.length; idx++) {
    const [start, end] = found[idx]!;
    let chars: Buffer;
    let runEnd = end;
    let partial = false;
    // A newline right after the run is the only way it can be one line of a wrapped block (cheap test first).
    const block = view[end] === 0x0a || view[end] === 0x0d ? wrappedBlock(view, found, idx) : null;
    if (block) {
      idx = block.last;
      let lines = block.lines;
      runEnd = lines[lines.length - 1]![1];
      if (openEnd && runEnd >= view.length - 2) {
        // The block may go on: decode its whole lines before the last one now, the rest next pass.
        lines = lines.slice(0, -1);
        if (lines.length < 2) break;
        partial = true;
      }
      chars = Buffer.concat(lines.map(([a, b]) => view.subarray(a, Math.min(b, a + MAX_RUN))));
      if (chars.length > MAX_RUN) chars = chars.subarray(0, MAX_RUN);
    } else {
      if (openEnd && end >= view.length) break;
      chars = view.subarray(start, Math.min(end, start + MAX_RUN));
    }
    const d = decodeRun(chars, budget);
    if (d === null) continue;
    (runs ??= []).push({
      start,
      end: runEnd,
      kind: d.kind,
      bytes: d.bytes,
      ...(partial ? { partial } : {}),
      ...(block ? { wrapped: true } : {}),
    });
    if (runs.length >= maxRuns) break;
  }
  return runs ?? NO_RUNS;
}
