// Runs one rule over one text view. Shared by the streaming scanner and the rule tests, so the
// examples are checked by exactly the code that scans traffic.
import { hostMatches } from '../host-match.js';
import type { Rule } from './rule.js';

export interface RuleHit {
  /** Whole match, as offsets into the text. */
  readonly start: number;
  readonly end: number;
  /** The sensitive part (group `secret`, else the whole match). */
  readonly secretStart: number;
  readonly secretEnd: number;
}

/** True when the prefilter allows the rule to run on a text whose lowercase form is `lower`. */
export function keywordsPresent(rule: Rule, lower: string): boolean {
  for (const k of rule.keywords) if (lower.includes(k)) return true;
  return false;
}

/**
 * The sensitive part of a match: group `secret`, or for patterns with several alternatives (a regex
 * may not repeat a group name on Node 20) the first of `secret2`, `secret3`, ... that took part.
 */
export function secretGroup(m: RegExpExecArray): string | undefined {
  const g = m.groups;
  if (!g) return undefined;
  if (g.secret !== undefined) return g.secret;
  for (let i = 2; i <= 4; i++) {
    const s = g[`secret${i}`];
    if (s !== undefined) return s;
  }
  return undefined;
}

function secretIndices(groups: Record<string, [number, number] | undefined>): [number, number] | undefined {
  if (groups.secret) return groups.secret;
  for (let i = 2; i <= 4; i++) {
    const g = groups[`secret${i}`];
    if (g) return g;
  }
  return undefined;
}

/** A sticky twin of each located rule's pattern, made once: it matches only at `lastIndex`. */
const stickies = new WeakMap<RegExp, RegExp>();
function stickyOf(re: RegExp): RegExp {
  let s = stickies.get(re);
  if (!s) {
    s = new RegExp(re.source, `${re.flags}y`);
    stickies.set(re, s);
  }
  return s;
}

/** Cursor over sorted positions (calls come with increasing `from`). */
function atPositions(starts: readonly number[]): (from: number) => number {
  let i = 0;
  return (from) => {
    while (i < starts.length && starts[i]! < from) i++;
    return i < starts.length ? starts[i]! : -1;
  };
}

/**
 * For a rule with `startAfterKeyword`: the sorted, distinct positions of `view` where its match may
 * start, from the ends (exclusive, any order) of its keywords found there; null when `keywordEnds` is
 * (the keyword log overflowed: the rule then runs over the whole view).
 */
export function startsAfterKeywords(
  rule: Rule,
  view: Uint8Array,
  keywordEnds: ArrayLike<number> | null,
): readonly number[] | null {
  const after = rule.startAfterKeyword;
  if (after === undefined || keywordEnds === null) return null;
  const out: number[] = [];
  for (let i = 0; i < keywordEnds.length; i++) {
    const p = after(view, keywordEnds[i]!);
    if (p >= 0) out.push(p);
  }
  if (out.length < 2) return out;
  // Few: most keywords (in prose, `max_tokens`) lead to no operator.
  out.sort((x, y) => x - y);
  let w = 1;
  for (let i = 1; i < out.length; i++) if (out[i] !== out[w - 1]) out[w++] = out[i]!;
  out.length = w;
  return out;
}

/**
 * All accepted hits of `rule` in `text`. `destHost`, when given, silences credentials sent to their issuer.
 * Matching is bounded: a zero-length match advances, and at most `maxHits` are returned. `starts`, for
 * a rule with `startsBeforeKeyword` or `startAfterKeyword`, are the sorted positions where a match may
 * start (from the keywords found in `text`: `KeywordPrefilter.starts`, `startsAfterKeywords`): the
 * pattern is tried there only.
 */
export function findRuleHits(
  rule: Rule,
  text: string,
  destHost?: string,
  maxHits = 64,
  starts?: readonly number[] | null,
): RuleHit[] {
  const hits: RuleHit[] = [];
  const next = starts ? atPositions(starts) : rule.locate?.(text);
  const re = next ? stickyOf(rule.pattern) : rule.pattern;
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (hits.length < maxHits) {
    if (next) {
      // Same walk as the global scan below, but the regex is only tried where the cursor says a match
      // may start: after a match at its end, after a miss or an empty match one past the position.
      const pos = next(re.lastIndex);
      if (pos < 0) break;
      re.lastIndex = pos;
      m = re.exec(text);
      if (m === null) {
        re.lastIndex = pos + 1;
        continue;
      }
    } else if ((m = re.exec(text)) === null) {
      break;
    }
    if (m[0].length === 0) {
      re.lastIndex = m.index + 1;
      continue;
    }
    const secret = secretGroup(m);
    let start = m.index;
    let end = m.index + m[0].length;
    let secretStart = start;
    let secretEnd = end;
    const at = m.indices?.groups && secret !== undefined ? secretIndices(m.indices.groups) : undefined;
    if (at) {
      // A pattern with the `d` flag may hold its secret in a lookbehind (matched at a rarer literal
      // after it, such as the `@` of `user:pass@host`): the hit spans both.
      [secretStart, secretEnd] = at;
      start = Math.min(start, secretStart);
      end = Math.max(end, secretEnd);
    } else if (secret !== undefined) {
      // Locate the group inside the match (indices flag is not required of rule authors).
      const rel = m[0].lastIndexOf(secret);
      secretStart = m.index + Math.max(0, rel);
      secretEnd = secretStart + secret.length;
    }
    const secretText = text.slice(secretStart, secretEnd);
    if (rule.accept && !rule.accept(m, secretText)) continue;
    if (destHost && rule.issuerHosts && hostMatches(destHost, rule.issuerHosts(secretText))) continue;
    hits.push({ start, end, secretStart, secretEnd });
  }
  re.lastIndex = 0;
  return hits;
}
