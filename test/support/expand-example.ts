// Expands `{{rand:CHARSET:LEN}}` tokens in rule examples with crypto-random characters, so no
// real-looking key is ever committed. Returns the random parts so tests can check they are redacted.
import { randomInt } from 'node:crypto';

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
};

const TOKEN_RE = /\{\{rand:([^:}]*):([0-9]+)\}\}/g;

export function randomString(charset: string, length: number): string {
  const chars = CHARSETS[charset];
  if (chars === undefined) throw new Error(`unknown example charset: ${charset}`);
  let out = '';
  for (let i = 0; i < length; i++) out += chars[randomInt(chars.length)];
  return out;
}

export function expandExample(template: string): { text: string; randomParts: string[] } {
  const randomParts: string[] = [];
  const text = template.replace(TOKEN_RE, (_tok, charset: string, len: string) => {
    const part = randomString(charset, Number(len));
    randomParts.push(part);
    return part;
  });
  if (text.includes('{{rand:')) throw new Error(`malformed rand token in example: ${template.slice(0, 80)}`);
  return { text, randomParts };
}
