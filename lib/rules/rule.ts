// The shape of a detection rule. Rules are data plus small pure functions so the scanner can run
// them on any decoded view of a message, and tests can run each rule's own examples.
import type { Direction, Severity, ThreatType } from '../finding-schema.js';

/** `next(from)`: the first position >= `from` where a match may start, or -1 when there is none. */
export type LocateCursor = (from: number) => number;

/**
 * Example texts a test expands and runs. A `{{rand:CHARSET:LEN}}` token is replaced at test time by
 * LEN random characters from CHARSET, so no real-looking key is ever committed. Charsets:
 * alnum, upper, lower, digits, hex, b64 (A-Za-z0-9+/), b64url (A-Za-z0-9_-), b32 (A-Z2-7).
 * The random characters are what the redaction property test checks never leak.
 */
export interface RuleExamples {
  /** Each must give at least one detection of this rule (in one of the rule's directions). */
  readonly positive: readonly string[];
  /** Each must give no detection of this rule. */
  readonly negative: readonly string[];
  /** Texts that would match but are sent to their issuer, so must stay silent there. */
  readonly issuer?: readonly { readonly host: string; readonly text: string }[];
}

export interface Rule {
  /** Stable rule id, written as `pattern` in findings (e.g. `ai_api_key`). */
  readonly id: string;
  readonly threat_type: ThreatType;
  /** EXFIL rules watch outbound traffic, INJECTION rules inbound. */
  readonly directions: readonly Direction[];
  readonly severity: Severity;
  /** One line an operator reads in a finding. */
  readonly description: string;
  /**
   * Lowercase literals; the pattern only runs on a view whose lowercased text contains at least one.
   * Every possible match, or the 64 characters before it where `accept` checks a key name there, must
   * contain one of them (this is the prefilter that keeps scanning fast).
   */
  readonly keywords: readonly string[];
  /**
   * Global (`g`) regex run on a latin1 view of the bytes (one char per byte). For EXFIL rules the named
   * group `secret` marks the sensitive part to redact and fingerprint (`secret2`, `secret3`, ... in
   * further alternatives: Node 20 regexes cannot repeat a group name); without one the whole match is.
   */
  readonly pattern: RegExp;
  /**
   * Optional fast path for a pattern that would otherwise be tried at every byte of a view (an
   * operator-anchored or alternation-led regex on text full of keywords). Given the text, returns a
   * cursor: `next(from)` is the first position >= `from` where a match may start, or -1. The pattern
   * then runs sticky at those positions only, so the hits are exactly those of the plain global scan
   * as long as the cursor never skips a position where a match starts (test/rule-locate.test.ts
   * compares both on every example, mutated). Calls come with increasing `from`.
   */
  readonly locate?: (text: string) => LocateCursor;
  /**
   * Every match of `pattern` starts at most this many characters before the start of one of
   * `keywords` (found case-insensitively; 0: at a keyword). The scanner then tries the pattern only
   * at those positions, which the keyword prefilter logs as it walks a view, instead of over the
   * whole view (`locate` is then not used). test/rule-keyword-start.test.ts checks every rule that
   * sets it against the plain global scan.
   */
  readonly startsBeforeKeyword?: number;
  /**
   * For a rule whose match starts a short walk after one of its keywords (an operator after a
   * secret-named key): given the latin1 view and the end (exclusive) of a keyword found there, the one
   * position where a match may start, or -1. The scanner tries the pattern only at those positions,
   * found from the keyword prefilter's log with no string made, instead of over the whole view. This
   * narrows what the rule reports to what it declares: a match that no keyword leads to is not
   * reported. test/rule-locate.test.ts checks the scanner's hits against the plain global scan's.
   */
  readonly startAfterKeyword?: (view: Uint8Array, keywordEnd: number) => number;
  /** Public, non-random format prefix a redacted snippet may keep (`sk-ant-api03-`, `ghp_`, `AKIA`). */
  readonly publicPrefix?: (secret: string) => string;
  /** Drops false positives (documentation examples, placeholders, low-entropy values). */
  readonly accept?: (match: RegExpExecArray, secret: string) => boolean;
  /** Hosts that issued this credential: sending it there is normal use. `*.example.com` matches subdomains. */
  readonly issuerHosts?: (secret: string) => readonly string[];
  /**
   * A catch-all rule (the generic secret-named key): the scanner drops its hit where a specific rule
   * found a secret overlapping the same span in the same view, so one secret gives one finding.
   */
  readonly fallback?: boolean;
  readonly examples: RuleExamples;
}
