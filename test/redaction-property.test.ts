// Property: whatever text surrounds a generated secret and however the body is chunked, no
// 8-character run of the secret's random part appears in any serialized finding.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { ALL_RULES, rulesFor } from '../lib/rules/index.js';
import { MessageScanner } from '../lib/scanner/message-scanner.js';
import { buildFinding } from '../lib/finding-builder.js';
import { expandExample } from './support/expand-example.js';

const salt = randomBytes(32);
const outbound = rulesFor('outbound');
const templates = ALL_RULES.filter((r) => r.threat_type === 'EXFIL').flatMap((r) =>
  r.examples.positive.filter((p) => p.includes('{{rand:')).map((p) => ({ rule: r.id, template: p })),
);

const WORDS = [
  'the',
  'key',
  'token',
  'is',
  '=',
  ':',
  '"',
  '{',
  '}',
  'config',
  'deploy',
  'export',
  'send',
  '\n',
  'value',
  ',',
];
const filler = fc.array(fc.constantFrom(...WORDS), { maxLength: 40 }).map((w) => w.join(' '));

function runs8(parts: string[]): string[] {
  const out: string[] = [];
  for (const p of parts) for (let i = 0; i + 8 <= p.length; i++) out.push(p.slice(i, i + 8));
  return out;
}

describe('redaction property', () => {
  it('has secret templates to test', () => {
    expect(templates.length).toBeGreaterThan(10);
  });

  it('never leaks an 8-character run of a secret, across random text, encodings and chunking', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...templates),
        filler,
        filler,
        fc.constantFrom('plain', 'json', 'base64', 'percent'),
        fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
        async ({ template }, before, after, wrap, sizes) => {
          const { text: secretText, randomParts } = expandExample(template);
          let inner = `${before}\n${secretText}\n${after}`;
          if (wrap === 'json') inner = JSON.stringify({ content: inner }).replace(/-/g, '\\u002d');
          if (wrap === 'base64') inner = `payload ${Buffer.from(inner).toString('base64')} end`;
          if (wrap === 'percent') inner = `q=${encodeURIComponent(inner)}`;
          const body = Buffer.from(inner, 'utf8');
          const s = new MessageScanner({ direction: 'outbound', rules: outbound, salt, maxScanBytes: 1024 * 1024 });
          let i = 0;
          let k = 0;
          while (i < body.length) {
            const n = sizes[k++ % sizes.length]!;
            s.write(body.subarray(i, i + n));
            i += n;
          }
          const r = await s.end();
          const findings = r.detections.map((d) =>
            buildFinding(d, {
              direction: 'outbound',
              protocol: 'https',
              source: '10.0.0.2',
              dest: 'x.example:443',
              path: '/p',
            }),
          );
          const serialized = JSON.stringify(findings);
          for (const run of runs8(randomParts)) {
            if (serialized.includes(run)) throw new Error(`leaked ${run} of ${template} in ${serialized}`);
          }
          return true;
        },
      ),
      { numRuns: 400 },
    );
  });

  it('detects the secret in most generated cases (the property is not vacuous)', async () => {
    let found = 0;
    for (const { rule, template } of templates) {
      const { text } = expandExample(template);
      const s = new MessageScanner({ direction: 'outbound', rules: outbound, salt, maxScanBytes: 1024 * 1024 });
      s.write(Buffer.from(`some text\n${text}\nmore text`));
      const r = await s.end();
      if (r.detections.some((d) => d.pattern === rule)) found++;
    }
    expect(found).toBe(templates.length);
  });
});
