// Rules with a `locate` cursor run their regex only where the cursor points. The hits must be exactly
// those of the plain global scan of the same pattern: every rule's examples (all rules', so each
// cursor also sees other rules' shapes), JSON-quoted, joined and mutated with the characters the
// cursors look at (`@`, `:`, `=`, quotes, separators), and the benign corpus.
import { describe, expect, it } from 'vitest';
import { ALL_RULES } from '../lib/rules/index.js';
import { findRuleHits } from '../lib/rules/match-rule.js';
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

// Rules with `startsAfterKeyword` look for a match only just after one of their keywords: the hits
// must be those of the plain global scan that start within that window after a keyword (found
// case-insensitively), on the same corpus and long views.
describe('rules that look just after a keyword (Rule.startsAfterKeyword)', () => {
  const near = ALL_RULES.filter((r) => r.startsAfterKeyword !== undefined);
  const bare = (r: Rule): Rule => ({ ...r, locate: undefined, startsAfterKeyword: undefined });

  it('generic_secret has it (one operator per JSON key made it the costliest rule)', () => {
    expect(near.map((r) => r.id)).toContain('generic_secret');
  });

  const texts = corpus();
  const long = longViews(texts, 31);
  const pf = new KeywordPrefilter(ALL_RULES);
  for (const rule of near) {
    const width = rule.startsAfterKeyword!;
    const keywordBefore = (lower: string, at: number): boolean =>
      rule.keywords.some((k) => {
        const p = lower.lastIndexOf(k, at);
        return p >= 0 && at - p <= width;
      });
    it(`${rule.id}: the plain scan's hits that have a keyword just before them`, () => {
      let found = 0;
      let dropped = 0;
      for (const text of [...texts, ...long]) {
        const lower = text.toLowerCase();
        const all = findRuleHits(bare(rule), text);
        const want = all.filter((h) => keywordBefore(lower, h.start));
        found += want.length;
        dropped += all.length - want.length;
        const ran = pf.candidates(Buffer.from(text, 'latin1')).includes(rule);
        const got = ran ? findRuleHits(rule, text, undefined, 64, null, pf.keywordStartsOf(rule)) : [];
        expect(got, `${rule.id} on ${JSON.stringify(text.slice(0, 300))}`).toEqual(want);
      }
      expect(found).toBeGreaterThan(0);
      // The corpus has names the window leaves out (mutations split words): the filter is exercised.
      expect(dropped).toBeGreaterThan(0);
    });
  }
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
