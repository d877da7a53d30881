// Finds base64 and hex runs in a view and decodes those that turn out to be text, so a secret
// wrapped in base64 (a common way to slip data past naive filters) is still seen. Binary payloads
// (images, hashes, compressed data) decode to non-text and are skipped cheaply.

export const MIN_B64_RUN = 24;
export const MIN_HEX_RUN = 32;
/** Longest run decoded; longer runs are decoded up to this many characters. */
export const MAX_RUN = 256 * 1024;

const RUN = /[A-Za-z0-9+/_-]{24,}={0,2}/g;
const HEX = /^[0-9a-fA-F]+$/;

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
  RUN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = RUN.exec(text)) !== null) {
    const start = m.index;
    const end = start + m[0].length;
    if (openEnd && end >= text.length) break;
    const run = m[0].length > MAX_RUN ? m[0].slice(0, MAX_RUN) : m[0];
    let buf: Buffer;
    let kind: DecodedRun['kind'];
    if (run.length >= MIN_HEX_RUN && run.length % 2 === 0 && HEX.test(run)) {
      buf = Buffer.from(run, 'hex');
      kind = 'hex';
    } else {
      // Quick reject before decoding: base64 of text has no long stretch without a letter... but
      // decoding is cheap and exact, so decode a prefix first and only decode the rest if it is text.
      const head = Buffer.from(run.slice(0, 684), run.includes('-') || run.includes('_') ? 'base64url' : 'base64');
      if (!looksLikeText(head)) continue;
      buf = run.length > 684 ? Buffer.from(run, run.includes('-') || run.includes('_') ? 'base64url' : 'base64') : head;
      kind = 'base64';
    }
    if (!looksLikeText(buf)) continue;
    runs.push({ start, end, kind, text: buf.toString('latin1') });
    if (runs.length >= maxRuns) break;
  }
  RUN.lastIndex = 0;
  return runs;
}
