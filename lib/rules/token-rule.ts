// Builds EXFIL rules for credentials with a recognisable format from a short spec, so each provider
// is a few lines: keywords, a pattern with a `secret` group, the public prefixes, the issuing hosts and
// the examples. The common false-positive filters (placeholders, documentation examples, low entropy,
// a token character right before the match) are applied here once.
import type { Severity } from '../finding-schema.js';
import { looksLikeRealSecret } from './false-positive.js';
import type { Rule, RuleExamples } from './rule.js';

export const OUT = ['outbound'] as const;

/** True when `text[i]` is a base64url/token character (so a match there would not start a token). */
export function isTokenChar(text: string, i: number): boolean {
  if (i < 0) return false;
  const c = text.charCodeAt(i);
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 /* _ */ || c === 45; /* - */
}

/** The longest listed prefix `secret` starts with, else ''. */
export function prefixOf(prefixes: readonly string[]): (secret: string) => string {
  return (secret) => {
    let best = '';
    for (const p of prefixes) if (secret.startsWith(p) && p.length > best.length) best = p;
    return best;
  };
}

export interface TokenSpec {
  id: string;
  description: string;
  severity: Severity;
  keywords: readonly string[];
  /** Global regex with a `secret` group (or the whole match is the secret). */
  pattern: RegExp;
  /** Fixed, public format prefixes of the secret (kept in snippets, excluded from the entropy test). */
  prefixes?: readonly string[];
  /** Bits per character the random part must reach (default 3). */
  minEntropy?: number;
  /** Require that no token character precedes the match (default true; off for context-anchored patterns). */
  boundary?: boolean;
  /** Extra check on the match (context, structure). */
  check?: (m: RegExpExecArray, secret: string) => boolean;
  /** Hosts that issued the credential (sending it there is normal use). */
  issuers?: readonly string[] | ((secret: string) => readonly string[]);
  /** Reported only where no specific rule found a secret in the same place (see Rule.fallback). */
  fallback?: boolean;
  /** Where a match may start (see Rule.locate), for patterns V8 cannot skip through quickly. */
  locate?: Rule['locate'];
  /** See Rule.startsBeforeKeyword. */
  startsBeforeKeyword?: number;
  examples: RuleExamples;
}

export function tokenRule(spec: TokenSpec): Rule {
  const prefix = spec.prefixes ? prefixOf(spec.prefixes) : () => '';
  const minEntropy = spec.minEntropy ?? 3;
  const boundary = spec.boundary ?? true;
  const issuers = spec.issuers;
  return {
    id: spec.id,
    threat_type: 'EXFIL',
    directions: OUT,
    severity: spec.severity,
    description: spec.description,
    keywords: spec.keywords,
    pattern: spec.pattern,
    ...(spec.prefixes ? { publicPrefix: prefix } : {}),
    accept: (m, secret) =>
      (!boundary || !isTokenChar(m.input, m.index - 1)) &&
      looksLikeRealSecret(secret.slice(prefix(secret).length), minEntropy) &&
      (spec.check?.(m, secret) ?? true),
    ...(issuers ? { issuerHosts: typeof issuers === 'function' ? issuers : () => issuers } : {}),
    ...(spec.fallback ? { fallback: true } : {}),
    ...(spec.locate ? { locate: spec.locate } : {}),
    ...(spec.startsBeforeKeyword !== undefined ? { startsBeforeKeyword: spec.startsBeforeKeyword } : {}),
    examples: spec.examples,
  };
}
