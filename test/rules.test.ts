// Every rule's own examples, run through the exact matcher the scanner uses (findRuleHits) on the
// latin1 byte view the scanner sees.
import { describe, expect, it } from 'vitest';
import { ALL_RULES, RULE_IDS, rulesFor } from '../lib/rules/index.js';
import { findRuleHits, keywordsPresent, type RuleHit } from '../lib/rules/match-rule.js';
import type { Rule } from '../lib/rules/rule.js';
import { isPlaceholder, looksLikePassword, looksLikeRealSecret, shannonEntropy } from '../lib/rules/false-positive.js';
import { expandExample } from './support/expand-example.js';

const latin1 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

/** Examples with random parts are expanded this many times, so rare random shapes show up. */
const REPEAT = Number(process.env.RULES_REPEAT ?? 20);

const SEEDS: Record<string, 'EXFIL' | 'INJECTION'> = {
  ai_api_key: 'EXFIL',
  aws_access_key: 'EXFIL',
  private_key_pem: 'EXFIL',
  ssh_key_file: 'EXFIL',
  unix_sensitive: 'EXFIL',
  dotenv_file: 'EXFIL',
  ssh_pubkey: 'EXFIL',
  pipe_to_shell: 'INJECTION',
  shell_exec: 'INJECTION',
  reverse_shell: 'INJECTION',
  destructive_rm: 'INJECTION',
  ssh_key_inject: 'INJECTION',
};

const ALL_IDS: Record<string, string> = {
  ai_api_key: 'critical',
  aws_access_key: 'high',
  aws_secret_key: 'critical',
  github_token: 'critical',
  gitlab_token: 'critical',
  slack_token: 'high',
  stripe_key: 'critical',
  google_api_key: 'high',
  huggingface_token: 'high',
  npm_token: 'high',
  private_key_pem: 'critical',
  ssh_key_file: 'high',
  unix_sensitive: 'high',
  dotenv_file: 'high',
  ssh_pubkey: 'low',
  jwt_credential: 'medium',
  pipe_to_shell: 'critical',
  shell_exec: 'high',
  reverse_shell: 'critical',
  destructive_rm: 'critical',
  ssh_key_inject: 'critical',
  prompt_override: 'high',
  fake_authority_block: 'medium',
  hidden_html_instruction: 'medium',
  unicode_tag_smuggling: 'high',
  markdown_image_exfil: 'high',
  install_script_pipe: 'low',
  generic_secret: 'medium',
  bearer_jwt_third_party: 'medium',
  database_url_password: 'critical',
  url_credentials: 'high',
};

function expansions(template: string): { text: string; randomParts: string[] }[] {
  const n = template.includes('{{rand:') ? REPEAT : 1;
  return Array.from({ length: n }, () => {
    const e = expandExample(template);
    return { text: latin1(e.text), randomParts: e.randomParts };
  });
}

function describeHits(text: string, hits: RuleHit[]): string {
  return hits.map((h) => JSON.stringify(text.slice(h.start, h.end))).join(', ');
}

/**
 * Each hit's matched text, or the 64 characters before it (rules anchored on an operator check the key
 * name there), contains one of the rule's keywords: the prefilter can never hide a match.
 */
function expectKeywordsInHits(rule: Rule, text: string, hits: RuleHit[]): void {
  for (const h of hits) {
    const matched = text.slice(Math.max(0, h.start - 64), h.end).toLowerCase();
    expect(
      rule.keywords.some((k) => matched.includes(k)),
      `${rule.id}: match ${JSON.stringify(matched)} contains no keyword`,
    ).toBe(true);
  }
}

describe('rule catalogue', () => {
  it('has unique ids and RULE_IDS lists them in order', () => {
    expect(new Set(RULE_IDS).size).toBe(RULE_IDS.length);
    expect(RULE_IDS).toEqual(ALL_RULES.map((r) => r.id));
  });

  it('contains every required rule with its threat type and severity', () => {
    for (const [id, severity] of Object.entries(ALL_IDS)) {
      const rule = ALL_RULES.find((r) => r.id === id);
      expect(rule, id).toBeDefined();
      expect(rule?.severity, id).toBe(severity);
    }
    for (const [id, threat] of Object.entries(SEEDS)) {
      expect(ALL_RULES.find((r) => r.id === id)?.threat_type, id).toBe(threat);
    }
  });

  it('gives every rule a global pattern, lowercase keywords, a direction matching its threat type', () => {
    for (const r of ALL_RULES) {
      expect(r.pattern.global, r.id).toBe(true);
      expect(r.keywords.length, r.id).toBeGreaterThan(0);
      for (const k of r.keywords) expect(k, r.id).toBe(k.toLowerCase());
      expect(r.directions, r.id).toEqual(r.threat_type === 'EXFIL' ? ['outbound'] : ['inbound']);
      expect(r.description.length, r.id).toBeGreaterThan(0);
      expect(r.id.length, r.id).toBeLessThanOrEqual(64);
    }
  });

  it('gives every rule at least one positive and one negative example', () => {
    for (const r of ALL_RULES) {
      expect(r.examples.positive.length, r.id).toBeGreaterThan(0);
      expect(r.examples.negative.length, r.id).toBeGreaterThan(0);
    }
  });

  it('gives every EXFIL rule with an issuer an issuer example', () => {
    for (const r of ALL_RULES) {
      if (r.issuerHosts) expect(r.examples.issuer?.length ?? 0, r.id).toBeGreaterThan(0);
    }
  });

  it('selects rules by direction and honours disabled ids', () => {
    const out = rulesFor('outbound');
    const inb = rulesFor('inbound');
    expect(out.every((r) => r.threat_type === 'EXFIL')).toBe(true);
    expect(inb.every((r) => r.threat_type === 'INJECTION')).toBe(true);
    expect(out.length + inb.length).toBe(ALL_RULES.length);
    const without = rulesFor('outbound', ['ai_api_key', 'pipe_to_shell', 'no_such_rule']);
    expect(without.map((r) => r.id)).not.toContain('ai_api_key');
    expect(without.length).toBe(out.length - 1);
  });

  it('keeps the tag-character keyword stable under lowercasing of a latin1 view', () => {
    const view = latin1('x\u{E0041}\u{E0042}\u{E0043}y');
    expect(view).toContain('\xF3\xA0\x81\x81');
    expect(view.toLowerCase()).toContain('\xf3\xa0');
    const rule = ALL_RULES.find((r) => r.id === 'unicode_tag_smuggling');
    expect(rule && keywordsPresent(rule, view.toLowerCase())).toBe(true);
  });
});

describe('false-positive helpers', () => {
  it('recognises placeholders', () => {
    for (const p of [
      '${TOKEN}',
      '<your-api-key>',
      '{{ api_key }}',
      'xxxxxxxxxxxx',
      'your_key_here',
      'REDACTED',
      'aaaaaaaaaaaa',
      '****',
    ]) {
      expect(isPlaceholder(p), p).toBe(true);
    }
    expect(isPlaceholder('q8Z2vR7tLm3XwP0s')).toBe(false);
  });

  it('measures entropy and rejects documentation examples', () => {
    expect(shannonEntropy('')).toBe(0);
    expect(shannonEntropy('aaaa')).toBe(0);
    expect(shannonEntropy('abcd')).toBeCloseTo(2);
    expect(looksLikeRealSecret('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY')).toBe(false);
    expect(looksLikeRealSecret('AKIAIOSFODNN7EXAMPLE')).toBe(false);
    // 24 random characters CI drew with 3.40 bits each: a rule's 3.5 gives way to what random keys
    // of that length reach; a short word does not get the same allowance.
    expect(shannonEntropy('z0hzKynuz0HrdyddVyzdnwjz')).toBeLessThan(3.5);
    expect(looksLikeRealSecret('z0hzKynuz0HrdyddVyzdnwjz', 3.5)).toBe(true);
    expect(looksLikeRealSecret('qwerty', 3)).toBe(false);
    // Under 20 characters a rule's own threshold stands (a 13-character `mydockertoken` has 3.24 bits).
    expect(looksLikeRealSecret('mydockertoken', 3.5)).toBe(false);
    expect(looksLikeRealSecret('abcabcabcabcabcabcabcabc', 3.5)).toBe(false);
  });

  it('tells a default built from a word from a random password that starts like one', () => {
    for (const p of [
      'password123',
      'mypass',
      'MyPass',
      'DB_PROD',
      'dbpass1',
      'secret-key',
      'TestUser',
      'MyPassWord',
      'MySQLPass',
      'dbPassWord',
      'myDbPass',
      'MySecretKey',
      'SecretKeyBase',
    ]) {
      expect(looksLikePassword(p), p).toBe(false);
    }
    // A random password that happens to begin with `db` or `my` (CI drew the first): still a password.
    for (const p of ['DBIjSwWtBlxI', 'myQz8TvLkPw', 'PassXqRtWvZy', 'db4f9a1c0e7b', 'my8x3kq9z2ab', 'MYRIXakRifNqHv']) {
      expect(looksLikePassword(p), p).toBe(true);
    }
  });
});

describe.each(ALL_RULES.map((r) => [r.id, r] as const))('rule %s', (_id, rule) => {
  it('detects every positive example (prefilter included)', () => {
    for (const template of rule.examples.positive) {
      for (const { text } of expansions(template)) {
        expect(keywordsPresent(rule, text.toLowerCase()), `${rule.id} keywords: ${JSON.stringify(text)}`).toBe(true);
        const hits = findRuleHits(rule, text);
        expect(hits.length, `${rule.id} should match ${JSON.stringify(text)}`).toBeGreaterThan(0);
        expectKeywordsInHits(rule, text, hits);
      }
    }
  });

  it('stays silent on every negative example', () => {
    for (const template of rule.examples.negative) {
      for (const { text } of expansions(template)) {
        const hits = findRuleHits(rule, text);
        expect(hits, `${rule.id} should not match ${JSON.stringify(text)}: ${describeHits(text, hits)}`).toEqual([]);
      }
    }
  });

  it('stays silent when a credential goes to its issuer', () => {
    for (const { host, text: template } of rule.examples.issuer ?? []) {
      for (const { text } of expansions(template)) {
        expect(findRuleHits(rule, text).length, `${rule.id} without host: ${JSON.stringify(text)}`).toBeGreaterThan(0);
        expect(findRuleHits(rule, text, host), `${rule.id} to ${host}`).toEqual([]);
        expect(findRuleHits(rule, text, 'evil.example.net').length, `${rule.id} to another host`).toBeGreaterThan(0);
      }
    }
  });

  if (rule.threat_type === 'EXFIL') {
    it('puts every random part of a positive example inside a secret span', () => {
      for (const template of rule.examples.positive) {
        for (const { text, randomParts } of expansions(template)) {
          const hits = findRuleHits(rule, text);
          for (const part of randomParts) {
            const covered = occurrences(text, part).some((at) =>
              hits.some((h) => h.secretStart <= at && at + part.length <= h.secretEnd),
            );
            expect(covered, `${rule.id}: random part ${part} not inside a secret in ${JSON.stringify(text)}`).toBe(
              true,
            );
          }
        }
      }
    });

    if (rule.publicPrefix) {
      it('keeps only a short non-random public prefix', () => {
        for (const template of rule.examples.positive) {
          for (const { text } of expansions(template)) {
            for (const h of findRuleHits(rule, text)) {
              const secret = text.slice(h.secretStart, h.secretEnd);
              const prefix = rule.publicPrefix?.(secret) ?? '';
              expect(secret.startsWith(prefix), rule.id).toBe(true);
              expect(prefix.length, rule.id).toBeLessThanOrEqual(16);
              expect(secret.length - prefix.length, rule.id).toBeGreaterThanOrEqual(16);
            }
          }
        }
      });
    }
  }

  it('finds a positive example again when it is embedded in surrounding JSON text', () => {
    for (const template of rule.examples.positive) {
      const { text } = expansions(template)[0] ?? { text: '' };
      const wrapped = `{"padding":"${'lorem ipsum '.repeat(20)}"}\n${text}\n{"more":"${'dolor sit amet '.repeat(20)}"}`;
      expect(findRuleHits(rule, wrapped).length, `${rule.id} in context: ${JSON.stringify(text)}`).toBeGreaterThan(0);
    }
  });
});

function occurrences(text: string, part: string): number[] {
  const out: number[] = [];
  for (let i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + 1)) out.push(i);
  return out;
}

describe('pathological inputs', () => {
  // Not a benchmark: a generous bound that only catastrophic backtracking would exceed.
  const inputs: [string, string][] = [
    ['letters', 'a'.repeat(65536)],
    ['upper', 'A'.repeat(65536)],
    ['base64ish', 'Ab1+/'.repeat(13107)],
    ['dashes', '-'.repeat(65536)],
    ['comment opens', '<!--'.repeat(16384)],
    ['comment dashes', '<!-- ' + '- '.repeat(32000)],
    ['curl no pipe', 'curl '.repeat(13107)],
    ['rm flags', 'rm -rf -rf '.repeat(6000)],
    ['newline keys', '\nAPI_KEY'.repeat(8192)],
    ['passwd-ish', 'a:x:1:1:'.repeat(8192)],
    ['tags', latin1('\u{E0041}'.repeat(16384))],
    ['image', '![x](http://a/?'.repeat(4096)],
    ['ignore', 'ignore all of the '.repeat(3600)],
    ['socket', 'import socket; s.connect(('.repeat(2500)],
    ['pem', '-----BEGIN PRIVATE KEY-----\n'.repeat(2300)],
    ['backslashes', '\\n\\n\\"'.repeat(10000)],
  ];
  it.each(inputs)('all rules finish quickly on %s', (_name, text) => {
    const t0 = performance.now();
    for (const rule of ALL_RULES) findRuleHits(rule, text);
    expect(performance.now() - t0).toBeLessThan(5000);
  });
});
