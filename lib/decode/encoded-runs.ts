// Finds base64 and hex runs in a view and decodes those that turn out to be text, so a secret
// wrapped in base64 (a common way to slip data past naive filters) is still seen. Binary payloads
// (images, hashes, compressed data) decode to non-text and are skipped cheaply. Views are latin1
// bytes (Buffers), one byte per character.
import { HEX_VALUE } from './hex.js';
import { compressionOf, inflateBounded, isTar, tarMembers, type DecodeBudget } from './archive.js';
import { lastSepHexBlocks, wasmRuns } from './wasm/run-scan.js';

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

const NO_RUNS: readonly never[] = Object.freeze([]);

/**
 * [start, end) of every maximal run of at least `min` base64 characters (with up to two `=` of
 * padding), at most `max` of them, in order.
 */
export function findRuns(s: Uint8Array, min: number, max = Number.POSITIVE_INFINITY): readonly [number, number][] {
  const flat = findRunsFlat(s, min, max);
  if (flat.length === 0) return NO_RUNS;
  const out: [number, number][] = [];
  for (let k = 0; k < flat.length; k += 2) out.push([flat[k]!, flat[k + 1]!]);
  return out;
}

const NO_PAIRS = new Int32Array(0);

/**
 * The separated-hex candidate blocks the run finder saw in the last few views (see wasm/run-scan.ts),
 * kept for findSeparatedHex on the same view: it runs after the runs decoded from that view were
 * scanned, which reuse the module's memory. Found by the view object itself. A few slots, reused in
 * turn, cover the nesting of decoded views (at most 3 deep); a WeakMap entry per view measured
 * slower (ephemeron work for the GC on every view).
 */
const SLOTS = 8;
const slotView: (Uint8Array | null)[] = new Array<Uint8Array | null>(SLOTS).fill(null);
const slotBlocks: Int32Array[] = Array.from({ length: SLOTS }, () => new Int32Array(64));
const slotLen = new Int32Array(SLOTS);
let nextSlot = 0;

function keepSepHexBlocks(view: Uint8Array, blocks: Int32Array): void {
  const k = nextSlot;
  nextSlot = (k + 1) % SLOTS;
  if (slotBlocks[k]!.length < blocks.length) slotBlocks[k] = new Int32Array(blocks.length * 2);
  slotBlocks[k]!.set(blocks);
  slotLen[k] = blocks.length;
  slotView[k] = view;
}

/** The candidate blocks of `view` when the run finder went over all of it lately, else null. */
export function sepHexBlocksOf(view: Uint8Array): Int32Array | null {
  for (let k = 0; k < SLOTS; k++) if (slotView[k] === view) return slotBlocks[k]!.subarray(0, slotLen[k]);
  return null;
}

/**
 * The same runs as start/end pairs in one array of their own. Runs of 17 or more are found by the SIMD
 * pass in wasm/run-scan.ts; shorter minimums (not used by the scanner) by the sampled loop below.
 */
function findRunsFlat(s: Uint8Array, min: number, max: number): Int32Array {
  const n = s.length;
  if (n < min || max < 1) return NO_PAIRS;
  if (min < 17) return Int32Array.from(findRunsSampled(s, min, max).flat());
  const found = wasmRuns(s, min, Math.min(max, 0x3fffffff));
  const blocks = lastSepHexBlocks();
  if (blocks !== null) keepSepHexBlocks(s, blocks);
  if (found.length === 0) return NO_PAIRS;
  // Copied out of the module's memory: the next call (a nested view) reuses it.
  const pairs = found.slice();
  for (let k = 1; k < pairs.length; k += 2) {
    const b = pairs[k]!;
    let e = b;
    while (e < n && e - b < 2 && s[e] === 0x3d) e++; // '=' padding
    pairs[k] = e;
  }
  return pairs;
}

/**
 * The same answer by sampling every `min`-th byte: any long enough run must contain a sampled
 * position. From a sampled run byte it looks back first; a word shorter than `min` ends that look
 * within a few bytes, and the next run can then only start after it.
 */
function findRunsSampled(s: Uint8Array, min: number, max: number): readonly [number, number][] {
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
  return textLike(buf, buf.length);
}

/** looksLikeText on buf[0, len): heads in the shared buffer are judged without a view object per run. */
function textLike(buf: Uint8Array, len: number): boolean {
  const n = Math.min(len, 512);
  if (n < 12) return false;
  let printable = 0;
  for (let i = 0; i < n; i++) {
    const b = buf[i]!;
    if ((b >= 0x20 && b < 0x7f) || b === 0x0a || b === 0x0d || b === 0x09) printable++;
    else if (b >= 0x80) printable += 0.5; // UTF-8 text is fine but random bytes are mostly >= 0x80
    // Binary fails within a few bytes: stop once even all-printable remaining bytes cannot reach 90%.
    if ((i & 7) === 7 && (printable + (n - i - 1)) / n < 0.9) return false;
  }
  return printable / n >= 0.9;
}

/** UTF-16LE ASCII text (`powershell -EncodedCommand`, Windows tools): every odd byte NUL, even bytes printable. */
function isUtf16LeText(buf: Uint8Array, len = buf.length): boolean {
  const n = Math.min(len, 512) & ~1;
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
  runs: Int32Array,
  idx: number,
): { lines: [number, number][]; last: number } | null {
  const start = runs[2 * idx]!;
  const end = runs[2 * idx + 1]!;
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
    if (2 * (last + 1) < runs.length && runs[2 * (last + 1)] === nl) {
      const a = runs[2 * (last + 1)]!;
      const b = runs[2 * (last + 1) + 1]!;
      const w = b - a;
      if (w > width) break;
      lines.push([a, b]);
      last++;
      at = b;
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

/** Base64 character -> its 6 bits, both alphabets at once (node's decoder reads `-`/`_` in `base64` too). */
const B64_VALUE = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) {
  B64_VALUE['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;
}
B64_VALUE[0x2d] = 62; // '-'
B64_VALUE[0x5f] = 63; // '_'

/**
 * Decodes the base64 characters s[a, b) (run characters only, no padding) into `out` as
 * `Buffer.from(latin1, 'base64')` does (a last lone character is dropped); returns the bytes written.
 */
function decodeBase64Into(s: Uint8Array, a: number, b: number, out: Uint8Array): number {
  let o = 0;
  let i = a;
  for (; i + 4 <= b; i += 4) {
    const v =
      (B64_VALUE[s[i]!]! << 18) | (B64_VALUE[s[i + 1]!]! << 12) | (B64_VALUE[s[i + 2]!]! << 6) | B64_VALUE[s[i + 3]!]!;
    out[o] = v >> 16;
    out[o + 1] = v >> 8;
    out[o + 2] = v;
    o += 3;
  }
  const rest = b - i;
  if (rest >= 2) {
    const v = (B64_VALUE[s[i]!]! << 18) | (B64_VALUE[s[i + 1]!]! << 12) | (rest === 3 ? B64_VALUE[s[i + 2]!]! << 6 : 0);
    out[o++] = v >> 16;
    if (rest === 3) out[o++] = v >> 8;
  }
  return o;
}

/** Decodes the hex digits s[a, b) (even count, all hex) into `out`; returns the bytes written. */
function decodeHexInto(s: Uint8Array, a: number, b: number, out: Uint8Array): number {
  let o = 0;
  for (let i = a; i < b; i += 2) out[o++] = (HEX_VALUE[s[i]!]! << 4) | HEX_VALUE[s[i + 1]!]!;
  return o;
}

/**
 * Decoded heads are judged in these (one decode at a time, never kept): most runs in agent traffic
 * are ids, hashes and images, rejected here without allocating. Profiled on the benign JSON corpus:
 * decodeRun and node's base64 decoding took 0.37 ms per MB with `Buffer.from(run.toString('latin1'),
 * 'base64')` per head, 0.15 with heads decoded here.
 */
const HEAD = Buffer.allocUnsafe(512);
const TAR_MAGIC = Buffer.allocUnsafe(9);

/**
 * Classifies and decodes the run characters chars[a, b): hex, base32, base64 to text; binary payloads
 * that are gzip/zlib (inflated), tar (members unpacked) or UTF-16LE text. Null when it is none of these.
 * Every decision is taken on a decoded head first (looksLikeText, the UTF-16, compression and tar tests
 * read at most the first 512 bytes); the whole run is decoded only when it is kept.
 */
function decodeRun(
  chars: Uint8Array,
  a: number,
  b: number,
  budget: DecodeBudget | undefined,
  eqAt: number,
): { kind: string; bytes: Buffer } | null {
  let end = b;
  while (end > a && chars[end - 1] === 0x3d) end--;
  const len = end - a;
  // Base64 decoding stops at the first `=` (as node's decoder does): only a wrapped block's last line
  // can hold one before its end.
  const dataEnd = Math.min(end, eqAt);
  if (len >= MIN_HEX_RUN && len % 2 === 0 && allHex(chars, a, end)) {
    const n = decodeHexInto(chars, a, Math.min(end, a + 2 * HEAD.length), HEAD);
    const text = textLike(HEAD, n);
    if (!text && (!budget || (!isUtf16LeText(HEAD, n) && headCompression(n) === null && !(n >= 263 && isTar(HEAD))))) {
      return null;
    }
    const bytes = Buffer.allocUnsafe(len >> 1);
    decodeHexInto(chars, a, end, bytes);
    if (text) return { kind: 'hex', bytes };
    return binaryPayload('hex', bytes, budget!);
  }
  // Decode a prefix first: binary payloads (images, hashes, ciphertext) are rejected cheaply.
  const hn = decodeBase64Into(chars, a, Math.min(dataEnd, a + HEAD_CHARS), HEAD);
  if (textLike(HEAD, hn)) {
    if (len <= HEAD_CHARS) return { kind: 'base64', bytes: Buffer.from(HEAD.subarray(0, hn)) };
    const bytes = base64Bytes(chars, a, dataEnd);
    return looksLikeText(bytes) ? { kind: 'base64', bytes } : null;
  }
  if (len >= 32 && B32_VALUE[chars[a]!]! >= 0 && B32_VALUE[chars[end - 1]!]! >= 0) {
    const b32 = decodeBase32(chars.subarray(a, end));
    if (b32 !== null && looksLikeText(b32)) return { kind: 'base32', bytes: b32 };
  }
  if (!budget) return null;
  // Binary: worth a full decode only when the head says gzip, zlib, UTF-16 text, or tar (a NUL-padded
  // name, then the `ustar` magic at byte 257, which characters 340..351 hold as bytes 255..263).
  let wanted = headCompression(hn) !== null || (hn > 1 && HEAD[1] === 0 && isUtf16LeText(HEAD, hn));
  if (!wanted && len >= 352 && HEAD.subarray(0, hn).includes(0)) {
    const m = TAR_MAGIC.fill(0);
    let tarEnd = a + 340;
    while (tarEnd < a + 352 && chars[tarEnd] !== 0x3d) tarEnd++;
    decodeBase64Into(chars, a + 340, tarEnd, m);
    wanted = m[2] === 0x75 && m[3] === 0x73 && m[4] === 0x74 && m[5] === 0x61 && m[6] === 0x72;
  }
  if (!wanted) return null;
  return binaryPayload('base64', base64Bytes(chars, a, dataEnd), budget);
}

/** compressionOf on HEAD[0, n). */
function headCompression(n: number): ReturnType<typeof compressionOf> {
  return n < 4 ? null : compressionOf(HEAD);
}

/** The whole run decoded into a buffer of its own. */
function base64Bytes(chars: Uint8Array, a: number, b: number): Buffer {
  const out = Buffer.allocUnsafe(Math.floor(((b - a) * 3) / 4));
  return out.subarray(0, decodeBase64Into(chars, a, b, out));
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
  const found = findRunsFlat(view, MIN_B64_RUN, 4096);
  const count = found.length >> 1;
  for (let idx = 0; idx < count; idx++) {
    const start = found[2 * idx]!;
    const end = found[2 * idx + 1]!;
    let chars: Buffer;
    let charsStart = 0;
    let charsEnd = 0;
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
      charsEnd = Math.min(chars.length, MAX_RUN);
    } else {
      if (openEnd && end >= view.length) break;
      chars = view;
      charsStart = start;
      charsEnd = Math.min(end, start + MAX_RUN);
    }
    const eq = block ? chars.indexOf(0x3d) : -1;
    const d = decodeRun(chars, charsStart, charsEnd, budget, eq === -1 ? charsEnd : eq);
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
