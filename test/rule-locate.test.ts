// Rules with a `locate` cursor run their regex only where the cursor points. The hits must be exactly
// those of the plain global scan of the same pattern: every rule's examples (all rules', so each
// cursor also sees other rules' shapes), JSON-quoted, joined and mutated with the characters the
// cursors look at (`@`, `:`, `=`, quotes, separators), and the benign corpus.
import { describe, expect, it } from 'vitest';
import { ALL_RULES } from '../lib/rules/index.js';
import { findRuleHits, startsAfterKeywords } from '../lib/rules/match-rule.js';
import { KeywordPrefilter } from '../lib/scanner/keyword-automaton.js';
import type { Rule } from '../lib/rules/rule.js';
import { benignJson, benignSamples, prng } from './support/benign-corpus.js';
import { expandExample } from './support/expand-example.js';

const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

const INSERTS = [
  ' ',
  '\t',
  '\n',
  ':',
  '=',
  ':=',
  '=>',
  '@',
  '/',
  '://',
  '"',
  "'",
  '_',
  '-',
  '.',
  '&',
  '?',
  '\\n',
  '\\',
  'KEY',
  'TOKEN',
  'SECRET',
  'PASS_WORD',
  'token',
  'Secret',
  'apiKey',
  'x:y@',
  'https://',
  'EAAA',
  'AZDO',
  'eyJ',
];

function mutate(text: string, rand: () => number): string {
  let s = text;
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const p = Math.floor(rand() * (s.length + 1));
    const op = rand();
    if (op < 0.4) s = s.slice(0, p) + INSERTS[Math.floor(rand() * INSERTS.length)]! + s.slice(p);
    else if (op < 0.65) s = s.slice(0, p) + s.slice(p + 1 + Math.floor(rand() * 3));
    else if (op < 0.85) {
      const c = s.charAt(p);
      s = s.slice(0, p) + (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()) + s.slice(p + 1);
    } else {
      const q = Math.floor(rand() * s.length);
      s = s.slice(0, p) + s.slice(q, q + 24) + s.slice(p); // a repeated fragment: `A_TOKEN=x_TOKEN=y`
    }
  }
  return s;
}

function corpus(): string[] {
  const rand = prng(13);
  const templates = ALL_RULES.flatMap((r) => [
    ...r.examples.positive,
    ...r.examples.negative,
    ...(r.examples.issuer ?? []).map((x) => x.text),
  ]);
  const texts: string[] = [];
  for (const t of templates) {
    for (let k = 0; k < 3; k++) {
      const e = latin1(expandExample(t).text);
      const other = latin1(expandExample(templates[Math.floor(rand() * templates.length)]!).text);
      texts.push(e, JSON.stringify(e), `${e}\n${other}`, mutate(e, rand), mutate(mutate(`${other} ${e}`, rand), rand));
    }
  }
  for (const s of benignSamples()) texts.push(latin1(s.text));
  texts.push(latin1(benignJson(256 * 1024)));
  return texts;
}

/** Corpus texts joined into long views (walked in eight lanes), so keywords fall on lane boundaries. */
function longViews(texts: readonly string[], seed: number): string[] {
  const rand = prng(seed);
  const long: string[] = [];
  for (let i = 0; i < 40; i++) {
    let t = '';
    while (t.length < 4000 + i * 300) t += `${texts[Math.floor(rand() * (texts.length - 1))]!.slice(0, 3000)}\n`;
    long.push(t);
  }
  return long;
}

const located = ALL_RULES.filter((r) => r.locate !== undefined);
const plain = (r: Rule): Rule => ({ ...r, locate: undefined });

describe('rule cursors (Rule.locate)', () => {
  it('the rules that scan every view have one', () => {
    const ids = located.map((r) => r.id);
    for (const id of ['generic_secret', 'dotenv_file', 'url_credentials', 'database_url_password']) {
      expect(ids).toContain(id);
    }
  });

  const texts = corpus();
  for (const rule of located) {
    it(`${rule.id}: the same hits as the plain scan`, () => {
      const bare = plain(rule);
      let found = 0;
      for (const text of texts) {
        const want = findRuleHits(bare, text);
        found += want.length;
        expect(findRuleHits(rule, text), `${rule.id} on ${JSON.stringify(text.slice(0, 300))}`).toEqual(want);
      }
      // The comparison means something only where the rule matches.
      expect(found).toBeGreaterThan(0);
    });
  }
});

// Rules with `startsBeforeKeyword` run only where the prefilter logged one of their keywords: the
// hits must be those of the plain global scan (no cursor, no keyword positions) on the same corpus,
// also joined into long views (walked in eight lanes) so keywords fall on lane boundaries.
describe('rules that start at a keyword (Rule.startsBeforeKeyword)', () => {
  const keyed = ALL_RULES.filter((r) => r.startsBeforeKeyword !== undefined);
  const bare = (r: Rule): Rule => ({ ...r, locate: undefined, startsBeforeKeyword: undefined });

  it('the rules whose keywords are common in benign traffic have it', () => {
    const ids = keyed.map((r) => r.id);
    for (const id of ['jwt_credential', 'aws_access_key', 'square_token', 'destructive_rm', 'markdown_image_exfil']) {
      expect(ids).toContain(id);
    }
  });

  const texts = corpus();
  const long = longViews(texts, 29);
  const pf = new KeywordPrefilter(ALL_RULES);
  for (const rule of keyed) {
    it(`${rule.id}: the same hits as the plain scan`, () => {
      let found = 0;
      for (const text of [...texts, ...long]) {
        const want = findRuleHits(bare(rule), text);
        found += want.length;
        const ran = pf.candidates(Buffer.from(text, 'latin1')).includes(rule);
        const got = ran ? findRuleHits(rule, text, undefined, 64, pf.starts(rule)) : [];
        expect(got, `${rule.id} on ${JSON.stringify(text.slice(0, 300))}`).toEqual(want);
      }
      expect(found).toBeGreaterThan(0);
    });
  }
});

// Rules with `startAfterKeyword` try their pattern only where one of their keywords leads: for
// generic_secret, the operator right after the name holding a keyword. The hits must be those of the
// plain global scan whose key name (read back from the operator, as the rule's accept reads it) holds
// one of the rule's keywords, found case-insensitively, with at most 64 name characters after it.
describe('rules that start after a keyword (Rule.startAfterKeyword)', () => {
  const after = ALL_RULES.filter((r) => r.startAfterKeyword !== undefined);
  const bare = (r: Rule): Rule => ({ ...r, locate: undefined, startAfterKeyword: undefined });
  const nameChar = (c: string): boolean => /[A-Za-z0-9_.-]/.test(c);

  it('generic_secret has it (one operator per JSON key made it the costliest rule)', () => {
    expect(after.map((r) => r.id)).toEqual(['generic_secret']);
  });

  const generic = after[0]!;
  /** The key name before the operator at `op`: back over 3 spaces or tabs, a quote, then name characters. */
  const nameBefore = (text: string, op: number): string => {
    let j = op;
    while (op - j < 3 && j > 0 && (text[j - 1] === ' ' || text[j - 1] === '\t')) j--;
    if (j > 0 && (text[j - 1] === '"' || text[j - 1] === "'")) j--;
    let k = j;
    while (k > 0 && nameChar(text[k - 1]!)) k--;
    return text.slice(k, j).toLowerCase();
  };
  const keywordLeads = (name: string): boolean =>
    generic.keywords.some((kw) => {
      for (let i = name.indexOf(kw); i >= 0; i = name.indexOf(kw, i + 1)) {
        if (name.length - (i + kw.length) <= 64) return true;
      }
      return false;
    });

  const texts = corpus();
  const long = longViews(texts, 31);
  const pf = new KeywordPrefilter(ALL_RULES);
  it("generic_secret: the plain scan's hits whose key name holds a keyword", () => {
    let found = 0;
    let dropped = 0;
    for (const text of [...texts, ...long]) {
      const all = findRuleHits(bare(generic), text);
      const want = all.filter((h) => keywordLeads(nameBefore(text, h.start)));
      found += want.length;
      dropped += all.length - want.length;
      const bytes = Buffer.from(text, 'latin1');
      const ran = pf.candidates(bytes).includes(generic);
      const starts = ran ? startsAfterKeywords(generic, bytes, pf.keywordEndsOf(generic)) : null;
      const got = ran ? findRuleHits(generic, text, undefined, 64, starts) : [];
      expect(got, `on ${JSON.stringify(text.slice(0, 300))}`).toEqual(want);
    }
    expect(found).toBeGreaterThan(100);
    // The corpus has names no keyword leads to (mutations split words): the filter is exercised.
    expect(dropped).toBeGreaterThan(0);
  });

  it('generic_secret: a keyword leads to the operator after its name, or nowhere', () => {
    const at = (text: string, word: string): number =>
      generic.startAfterKeyword!(Buffer.from(text, 'latin1'), text.indexOf(word) + word.length);
    expect(at('"api_key": "x"', 'api_key')).toBe(9);
    expect(at('DB_PASSWORD =x', 'PASSW')).toBe(12);
    expect(at('client_secret_value\t\t:=x', 'secret')).toBe(21);
    expect(at('the token is here', 'token')).toBe(-1);
    expect(at('token    =x', 'token')).toBe(-1); // more than 3 spaces
    expect(at(`secret${'_'.repeat(70)}=x`, 'secret')).toBe(-1); // more than 64 name characters
    expect(at('x_token', 'token')).toBe(-1); // the end of the view
  });
});

describe('generic_secret key names', () => {
  const rule = ALL_RULES.find((r) => r.id === 'generic_secret')!;
  const value = (): string => expandExample('{{rand:alnum:20}}{{rand:digits:4}}').text;

  it('finds a secret word split by separators (NAME_END is tested on the name without them)', () => {
    for (const name of ['DB_PASS_WORD', 'db.pass-word', 'APP_SEC_RET', 'api_ke_y']) {
      const text = `${name}=${value()}`;
      expect(findRuleHits(rule, text).length, text).toBe(1);
    }
  });

  it('a value running into the next key does not swallow that key', () => {
    // `x_TOKEN=` is no secret (not random), but its value's trailing `=` once consumed the operator
    // of the key after it, so the real secret there went unseen.
    const secret = value();
    const text = `CI_TOKEN=build_runner_TOKEN=${secret}`;
    const hits = findRuleHits(rule, text);
    expect(hits.map((h) => text.slice(h.secretStart, h.secretEnd))).toEqual([secret]);
  });
});
