// Redaction: everything that leaves the scanner passes through here. Snippets keep readable
// context but never any random part of a secret; fingerprints are keyed (HMAC with a host-side
// salt) so the same secret correlates across findings without being stored or guessable.
import { createHmac } from 'node:crypto';
import { secretSpansInPath } from './path-secrets.js';

/** Context kept on each side of a match, in bytes. */
export const SNIPPET_CONTEXT = 48;
/** Longest matched text shown in a snippet; longer matches keep their head and tail. */
export const SNIPPET_MATCH_MAX = 160;
/** A public format prefix longer than this is not trusted to be free of random characters. */
const MAX_PUBLIC_PREFIX = 16;

export function fingerprint(salt: Buffer, value: string): string {
  return createHmac('sha256', salt).update(value, 'latin1').digest('hex').slice(0, 16);
}

const TOKEN_CHAR = /[A-Za-z0-9+/=_\-~]/;
const TOKEN_RUN = /[A-Za-z0-9+/=_\-~]{12,}/g;

/**
 * Masks tokens that look like credentials or parts of them, so a secret the rules did not catch
 * (or one cut at the edge of the context) never shows: any run of 24+ token characters, and any
 * 12+ run that mixes digits with letters.
 */
export function maskTokens(text: string): string {
  return text.replace(TOKEN_RUN, (run) => {
    if (run.length >= 24) return '[…]';
    const hasDigit = /[0-9]/.test(run);
    const hasLetter = /[A-Za-z]/.test(run);
    return hasDigit && hasLetter ? '[…]' : run;
  });
}

/** Moves `i` forward out of a token it falls inside, so context never starts mid-token. */
function skipPartialTokenForward(text: string, i: number, limit: number): number {
  if (i === 0) return 0;
  while (i < limit && TOKEN_CHAR.test(text[i - 1]!) && TOKEN_CHAR.test(text[i]!)) i++;
  return i;
}

function skipPartialTokenBackward(text: string, i: number, limit: number): number {
  if (i >= text.length) return text.length;
  while (i > limit && TOKEN_CHAR.test(text[i - 1]!) && TOKEN_CHAR.test(text[i]!)) i--;
  return i;
}

/**
 * Turns a latin1 view (one char per byte) into a single-line, display-safe string: bytes are read
 * as UTF-8, then control and format characters (newlines, bidi overrides, zero-width and Unicode
 * tag characters) become visible escapes, so hidden text cannot hide in a snippet.
 */
export function toDisplayText(latin1: string): string {
  const utf8 = Buffer.from(latin1, 'latin1').toString('utf8');
  return utf8.replace(/[\p{Cc}\p{Cf}\p{Co}\p{Cn}\u2028\u2029\ufffd]/gu, (ch) => {
    if (ch === '\n') return '\\n';
    if (ch === '\r') return '\\r';
    if (ch === '\t') return '\\t';
    if (ch === '\ufffd') return '\\x??';
    const cp = ch.codePointAt(0)!;
    return cp <= 0xff ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u{${cp.toString(16).toUpperCase()}}`;
  });
}

function shortenMiddle(s: string, max: number): string {
  if (s.length <= max) return s;
  const head = Math.floor(max * 0.7);
  return `${s.slice(0, head)}…${s.slice(s.length - (max - head - 1))}`;
}

export interface SnippetSpan {
  start: number;
  end: number;
}

export interface SnippetInput {
  /** The latin1 view the match was found in. */
  text: string;
  /** Whole match. */
  match: SnippetSpan;
  /** For credentials: the secret span to replace (inside or equal to the match). */
  secret?: SnippetSpan & { publicPrefix: string };
  /** Other secret spans found in the same view, masked wherever they overlap the context. */
  otherSecrets?: readonly SnippetSpan[];
}

/** Builds a redacted, display-safe snippet. Never contains any character of a secret's random part. */
export function buildSnippet(input: SnippetInput): string {
  const { text, match } = input;
  let from = Math.max(0, match.start - SNIPPET_CONTEXT);
  let to = Math.min(text.length, match.end + SNIPPET_CONTEXT);
  from = skipPartialTokenForward(text, from, match.start);
  to = skipPartialTokenBackward(text, to, match.end);

  // Replace secret spans (this one and any other found nearby) before anything else reads the text.
  const spans: { start: number; end: number; replacement: string }[] = [];
  if (input.secret) {
    const s = input.secret;
    const len = s.end - s.start;
    const prefix = publicPrefixSafe(text.slice(s.start, s.end), s.publicPrefix);
    spans.push({ start: s.start, end: s.end, replacement: `${prefix}[REDACTED ${len - prefix.length} chars]` });
  }
  for (const o of input.otherSecrets ?? []) {
    if (o.end <= from || o.start >= to) continue;
    if (spans.some((s) => o.start < s.end && o.end > s.start)) continue;
    spans.push({ start: o.start, end: o.end, replacement: '[REDACTED]' });
  }
  spans.sort((a, b) => a.start - b.start);

  const pieces: { text: string; redacted: boolean }[] = [];
  let cur = from;
  for (const s of spans) {
    const start = Math.max(s.start, from);
    const end = Math.min(s.end, to);
    if (start > cur) pieces.push({ text: text.slice(cur, start), redacted: false });
    pieces.push({ text: s.replacement, redacted: true });
    cur = Math.max(cur, end);
  }
  if (cur < to) pieces.push({ text: text.slice(cur, to), redacted: false });

  // Display conversion first (it reads bytes as UTF-8), masking second, so markers stay intact.
  const shown = pieces.map((p) => (p.redacted ? p.text : maskTokens(toDisplayText(p.text)))).join('');
  return shortenMiddle(shown, SNIPPET_CONTEXT * 2 + SNIPPET_MATCH_MAX);
}

/** The rule's public prefix, kept only if it really is a short prefix of the secret. */
export function publicPrefixSafe(secret: string, prefix: string): string {
  if (!prefix || prefix.length > MAX_PUBLIC_PREFIX || !secret.startsWith(prefix) || prefix.length >= secret.length) {
    return '';
  }
  return prefix;
}

/** Path characters read for a finding's `path`; beyond this the path is cut at a segment boundary. */
const MAX_PATH_READ = 4096;

/**
 * Redacts a request path for a finding: spans where the rules find a secret are replaced by
 * `[REDACTED]` (the detected span itself, also across `/`), the remaining path segments are kept with
 * long tokens masked, query values are dropped. Query strings are where URL-borne secrets live.
 */
export function redactPath(rawPath: string): string {
  const q = rawPath.indexOf('?');
  let pathname = q === -1 ? rawPath : rawPath.slice(0, q);
  let cut = false;
  if (pathname.length > MAX_PATH_READ) {
    // Never keep a partial token: a segment cut short could be a short, unmasked piece of a secret.
    pathname = pathname.slice(0, Math.max(0, pathname.lastIndexOf('/', MAX_PATH_READ)));
    cut = true;
  }
  // Mask per path segment: `/` is a token character, so a whole path would read as one token.
  const maskPlain = (piece: string): string =>
    toDisplayText(piece)
      .split('/')
      .map((seg) => maskTokens(seg))
      .join('/');
  let out = '';
  let at = 0;
  for (const span of secretSpansInPath(pathname)) {
    if (span.end <= at) continue;
    if (span.start > at) out += maskPlain(pathname.slice(at, span.start));
    out += '[REDACTED]';
    at = span.end;
  }
  out += maskPlain(pathname.slice(at));
  if (cut) out += '/…';
  if (q !== -1) {
    const keys = rawPath
      .slice(q + 1)
      .split('&')
      .slice(0, 20)
      .map((kv) => {
        const eq = kv.indexOf('=');
        const k = (eq === -1 ? kv : kv.slice(0, eq)).slice(0, 40);
        const shownKey = maskTokens(toDisplayText(k));
        return eq === -1 ? shownKey : `${shownKey}=…`;
      });
    out += `?${keys.join('&')}`;
  }
  return out.slice(0, 1024);
}
