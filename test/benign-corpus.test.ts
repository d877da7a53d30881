// False positives are a defect: benign traffic must give no hit from any rule, in either direction.
import { describe, expect, it } from 'vitest';
import { ALL_RULES, rulesFor } from '../lib/rules/index.js';
import { findRuleHits, keywordsPresent } from '../lib/rules/match-rule.js';
import { benignJson, benignSamples } from './support/benign-corpus.js';

const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

function hitsIn(text: string): string[] {
  const found: string[] = [];
  for (const rule of ALL_RULES) {
    for (const h of findRuleHits(rule, text)) {
      found.push(
        `${rule.id}: ${JSON.stringify(text.slice(Math.max(0, h.start - 20), Math.min(text.length, h.end + 20)))}`,
      );
    }
  }
  return found;
}

describe('benign corpus', () => {
  it.each(benignSamples().map((s) => [s.name, s.text] as const))('%s gives no hit', (_name, text) => {
    expect(hitsIn(latin1(text))).toEqual([]);
  });

  it('covers the required kinds of benign text', () => {
    const all = benignSamples()
      .map((s) => s.text)
      .join('\n');
    for (const needle of [
      'AKIAIOSFODNN7EXAMPLE',
      'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
      '${OPENAI_API_KEY}',
      '<your-api-key>',
      'sk-ant-api03-xxxxxxxx',
      'ghp_XXXXXXXXXXXX',
      'iVBORw0KGgo',
      'you can use rm to remove files',
      '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}',
      '<!-- nav bar -->',
      '![logo](https://example.com/logo.png)',
      'npm install foo',
      'pip install bar',
      'curl -O https://x.example/y.tar.gz',
    ]) {
      expect(all.toLowerCase(), needle).toContain(needle.toLowerCase());
    }
  });

  it('builds a valid PNG for the image samples', () => {
    const sample = benignSamples().find((s) => s.name === 'base64 png in json');
    const data = (JSON.parse(sample?.text ?? '{}') as { source: { data: string } }).source.data;
    const png = Buffer.from(data, 'base64');
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.subarray(png.length - 8, png.length - 4).toString('latin1')).toBe('IEND');
  });

  it('generates deterministic LLM JSON of about the requested size', () => {
    const a = benignJson(64 * 1024);
    expect(a).toBe(benignJson(64 * 1024));
    expect(a.length).toBeGreaterThanOrEqual(64 * 1024);
    expect(a.length).toBeLessThan(64 * 1024 * 1.5);
    expect(() => JSON.parse(a) as unknown).not.toThrow();
  });

  it('gives no hit on 256 KiB of benign LLM JSON in either direction', () => {
    const text = latin1(benignJson(256 * 1024));
    expect(text).toContain('"type":"image"');
    expect(hitsIn(text)).toEqual([]);
    // And through the direction selection with the prefilter, as the scanner runs them.
    const lower = text.toLowerCase();
    for (const dir of ['outbound', 'inbound'] as const) {
      for (const rule of rulesFor(dir)) {
        if (keywordsPresent(rule, lower)) expect(findRuleHits(rule, text), rule.id).toEqual([]);
      }
    }
  });

  it('gives no hit on the decoded string contents of the benign JSON', () => {
    const strings: string[] = [];
    JSON.parse(benignJson(128 * 1024, 7), (_k, v: unknown) => {
      if (typeof v === 'string') strings.push(v);
      return v;
    });
    expect(hitsIn(latin1(strings.join('\n')))).toEqual([]);
  });
});
