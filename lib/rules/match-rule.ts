// Runs one rule over one text view. Shared by the streaming scanner and the rule tests, so the
// examples are checked by exactly the code that scans traffic.
import { hostMatches } from '../host-match.js';
import type { LocateCursor, Rule } from './rule.js';

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
 * Cursor over the positions `inner` names (every position without one) that lie in a window
 * `[k, k + width]` after one of the sorted keyword starts `ks`. Overlapping windows are asked as one,
 * and `inner` is told where the window ends, so its look back runs at the few operators near a
 * keyword, not at every one in the view.
 */
function withinWindows(ks: ArrayLike<number>, width: number, inner: LocateCursor | undefined): LocateCursor {
  let i = 0;
  return (from) => {
    for (;;) {
      while (i < ks.length && ks[i]! + width < from) i++;
      if (i === ks.length) return -1;
      const lo = Math.max(from, ks[i]!);
      let hi = ks[i]! + width;
      let j = i + 1;
      while (j < ks.length && ks[j]! <= hi) hi = ks[j++]! + width;
      const p = inner ? inner(lo, hi) : lo;
      if (p >= lo && p <= hi) return p;
      if (j === ks.length) return -1;
      i = j;
      from = ks[j]!;
    }
  };
}

/**
 * All accepted hits of `rule` in `text`. `destHost`, when given, silences credentials sent to their issuer.
 * Matching is bounded: a zero-length match advances, and at most `maxHits` are returned. `starts`, for
 * a rule with `startsBeforeKeyword`, are the sorted positions where a match may start (from the
 * keywords found in `text`): the pattern is tried there only. `keywordStarts`, for a rule with
 * `startsAfterKeyword`, are the sorted starts of its keywords in `text`: only matches starting within
 * that many characters after one are looked for.
 */
export function findRuleHits(
  rule: Rule,
  text: string,
  destHost?: string,
  maxHits = 64,
  starts?: readonly number[] | null,
  keywordStarts?: ArrayLike<number> | null,
): RuleHit[] {
  const hits: RuleHit[] = [];
  const next = starts
    ? atPositions(starts)
    : keywordStarts && rule.startsAfterKeyword !== undefined
      ? withinWindows(keywordStarts, rule.startsAfterKeyword, rule.locate?.(text))
      : rule.locate?.(text);
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
