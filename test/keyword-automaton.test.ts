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
          expect(pf.candidates(t).map((r) => r.id)).toEqual(naive(rules, t));
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
    expect(pf.candidates('.. KW5X .. kw64x ..').map((r) => r.id)).toEqual(['r5', 'r64']);
  });
});
