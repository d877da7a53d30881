// Expands `{{rand:CHARSET:LEN}}` tokens in rule examples with crypto-random characters, so no
// real-looking key is ever committed. Returns the random parts so tests can check they are redacted.
import { randomInt } from 'node:crypto';
import {
  distinctChars,
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

export function randomString(charset: string, length: number): string {
  const chars = CHARSETS[charset];
  if (chars === undefined) throw new Error(`unknown example charset: ${charset}`);
  let out = '';
  for (let i = 0; i < length; i++) out += chars[randomInt(chars.length)];
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

/** A filler word made of the draw together with the literal text next to it (`.01` + `2345605`). */
function fillerAcross(before: string, part: string, after: string): boolean {
  const s = before + part + after;
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
