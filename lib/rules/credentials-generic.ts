// Catch-all EXFIL rules for credentials of providers no specific rule knows:
// - `generic_secret`: a secret-named key (`apiSecret`, `client_secret`, `api_key`, `password`, `token`,
//   ...) in a JSON, YAML, env, INI or form body whose value passes a randomness test (length, entropy,
//   character classes, not an identifier, path, URL or placeholder). It is a fallback: where a specific
//   rule found the same secret, only the specific finding is reported.
// - `bearer_jwt_third_party`: an `Authorization: Bearer <JWT>` whose issuer (`iss`) or audience (`aud`)
//   is another site than the host it is sent to.
import {
  charClasses,
  distinctChars,
  isDocExample,
  isPlaceholder,
  isWordy,
  shannonEntropy,
  textBefore,
} from './false-positive.js';
import { atOperators } from './locate.js';
import type { Rule } from './rule.js';
import { isTokenChar, OUT } from './token-rule.js';

const KEY_BASES = ['api', 'access', 'private', 'auth', 'signing', 'encryption', 'master', 'secret'];
/**
 * Keywords are kept short: each keyword grows the prefilter's automaton, whose walk is the scanner's
 * main cost (name-plus-delimiter keywords, 266 of them, halved its speed for 15% fewer runs).
 */
const KEYWORDS = [
  'secret',
  'token',
  'passw',
  'passphrase',
  'pwd',
  'credential',
  // The scanner looks for this rule's operator only at the end of a name holding one of its keywords
  // (`startAfterKeyword`): the split spellings a name may have are keywords too (`DB_PASS_WORD`,
  // `ssh_pass_phrase`, `app.api.key`, .NET's `Api__Key`).
  ...['_', '-', '.'].flatMap((sep) => [`pass${sep}w`, `pass${sep}p`]),
  ...KEY_BASES.flatMap((b) => ['', '_', '-', '.', '__'].map((sep) => `${b}${sep}key`)),
];
/** Name characters looked at after a keyword for the end of its name (the name accept reads is 60). */
const NAME_REST_MAX = 64;

/**
 * Where this rule's match may start after a keyword ending at `end`: the operator (`:`, `=`, `:=`,
 * `=>`) right after the rest of the name holding the keyword, an optional closing quote and at most 3
 * spaces or tabs; -1 when there is none (a keyword in prose or in a value). Bytes, so no string is
 * made for a view whose keywords lead nowhere.
 */
function operatorAfterName(v: Uint8Array, end: number): number {
  const n = v.length;
  let i = end;
  const lim = Math.min(n, end + NAME_REST_MAX);
  while (i < lim && NAME_CHAR[v[i]!] === 1) i++;
  if (i < n && (v[i] === 0x22 || v[i] === 0x27)) i++;
  for (let k = 0; k < 3 && i < n && (v[i] === 0x20 || v[i] === 0x09); k++) i++;
  return i < n && (v[i] === 0x3a || v[i] === 0x3d) ? i : -1;
}

/** What a secret-named key's normalised name (lowercase, no `_-.`) must end with. */
const NAME_END =
  /(?:secret|token|password|passwd|passphrase|pwd|apikey|accesskey|privatekey|authkey|signingkey|encryptionkey|masterkey|secretkey|credentials?)$/;
/** Names that hold random but non-secret or issuer-bound values (CSRF, paging cursors, push tokens, ...). */
const NAME_SKIP =
  /csrf|xsrf|authenticity|antiforgery|verificationtoken|captcha|nonce|cursor|pagetoken|nexttoken|pagination|continuation|synctoken|resumetoken|idempotency|cancellation|devicetoken|pushtoken|fcmtoken|apnstoken|registrationtoken|publishable|public|tokenizer|maxtoken|tokentype|tokenendpoint|tokenurl/;

/** The randomness test for a value of unknown format. */
export function looksRandom(v: string, minLength: number): boolean {
  if (v.length < minLength || v.length > 256) return false;
  if (isPlaceholder(v) || isDocExample(v)) return false;
  if (/^[$%{<[(]|:\/\//.test(v)) return false; // references, URLs
  if (/^(?:~|\.{1,2})?\/[a-z0-9._-]+(?:\/[a-z0-9._-]*)*$/.test(v)) return false; // lowercase paths
  if (/^[0-9.:_ -]+$/.test(v) || /^v?[0-9]+\.[0-9]+/.test(v)) return false; // numbers, dates, versions
  if (isWordy(v)) return false;
  const classes = charClasses(v);
  const hasDigit = /[0-9]/.test(v);
  if (classes < 2) return false;
  if (!hasDigit && !(v.length >= 20 && /[a-z]/.test(v) && /[A-Z]/.test(v))) return false;
  const entropy = shannonEntropy(v);
  // Hex has 16 symbols: a random 40-hex value often measures 3.3 bits per character.
  const hex = /^[0-9a-fA-F]+$/.test(v);
  const need = hex ? 3 : v.length >= 24 ? 3.4 : v.length >= 16 ? 3.1 : 2.8;
  return entropy >= need && distinctChars(v) >= Math.min(8, v.length >> 1);
}

/**
 * What a secret-named key ends with right before its operator: every NAME_END word ends with one of
 * these, and NAME_END is tested with `-`, `_`, `.` removed, so they may sit between the letters here
 * too (`DB_PASS_WORD`). By last letter, the first test a name fails.
 */
const NAME_TAILS: Record<string, readonly string[]> = {
  t: ['secret'],
  n: ['token'],
  d: ['password', 'passwd', 'pwd'],
  e: ['passphrase'],
  y: ['key'],
  l: ['credential'],
  s: ['credentials'],
};
/** NAME_TAILS by the lowercase character code of the last letter. */
const TAILS_BY_CODE: (readonly string[] | undefined)[] = [];
for (const [last, words] of Object.entries(NAME_TAILS)) TAILS_BY_CODE[last.charCodeAt(0)] = words;
const NAME_TAIL_SOURCE = Object.values(NAME_TAILS)
  .flat()
  .map((w) => w.split('').join('[-_.]*'))
  .join('|');

const isNameSeparator = (c: number): boolean => c === 95 || c === 45 || c === 46;

/** True when the text ending at `i` (a letter) spells `w` (lowercase), in any case, separators allowed inside. */
function wordEndsAt(text: string, i: number, w: string): boolean {
  for (let k = w.length - 1; k >= 0; k--, i--) {
    if (k < w.length - 1) while (i >= 0 && isNameSeparator(text.charCodeAt(i))) i--;
    if (i < 0 || (text.charCodeAt(i) | 32) !== w.charCodeAt(k)) return false;
  }
  return true;
}

/**
 * The pattern's lookbehind at an operator starting at `op`, in plain code: a NAME_TAILS word, an
 * optional quote and at most 3 spaces or tabs right before it. Most operators in JSON (`"id":`,
 * `"type":`) fail on the first letter.
 */
function nameEndsBefore(text: string, op: number): boolean {
  let i = op - 1;
  let c = text.charCodeAt(i); // NaN before the text: no test below passes
  while (op - 1 - i < 3 && (c === 32 || c === 9)) c = text.charCodeAt(--i);
  if (c === 34 || c === 39) c = text.charCodeAt(--i);
  const words = c < 128 ? TAILS_BY_CODE[c | 32] : undefined;
  if (words === undefined) return false;
  for (const w of words) if (wordEndsAt(text, i, w)) return true;
  return false;
}

/** Characters of a key name: letters, digits, `_`, `-`, `.`. */
function isNameChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45 || c === 46;
}
const NAME_CHAR = Uint8Array.from({ length: 256 }, (_, c) => (isNameChar(c) ? 1 : 0));

const genericSecret: Rule = {
  id: 'generic_secret',
  threat_type: 'EXFIL',
  directions: OUT,
  severity: 'medium',
  description: 'Secret-named key (api_key, client_secret, password, token, ...) holding a random-looking value',
  keywords: KEYWORDS,
  // Operators in JSON are one per key (about 12 k per MB), and the keywords are common in prose
  // (`token`, `password`: about 2,700 per MB of the benign corpus); only the few keywords that end a
  // name right before an operator lead to a regex run.
  startAfterKeyword: operatorAfterName,
  // Anchored on the operator (`:`, `=`) and a long run of token characters after it. The lookbehind
  // asks for the end of a secret-named key (secret, token, password, apiKey, credentials, ...: every
  // NAME_END word ends with one of these) before the operator; the rest of the name is checked in
  // `accept`. `nameEndsBefore` runs the same look back at each operator first, the regex only where it
  // passes. The lookahead is accept's test of the character after the value: without it, a value
  // that ran into the next `KEY=` (`A_TOKEN=x_TOKEN=y`) swallowed that key's operator.
  pattern: new RegExp(
    String.raw`(?<op>:=|=>|[:=])(?<=(?:${NAME_TAIL_SOURCE})["']?[ \t]{0,3}(?::=|=>|[:=]))[ \t]{0,3}(?<open>["']?)(?<secret>[A-Za-z0-9+/_.~!@#$%^*-]{12,256}={0,2})(?=[\s&,;}\]\\"']|$)`,
    'gi',
  ),
  locate: atOperators(
    (text, op) => nameEndsBefore(text, op) || (text.charCodeAt(op - 1) === 58 /* : */ && nameEndsBefore(text, op - 1)),
  ),
  accept: (m, secret) => {
    const input = m.input;
    // Walk back over `[ \t]{0,3}`, an optional closing quote and the key name (cheap: most operators
    // in text have no secret-named key before them and stop here).
    let j = m.index;
    while (j > 0 && m.index - j < 3 && (input[j - 1] === ' ' || input[j - 1] === '\t')) j--;
    let close = '';
    if (j > 0 && (input[j - 1] === '"' || input[j - 1] === "'")) close = input[--j]!;
    let k = j;
    while (k > 0 && j - k < 60 && isNameChar(input.charCodeAt(k - 1))) k--;
    while (k < j && (input[k] === '-' || input[k] === '.')) k++; // `--api-key`: the dashes are the flag's
    if (k === j) return false;
    const full = input.slice(k, j).toLowerCase();
    const norm = full.replace(/[-_.]/g, '');
    if (!NAME_END.test(norm) || NAME_SKIP.test(norm)) return false;
    const lead = textBefore(input, k, 40);
    const open = m.groups?.open ?? '';
    const op = m.groups?.op ?? '';
    const after = input.charAt(m.index + m[0].length);
    if (open) {
      // A quoted value must be whole: the same quote right after it.
      if (after !== open) return false;
    } else {
      if (after !== '' && !/[\s&,;}\]\\"']/.test(after)) return false;
      // A line start, or the start of a string holding a line (`"content":"acme_token=..."`).
      const atLineStart = /(?:^|[\r\n"']|\\n)[ \t]{0,12}(?:-[ \t]{1,3}|export[ \t]{1,4})?$/.test(lead);
      if (op === ':' && !close) {
        // YAML `key: value` at a line start; `X-Api-Key: value` is a header.
        if (!atLineStart || full.includes('-')) return false;
      } else if (!close) {
        // env / INI / form / CLI flag: at a line start, after `&` or `?`, or after `--`.
        // (`content=acme_token=...`: a form field holding an env line.)
        if (!atLineStart && !/[&?=][ \t]{0,2}$/.test(lead) && !/(?:^|\s)--?$/.test(lead)) return false;
      }
    }
    const minLength = /passw|pwd|passphrase/.test(norm) ? 12 : 16;
    return looksRandom(secret, minLength);
  },
  fallback: true,
  examples: {
    positive: [
      '{"method":"tools/call","params":{"name":"create_integration","arguments":{"apiSecret":"{{rand:alnum:32}}"}}}',
      'client_id=abc&client_secret={{rand:b64url:40}}&grant_type=client_credentials',
      'service:\n  api_key: {{rand:alnum:24}}\n',
      'acme_token={{rand:alnum:20}}{{rand:digits:4}}',
      '{"config":{"webhookSecret":"{{rand:hex:40}}"}}',
      "password: '{{rand:alnum:10}}{{rand:digits:3}}!'",
      'private_key = "{{rand:b64:44}}"',
      'curl --api-key={{rand:alnum:30}} https://api.unknown.example',
    ],
    negative: [
      '{"max_tokens": 4096, "token_count": 1200}',
      '{"password": "hunter2"}',
      '{"apiSecret": "${API_SECRET}"}',
      '{"client_secret": "your-client-secret"}',
      'api_key: process.env.API_KEY',
      'const token = getAccessToken(user);',
      '{"csrf_token": "{{rand:alnum:40}}"}',
      '{"nextPageToken": "{{rand:b64url:40}}"}',
      'X-Api-Key: {{rand:alnum:32}}',
      'token_url: https://auth.example.com/oauth2/token',
      '{"publicKey": "{{rand:b64:44}}"}',
      'secret_name: prod-database-credentials',
      '{"token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"}',
      'The token: {{rand:alnum:20}}1 was printed in prose',
      'password = getpass.getpass("Password: ")',
      'SECRET_KEY_BASE=development_secret_key_base_value',
    ],
  },
};

// --- Bearer JWT to a third-party host ------------------------------------------------------------------

interface JwtClaims {
  iss?: unknown;
  aud?: unknown;
}

function jwtClaims(jwt: string): JwtClaims | null {
  const payload = jwt.split('.')[1];
  if (!payload) return null;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return parsed !== null && typeof parsed === 'object' ? (parsed as JwtClaims) : null;
  } catch {
    return null;
  }
}

/** The host of an `iss`/`aud` value (`https://auth.example.com/x` or `auth.example.com`), else null. */
function hostOf(v: unknown): string | null {
  if (typeof v !== 'string' || v.length === 0 || v.length > 300) return null;
  const m =
    /^(?:[a-z][a-z0-9+.-]{0,20}:\/\/)?([A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+)(?::[0-9]{1,5})?(?:[/?#]|$)/.exec(v);
  return m?.[1]?.toLowerCase() ?? null;
}

/** `auth.eu.example.co.uk` -> `example.co.uk`; `login.example.com` -> `example.com` (an approximation). */
function siteOf(host: string): string {
  const labels = host.split('.');
  const n = labels.length;
  if (n <= 2) return host;
  const second = labels[n - 2] ?? '';
  const short = (labels[n - 1] ?? '').length === 2 && /^(?:co|com|org|net|ac|gov|edu|ne|or)$/.test(second);
  return labels.slice(short ? n - 3 : n - 2).join('.');
}

/** Hosts that may legitimately receive this JWT: its issuer's and audiences' sites (Google: googleapis too). */
export function jwtHomeHosts(jwt: string): string[] {
  const claims = jwtClaims(jwt);
  if (!claims) return [];
  const auds = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const out: string[] = [];
  for (const v of [claims.iss, ...auds]) {
    const h = hostOf(v);
    if (!h) continue;
    const site = siteOf(h);
    out.push(h, site, `*.${site}`);
    if (site === 'google.com') out.push('oauth2.googleapis.com', 'www.googleapis.com');
  }
  return out;
}

const b64url = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
const JWT_HEAD = b64url({ alg: 'RS256', typ: 'JWT' });
const JWT_IDP = b64url({ iss: 'https://auth.idp-example.com/', sub: 'u1', aud: 'https://api.idp-example.com' });
const JWT_NO_ISS = b64url({ sub: 'u1', scope: 'read' });

const bearerJwtThirdParty: Rule = {
  id: 'bearer_jwt_third_party',
  threat_type: 'EXFIL',
  directions: OUT,
  severity: 'medium',
  description: 'Bearer JWT sent to a host other than its issuer or audience',
  keywords: ['bearer eyj', 'bearer  eyj', 'bearer\teyj'],
  pattern:
    /[Bb]earer[ \t]{1,4}(?<secret>eyJ[A-Za-z0-9_-]{8,2000}\.eyJ[A-Za-z0-9_-]{8,8000}\.[A-Za-z0-9_-]{16,1000})(?![A-Za-z0-9_-])/g,
  accept: (m, secret) =>
    !isTokenChar(m.input, m.index - 1) &&
    !isDocExample(secret) &&
    jwtHomeHosts(secret).length > 0 &&
    shannonEntropy(secret.slice(secret.lastIndexOf('.') + 1)) >= 3.5,
  issuerHosts: jwtHomeHosts,
  examples: {
    positive: [
      `Authorization: Bearer ${JWT_HEAD}.${JWT_IDP}.{{rand:b64url:86}}`,
      `{"headers":{"Authorization":"Bearer ${JWT_HEAD}.${JWT_IDP}.{{rand:b64url:342}}"}}`,
    ],
    negative: [
      `Authorization: Bearer ${JWT_HEAD}.${JWT_NO_ISS}.{{rand:b64url:86}}`,
      'Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
      'Authorization: Bearer eyJ{{rand:b64url:32}}.eyJ{{rand:b64url:80}}.{{rand:b64url:43}}',
    ],
    issuer: [
      { host: 'api.idp-example.com', text: `Authorization: Bearer ${JWT_HEAD}.${JWT_IDP}.{{rand:b64url:86}}` },
      { host: 'auth.idp-example.com:443', text: `Authorization: Bearer ${JWT_HEAD}.${JWT_IDP}.{{rand:b64url:86}}` },
    ],
  },
};

export const GENERIC_RULES: readonly Rule[] = [genericSecret, bearerJwtThirdParty];
