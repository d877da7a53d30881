// The DFA prefilter must pick exactly the rules a naive lowercase `includes` check would.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KeywordPrefilter } from '../lib/scanner/keyword-automaton.js';
import { ALL_RULES, rulesFor } from '../lib/rules/index.js';
import type { Rule } from '../lib/rules/rule.js';

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

  // Views of 1 KiB and more are walked in four lanes that overlap by the longest keyword minus one:
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
            const q = n >> 2;
            for (const [k, where, shift] of placed) {
              // Aim at a lane boundary (or an end) and shift a little either way.
              const anchor = [0, q, 2 * q, 3 * q, n][where % 5]!;
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
});
