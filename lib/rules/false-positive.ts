// Shared false-positive filters for the rule catalogue: placeholders, documentation examples and
// low-entropy values. All functions are pure and cheap; they run only on candidate matches.

/** Shannon entropy of `s` in bits per character (0 for the empty string). */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  const n = s.length;
  for (const c of counts.values()) {
    const p = c / n;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/** Number of distinct characters in `s`. */
export function distinctChars(s: string): number {
  return new Set(s).size;
}

/** True when some character repeats `run` or more times in a row (`xxxxxxx`, `0000000`, `*******`). */
export function hasRepeatedRun(s: string, run = 6): boolean {
  let count = 1;
  for (let i = 1; i < s.length; i++) {
    if (s.charCodeAt(i) === s.charCodeAt(i - 1)) {
      if (++count >= run) return true;
    } else {
      count = 1;
    }
  }
  return false;
}

// Template syntax and masking: ${TOKEN}, {{ token }}, <your-api-key>, %(key)s, $OPENAI_API_KEY, sk-****, "...".
const TEMPLATE_RE = /\$\{|\$\(|\{\{|\}\}|<[^<>\s]{1,60}>|%\([a-z_]{1,40}\)|^\$[A-Za-z_]|\*{3}|\.{3}|\u2026|x{5}|X{5}/;

// Words that only appear in placeholders. Kept to 5+ letters so that random key material (the
// `{{rand:…}}` parts of examples, real keys) contains one with negligible probability.
export const PLACEHOLDER_WORD_RE =
  /your[-_ ]?(?:api[-_ ]?)?(?:key|token|secret|password|passwd|pass|access|account|own)|_here\b|here_|placeholder|redacted|changeme|change[-_]me|replace[-_]?(?:me|this|with)|insert[-_]|dummy|sample[-_]|example|notreal|not[-_]a[-_]real|fakekey|fake[-_]|abcdefgh|12345678|0123456/i;

const LITERAL_PLACEHOLDERS = new Set(['null', 'none', 'undefined', 'true', 'false', 'enabled', 'disabled', 'secret']);

/** True for values that are obviously not a real secret: template references, masks and filler words. */
export function isPlaceholder(value: string): boolean {
  const v = value.trim();
  if (v.length === 0) return true;
  if (LITERAL_PLACEHOLDERS.has(v.toLowerCase())) return true;
  if (TEMPLATE_RE.test(v)) return true;
  if (PLACEHOLDER_WORD_RE.test(v)) return true;
  if (hasRepeatedRun(v, 7)) return true;
  return false;
}

/** Documentation example credentials published by vendors (never real). */
export const DOC_EXAMPLE_SECRETS: readonly string[] = [
  'AKIAIOSFODNN7EXAMPLE',
  'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  'je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY',
  // jwt.io default token signature and payload.
  'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  'eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ',
];

/** True when `s` is, or contains, a published documentation example (AWS `...EXAMPLE` style included). */
export function isDocExample(s: string): boolean {
  if (s.includes('EXAMPLE')) return true;
  for (const d of DOC_EXAMPLE_SECRETS) if (s.includes(d)) return true;
  return false;
}

/**
 * The common acceptance test for random key material: not a placeholder, not a documentation
 * example, and at least `minEntropy` bits per character with some variety of characters.
 */
export function looksLikeRealSecret(secret: string, minEntropy = 3): boolean {
  if (isPlaceholder(secret) || isDocExample(secret)) return false;
  if (distinctChars(secret) < Math.min(6, secret.length)) return false;
  return shannonEntropy(secret) >= Math.min(minEntropy, entropyRandomReaches(secret.length));
}

/**
 * Bits per character that `n` random alphanumerics reach all but about once in a million draws
 * (measured: log2(n) - 1.25, so 3.07 at 20, 3.33 at 24, no cap from 28 on), and never less than 3,
 * which keeps short words (`qwerty`, 2.58) out. A key of 20-27 characters is held to this rather than
 * to a rule's higher threshold, which 24 random characters miss about once in 50,000 draws at 3.5
 * (CI drew `stripe.api_key = "rk_live_…"` with 3.40).
 */
function entropyRandomReaches(n: number): number {
  // Below 20 characters the rule's own threshold stands.
  return n < 20 ? Infinity : Math.max(3, Math.log2(n) - 1.25);
}

/**
 * Up to `n` characters of `text` before `index`, with a leading newline standing for the start of the
 * text. Rules anchored on a rare literal use it in `accept` to check what precedes the match.
 */
export function textBefore(text: string, index: number, n: number): string {
  return index <= n ? '\n' + text.slice(0, index) : text.slice(index - n, index);
}

/** Default and tutorial passwords that documentation uses (`postgres://postgres:postgres@`, `scott:tiger`). */
const COMMON_PASSWORDS = new Set([
  'password',
  'passwd',
  'pass',
  'secret',
  'postgres',
  'mysql',
  'root',
  'admin',
  'guest',
  'user',
  'test',
  'tiger',
  'redis',
  'rabbitmq',
  'mongo',
  'mongodb',
  'changeit',
  'letmein',
  'pwd',
  'pw',
  'foo',
  'bar',
  'foobar',
  'default',
  'qwerty',
  'hunter2',
]);

/** Number of character classes (lower, upper, digit, other) in `s`. */
export function charClasses(s: string): number {
  return Number(/[a-z]/.test(s)) + Number(/[A-Z]/.test(s)) + Number(/[0-9]/.test(s)) + Number(/[^A-Za-z0-9]/.test(s));
}

/**
 * A human-chosen or generated password in a URL, .netrc or config file, as opposed to a placeholder:
 * at least 6 characters, not a tutorial default, not the user name, and mixing at least two character
 * classes (`s3cret!`, not `password` or `PASSWORD`).
 */
export function looksLikePassword(pw: string, user = ''): boolean {
  if (pw.length < 6 || pw.length > 256) return false;
  if (isPlaceholder(pw) || isDocExample(pw)) return false;
  const lower = pw.toLowerCase();
  if (COMMON_PASSWORDS.has(lower) || lower === user.toLowerCase()) return false;
  // A word and a short tail of words and a number (`password123`, `MyPassWord`, `MySQLPass`, `DB_PROD`): a
  // default, not a secret. The tail's case is read as written, so a random `DBIjSwWtBlxI` or hex
  // `db4f9a1c0e7b` that merely starts like a word stays a password.
  const tail = /^(?:pass(?:word)?|secret|pwd|user(?:name)?|db|my|test)[-_]?(?<tail>[A-Za-z0-9]{0,12})$/i.exec(pw)
    ?.groups?.tail;
  if (tail !== undefined && isWordTail(tail) && !/[A-Z].*[0-9]|[0-9].*[A-Z]/.test(pw)) return false;
  if (/^[A-Z_]+$/.test(pw) || /^[a-z_-]+$/.test(pw)) return false; // PASSWORD, db_password: words
  return charClasses(pw) >= 2 && distinctChars(pw) >= 5;
}

/**
 * Nothing, a number, an upper-case word (`PROD`), or words in camel case with a number after them, one of
 * them at least three letters long (`Pass`, `DbPass`, `SQLPass`, `word12`; not `XqRtWvZy`, `RIXakRifNqHv`).
 */
function isWordTail(tail: string): boolean {
  if (/^(?:[A-Z]*|[0-9]*)[0-9]{0,6}$/.test(tail)) return true;
  // After the first word (`Db` in `myDbPass`) a capitalised word has three letters or more: random
  // text (`RIXakRifNqHv`) soon has a short one.
  const words = /^((?:[A-Z]{2,5}(?![a-z]))?[A-Z]?[a-z]+(?:[A-Z][a-z]{2,})*)[0-9]{0,6}$/.exec(tail)?.[1];
  return words !== undefined && /[A-Z][a-z]{2}|[a-z]{3}/.test(words);
}

/**
 * Words joined by `_`, `-`, `.` or camel case (`aes_key_st`, `token.ERRORTOKEN`, `getAccessToken`,
 * `testPass`): an identifier or a name, not key material.
 */
export function isWordy(v: string): boolean {
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$/.test(v)) return true; // process.env.X, self.token
  const parts = v.split(/[-_.]+|(?<=[a-z])(?=[A-Z])/).filter((p) => p.length > 0);
  return parts.every((p) => /^(?:[a-z]+|[A-Z][a-z]+|[A-Z]+)[0-9]{0,3}$/.test(p));
}

/**
 * A value that is program code rather than data: a call or a tuple/list/set (`Symbol.for(`,
 * `getpass.getpass(`, `(hkey_mod.HKEY_USERS,`), or an identifier (`aes_key_st`, `token.ERRORTOKEN`).
 */
export function isCodeValue(value: string): boolean {
  if (/^[([{]/.test(value) || /^[A-Za-z_$][\w$.]*\(/.test(value)) return true;
  const v = value.replace(/[;,]+$/, ''); // a statement's end: `A_KEY = B_KEY;`
  return v.length > 0 && isWordy(v);
}
