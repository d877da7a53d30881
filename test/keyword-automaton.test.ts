// The DFA prefilter must pick exactly the rules a naive lowercase `includes` check would.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KeywordPrefilter } from '../lib/scanner/keyword-automaton.js';
import { ALL_RULES, rulesFor } from '../lib/rules/index.js';
import type { Rule } from '../lib/rules/rule.js';
import { benignJson, benignSamples, prng } from './support/benign-corpus.js';

function naive(rules: readonly Rule[], text: string): string[] {
  const lower = text.toLowerCase();
  return rules.filter((r) => r.keywords.some((k) => lower.includes(k))).map((r) => r.id);
}

describe('KeywordPrefilter', () => {
  const keywords = [...new Set(ALL_RULES.flatMap((r) => r.keywords))];
  // Text built from keyword pieces, their case variants and noise, so matches and near misses are common.
  const piece = fc.oneof(
    fc.constantFrom(...keywords),
    fc.constantFrom(...keywords).map((k) => k.toUpperCase()),
    fc.constantFrom(...keywords).map((k) => k.slice(0, Math.max(1, k.length - 1))),
    fc.string({ maxLength: 6 }),
    fc.constantFrom(' ', '\n', '\xf3', '\xa0', '\xd3'),
  );
  const text = fc.array(piece, { maxLength: 30 }).map((p) => p.join(''));

  for (const dir of ['outbound', 'inbound'] as const) {
    it(`agrees with a naive includes() check (${dir})`, () => {
      const rules = rulesFor(dir);
      const pf = new KeywordPrefilter(rules);
      fc.assert(
        fc.property(text, (t) => {
          expect(pf.candidates(Buffer.from(t, 'latin1')).map((r) => r.id)).toEqual(naive(rules, t));
        }),
        { numRuns: 2000 },
      );
    });
  }

  it('handles more rules than fit one mask', () => {
    const many: Rule[] = Array.from({ length: 70 }, (_, i) => ({
      ...ALL_RULES[0]!,
      id: `r${i}`,
      keywords: [`kw${i}x`],
    }));
    const pf = new KeywordPrefilter(many);
    expect(pf.candidates(Buffer.from('.. KW5X .. kw64x ..', 'latin1')).map((r) => r.id)).toEqual(['r5', 'r64']);
  });

  // Views of 1 KiB and more are walked in eight lanes that overlap by the longest keyword minus one:
  // a keyword placed across any lane boundary, at either end, or alone must still be seen.
  for (const dir of ['outbound', 'inbound'] as const) {
    it(`finds keywords across the lane boundaries of long views (${dir})`, () => {
      const rules = rulesFor(dir);
      const pf = new KeywordPrefilter(rules);
      const dirKeywords = [...new Set(rules.flatMap((r) => r.keywords))];
      const filler = fc.constantFrom('.', ' ', 'q', '\n', '0', 'Z');
      fc.assert(
        fc.property(
          fc.integer({ min: 1000, max: 9000 }),
          filler,
          fc.array(fc.tuple(fc.constantFrom(...dirKeywords), fc.nat(), fc.integer({ min: -40, max: 40 })), {
            maxLength: 3,
          }),
          (n, fill, placed) => {
            const chars = fill.repeat(n).slice(0, n).split('');
            const q = Math.floor(n / 8);
            for (const [k, where, shift] of placed) {
              // Aim at a lane boundary (or an end) and shift a little either way.
              const anchor = where % 9 === 8 ? n : (where % 9) * q;
              const at = Math.max(0, Math.min(n - k.length, anchor + shift - (k.length >> 1)));
              for (let i = 0; i < k.length; i++) chars[at + i] = k[i]!;
            }
            const t = chars.join('');
            expect(pf.candidates(Buffer.from(t, 'latin1')).map((r) => r.id)).toEqual(naive(rules, t));
          },
        ),
        { numRuns: 1500 },
      );
    });
  }

  // The same, with each keyword alone in a long view (so no other keyword of its rule hides a miss):
  // at every lane boundary, shifted by every amount that puts it across one, and at both ends.
  for (const dir of ['outbound', 'inbound'] as const) {
    it(`sees every keyword alone at every lane boundary (${dir})`, () => {
      const rules = rulesFor(dir);
      const pf = new KeywordPrefilter(rules);
      const dirKeywords = [...new Set(rules.flatMap((r) => r.keywords))];
      for (const n of [1024, 4099, 65536 + 4096 + 3]) {
        const q = Math.floor(n / 8);
        const view = Buffer.alloc(n, 0x2e); // '.'
        for (const k of dirKeywords) {
          // Every shift that puts the keyword across a boundary in the small views; both ends and the
          // middle of the overlap in the big one.
          const shifts = n < 10_000 ? Array.from({ length: k.length + 1 }, (_, i) => -i) : [-k.length, -1, 0];
          for (let lane = 0; lane <= 8; lane++) {
            const anchor = lane === 8 ? n - k.length : lane * q;
            for (const shift of shifts) {
              const at = Math.max(0, Math.min(n - k.length, anchor + shift));
              view.write(at % 2 ? k.toUpperCase() : k, at, 'latin1');
              // The dots around it may complete other keywords (`.ssh/`): the naive check reads them too.
              const want = naive(rules, view.toString('latin1', Math.max(0, at - 40), at + k.length + 40));
              const got = pf.candidates(view).map((r) => r.id);
              view.fill(0x2e, at, at + k.length);
              if (got.join() !== want.join())
                expect({ keyword: k, n, at, got }).toEqual({ keyword: k, n, at, got: want });
            }
          }
        }
      }
    });
  }

  // Real text: windows of the benign corpus and of every rule's examples, of all sizes (one lane,
  // eight lanes, views bigger than the module's first memory), with keywords planted at random.
  for (const dir of ['outbound', 'inbound'] as const) {
    it(`agrees with a naive includes() check on corpus text (${dir})`, () => {
      const rules = rulesFor(dir);
      const pf = new KeywordPrefilter(rules);
      const dirKeywords = [...new Set(rules.flatMap((r) => r.keywords))];
      const examples = ALL_RULES.flatMap((r) => [...r.examples.positive, ...r.examples.negative]).join('\n');
      const text = Buffer.from(
        benignJson(600 * 1024) +
          benignSamples()
            .map((x) => x.text)
            .join('\n') +
          examples,
        'utf8',
      ).toString('latin1');
      const rand = prng(dir === 'outbound' ? 5 : 6);
      const sizes = [0, 1, 7, 300, 1023, 1024, 5000, 65536 + 4096, 200 * 1024];
      for (let i = 0; i < 120; i++) {
        const n = sizes[i % sizes.length]! + Math.floor(rand() * 64);
        const start = Math.floor(rand() * Math.max(1, text.length - n));
        const chars = text.slice(start, start + n).split('');
        if (rand() < 0.5 && chars.length > 30) {
          const k = dirKeywords[Math.floor(rand() * dirKeywords.length)]!;
          const at = Math.floor(rand() * (chars.length - k.length));
          for (let j = 0; j < k.length; j++) chars[at + j] = rand() < 0.5 ? k[j]!.toUpperCase() : k[j]!;
        }
        const t = chars.join('');
        expect(pf.candidates(Buffer.from(t, 'latin1')).map((r) => r.id)).toEqual(naive(rules, t));
      }
    });
  }

  it('gives the same answer again for the same bytes (no state left from the previous view)', () => {
    const rules = rulesFor('outbound');
    const pf = new KeywordPrefilter(rules);
    const a = Buffer.from(`${'x'.repeat(3000)}ghp_ and token`, 'latin1');
    const b = Buffer.from('x'.repeat(3000), 'latin1');
    expect(pf.candidates(a).map((r) => r.id)).toEqual(naive(rules, a.toString('latin1')));
    expect(pf.candidates(b)).toEqual([]);
    expect(pf.candidates(a.subarray(0, 20)).map((r) => r.id)).toEqual(naive(rules, a.toString('latin1', 0, 20)));
  });

  it('logs where keywords start for rules that ask (Rule.startsBeforeKeyword), and gives up past the log cap', () => {
    const rules = rulesFor('outbound');
    const aws = rules.find((r) => r.id === 'aws_access_key')!;
    const pf = new KeywordPrefilter(rules);
    const text = `${'x'.repeat(2000)}akia ${'y'.repeat(3000)}ASIA ${'z'.repeat(1000)}aKiA`;
    expect(pf.candidates(Buffer.from(text, 'latin1'))).toContain(aws);
    expect(pf.starts(aws)).toEqual([2000, 5005, 6010]);
    // A rule without the declaration runs over the whole view.
    expect(pf.starts(rules.find((r) => r.id === 'generic_secret')!)).toBeNull();
    // More keywords than the log holds (16 Ki): no positions, so the rule runs over the whole view.
    expect(pf.candidates(Buffer.from(`${'key '.repeat(17_000)}AKIA`, 'latin1'))).toContain(aws);
    expect(pf.starts(aws)).toBeNull();
  });

  it('logs keyword ends for rules that start after them (Rule.startAfterKeyword)', () => {
    const rules = rulesFor('outbound');
    const generic = rules.find((r) => r.id === 'generic_secret')!;
    const pf = new KeywordPrefilter(rules);
    const text = `${'x'.repeat(2000)}"api_key": 1, ${'y'.repeat(3000)}DB_PASS_WORD=2 App.Api.Key=3`;
    expect(pf.candidates(Buffer.from(text, 'latin1'))).toContain(generic);
    const ends = pf.keywordEndsOf(generic)!;
    for (const word of ['api_key', 'PASS_W', 'Api.Key']) expect(ends).toContain(text.indexOf(word) + word.length);
    // A rule that declares neither field gets no positions.
    const plain = rules.find((r) => r.startsBeforeKeyword === undefined && r.startAfterKeyword === undefined)!;
    expect(pf.keywordEndsOf(plain)).toBeNull();
    // Past the log cap: none, so the rule runs over the whole view.
    expect(pf.candidates(Buffer.from(`${'token '.repeat(17_000)}`, 'latin1'))).toContain(generic);
    expect(pf.keywordEndsOf(generic)).toBeNull();
  });
});
