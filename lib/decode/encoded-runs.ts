// Finds base64 and hex runs in a view and decodes those that turn out to be text, so a secret
// wrapped in base64 (a common way to slip data past naive filters) is still seen. Binary payloads
// (images, hashes, compressed data) decode to non-text and are skipped cheaply.

export const MIN_B64_RUN = 24;
export const MIN_HEX_RUN = 32;
/** Longest run decoded; longer runs are decoded up to this many characters. */
export const MAX_RUN = 256 * 1024;

const HEX = /^[0-9a-fA-F]+$/;

/** Characters of standard and URL-safe base64 (hex is a subset). */
const RUN_CHAR = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-') RUN_CHAR[c.charCodeAt(0)] = 1;

const NON_RUN = /[^A-Za-z0-9+/_-]/g;

function isRunChar(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c < 256 && RUN_CHAR[c] === 1;
}

/**
 * Yields [start, end) of every run of at least `min` base64 characters. Samples every `min`-th
 * position and expands around a hit: any long enough run must contain a sampled position, so most
 * of ordinary prose is never looked at (about 6x faster than a regex here).
 */
export function findRuns(s: string, min: number, max = Number.POSITIVE_INFINITY): [number, number][] {
  const out: [number, number][] = [];
  const n = s.length;
  let i = min - 1;
  while (i < n && out.length < max) {
    if (!isRunChar(s, i)) {
      i += min;
      continue;
    }
    let a = i;
    while (a > 0 && isRunChar(s, a - 1)) a--;
    // Long runs (base64 images) are common: let the regex engine find the run's end.
    NON_RUN.lastIndex = i + 1;
    const stop = NON_RUN.exec(s);
    const b = stop ? stop.index : n;
    if (b - a >= min) {
      let e = b;
      while (e < n && e - b < 2 && s.charCodeAt(e) === 0x3d) e++; // '=' padding
      out.push([a, e]);
    }
    i = b + min;
  }
  return out;
}

export interface DecodedRun {
  /** Offset of the run in the view. */
  start: number;
  end: number;
  kind: 'base64' | 'hex';
  /** Decoded bytes as a latin1 string. */
  text: string;
}

/** True when most of the bytes are printable text (ASCII printable, whitespace or UTF-8 lead/continuation). */
export function looksLikeText(buf: Buffer): boolean {
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

/**
 * Decodes the text-bearing base64/hex runs of `text`. `openEnd` says the view may continue past its
 * end (streaming): a run touching the end is left for the next pass, when it is complete.
 */
export function decodeEncodedRuns(text: string, openEnd: boolean, maxRuns = 64): DecodedRun[] {
  const runs: DecodedRun[] = [];
  for (const [start, end] of findRuns(text, MIN_B64_RUN, 4096)) {
    if (openEnd && end >= text.length) break;
    const raw = text.slice(start, Math.min(end, start + MAX_RUN));
    const run = raw.endsWith('=') ? raw.replace(/=+$/, '') : raw;
    let buf: Buffer;
    let kind: DecodedRun['kind'];
    if (run.length >= MIN_HEX_RUN && run.length % 2 === 0 && HEX.test(run)) {
      buf = Buffer.from(run, 'hex');
      kind = 'hex';
    } else {
      // Decode a prefix first: binary payloads (images, hashes, ciphertext) are rejected cheaply.
      const enc = run.includes('-') || run.includes('_') ? 'base64url' : 'base64';
      const head = Buffer.from(run.slice(0, 684), enc);
      if (!looksLikeText(head)) continue;
      buf = run.length > 684 ? Buffer.from(run, enc) : head;
      kind = 'base64';
    }
    if (!looksLikeText(buf)) continue;
    runs.push({ start, end, kind, text: buf.toString('latin1') });
    if (runs.length >= maxRuns) break;
  }
  return runs;
}
