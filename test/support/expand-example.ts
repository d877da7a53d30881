// Expands `{{rand:CHARSET:LEN}}` tokens in rule examples with characters drawn at run time, so no
// real-looking key is ever committed. Returns the random parts so tests can check they are redacted.
//
// The draws come from a seeded generator, so every run of the suite sees the same keys and a failure
// can be run again: entropy thresholds miss a few random keys in 100,000 by design, and a suite that
// drew fresh keys each run failed in CI about once in a few hundred runs on such a key. To explore
// new draws, set EXAMPLES_SEED (a number, or `random`); a failure's message holds the text it drew.
import { randomInt } from 'node:crypto';
import {
  distinctChars,
  hasRepeatedRun,
  isDocExample,
  isPlaceholder,
  isWordy,
  PLACEHOLDER_WORD_RE,
  shannonEntropy,
} from '../../lib/rules/false-positive.js';

const ALPHA_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const ALPHA_LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';

export const CHARSETS: Readonly<Record<string, string>> = {
  alnum: ALPHA_UPPER + ALPHA_LOWER + DIGITS,
  upper: ALPHA_UPPER,
  lower: ALPHA_LOWER,
  digits: DIGITS,
  hex: '0123456789abcdef',
  b64: ALPHA_UPPER + ALPHA_LOWER + DIGITS + '+/',
  b64url: ALPHA_UPPER + ALPHA_LOWER + DIGITS + '_-',
  b32: ALPHA_UPPER + '234567',
  bech32: 'QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L',
};

const MIXED = new Set(['alnum', 'b64', 'b64url']);

const TOKEN_RE = /\{\{rand:([^:}]*):([0-9]+)\}\}/g;
const PAIR_RE = /\{\{b64pair:([^:}]*):([^:}]*):([0-9]+)\}\}/g;

function seedFromEnv(): number {
  const v = process.env.EXAMPLES_SEED;
  if (v === undefined || v === '') return 0x5eed_2026;
  if (v === 'random') {
    const seed = randomInt(2 ** 32 - 1);
    console.log(`EXAMPLES_SEED=${seed}`);
    return seed;
  }
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32)
    throw new Error(`EXAMPLES_SEED must be an integer in [0, 2^32) or "random", got ${v}`);
  return n;
}

/** mulberry32: a small, well-spread 32-bit generator; these are test keys, not cryptography. */
function seeded(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

const drawBelow = seeded(seedFromEnv());

export function randomString(charset: string, length: number): string {
  const chars = CHARSETS[charset];
  if (chars === undefined) throw new Error(`unknown example charset: ${charset}`);
  let out = '';
  for (let i = 0; i < length; i++) out += chars[drawBelow(chars.length)];
  return out;
}

function looksLikeFiller(part: string, charset = ''): boolean {
  if (isPlaceholder(part) || isDocExample(part)) return true;
  // A draw from a letters-and-digits set shaped like an identifier (`kPqzTmnwRxya`): rules read such
  // values as code, not key material. (All-letter sets are always word-shaped; they are left alone.)
  if (MIXED.has(charset) && part.length >= 8 && isWordy(part)) return true;
  if (part.length >= 16) return distinctChars(part) < 6 || shannonEntropy(part) < 3;
  return part.length >= 8 && (distinctChars(part) < 6 || shannonEntropy(part) < 2.5);
}

/**
 * A filler word, or a run of one repeated character (`.01` + `1111110`: seven 1s), made of the draw
 * together with the literal text next to it.
 */
function fillerAcross(before: string, part: string, after: string): boolean {
  const s = before + part + after;
  // Six literal characters either side at most, so the run always takes in part of the draw.
  if (hasRepeatedRun(before.slice(-6) + part + after.slice(0, 6), 7)) return true;
  for (const m of s.matchAll(new RegExp(PLACEHOLDER_WORD_RE.source, 'gi'))) {
    if (m.index < before.length + part.length && m.index + m[0].length > before.length) return true;
  }
  return false;
}

export function expandExample(template: string): { text: string; randomParts: string[] } {
  const randomParts: string[] = [];
  const text = template.replace(TOKEN_RE, (tok: string, charset: string, len: string, offset: unknown) => {
    const at = offset as number;
    const before = template.slice(Math.max(0, at - 8), at);
    const after = template.slice(at + tok.length, at + tok.length + 8);
    let part = randomString(charset, Number(len));
    // A draw can, rarely, look like filler (`FaKe-`, `dUmMy` inside the key) or be low in variety, which
    // the rules skip on purpose (about 1 in 10 000 example expansions); an example must be a clear
    // positive, so such a draw is made again.
    while (looksLikeFiller(part, charset) || fillerAcross(before, part, after))
      part = randomString(charset, Number(len));
    randomParts.push(part);
    return part;
  });
  if (text.includes('{{rand:')) throw new Error(`malformed rand token in example: ${template.slice(0, 80)}`);
  // `{{b64pair:USER:CHARSET:LEN}}`: base64 of `USER:<random password>` (Docker `auth`, npm `_auth`). The
  // whole base64 text is the random part: it is what a finding must never show.
  const out = text.replace(PAIR_RE, (_tok: string, user: string, charset: string, len: string) => {
    let pw = randomString(charset, Number(len));
    while (looksLikeFiller(pw, charset)) pw = randomString(charset, Number(len));
    const encoded = Buffer.from(`${user}:${pw}`).toString('base64');
    randomParts.push(encoded);
    return encoded;
  });
  if (out.includes('{{b64pair:')) throw new Error(`malformed b64pair token in example: ${template.slice(0, 80)}`);
  return { text: out, randomParts };
}
