// The keyword prefilter: one pass over a view tells which rules have any of their keywords in it.
// An Aho-Corasick automaton compiled to a flat DFA over byte classes (case folded in the class
// map), so the cost is one table lookup per byte however many keywords the rules declare. A loop of
// `includes` calls, one per keyword, was about 9x slower here (see bench/scan-bench.ts). It runs over
// bytes: the same loop over a (sliced) string's charCodeAt was about 2x slower.
import type { Rule } from '../rules/rule.js';

/** Rules per automaton: one bit each in a 32-bit mask (one bit kept clear for sign safety). */
const RULES_PER_GROUP = 31;

interface Dfa {
  /** Byte -> character class (0 = a byte no keyword contains). */
  cls: Uint8Array;
  /** Next state, pre-multiplied by the class count: `delta[state + cls]`. */
  delta: Int32Array;
  /** Rule mask completed at a state (indexed like `delta`, at the state's base). */
  out: Int32Array;
  all: number;
  /** Longest keyword: a lane reads this many bytes minus one past its end, so no keyword straddles lanes unseen. */
  maxLen: number;
}

function buildDfa(groups: readonly (readonly string[])[]): Dfa {
  const cls = new Uint8Array(256);
  let nc = 1;
  for (const ks of groups) {
    for (const k of ks) {
      for (const ch of k) {
        const lo = ch.toLowerCase().charCodeAt(0);
        const up = ch.toUpperCase().charCodeAt(0);
        if (lo > 255 || cls[lo]) continue;
        cls[lo] = nc;
        if (up < 256) cls[up] = nc;
        nc++;
      }
    }
  }
  // Trie.
  const go: Map<number, number>[] = [new Map()];
  const out: number[] = [0];
  groups.forEach((ks, ri) => {
    for (const k of ks) {
      let s = 0;
      for (const ch of k) {
        const c = cls[ch.toLowerCase().charCodeAt(0) & 255]!;
        let t = go[s]!.get(c);
        if (t === undefined) {
          t = go.length;
          go.push(new Map());
          out.push(0);
          go[s]!.set(c, t);
        }
        s = t;
      }
      out[s]! |= 1 << ri;
    }
  });
  // Failure links, breadth first, folded into a full transition table.
  const n = go.length;
  const delta = new Int32Array(n * nc);
  const fail = new Int32Array(n);
  const queue: number[] = [];
  for (let c = 0; c < nc; c++) {
    const t = go[0]!.get(c);
    if (t !== undefined) {
      delta[c] = t;
      queue.push(t);
    }
  }
  for (let qi = 0; qi < queue.length; qi++) {
    const s = queue[qi]!;
    out[s]! |= out[fail[s]!]!;
    for (let c = 0; c < nc; c++) {
      const t = go[s]!.get(c);
      if (t !== undefined) {
        fail[t] = delta[fail[s]! * nc + c]!;
        delta[s * nc + c] = t;
        queue.push(t);
      } else {
        delta[s * nc + c] = delta[fail[s]! * nc + c]!;
      }
    }
  }
  // Transitions hold the next state's base index (state * nc); a state that completes a keyword is
  // stored negated (~base) so the hot loop only looks at outputs when one was reached.
  const pre = new Int32Array(n * nc);
  const outAt = new Int32Array(n * nc);
  for (let i = 0; i < n * nc; i++) {
    const t = delta[i]!;
    pre[i] = out[t] !== 0 ? ~(t * nc) : t * nc;
  }
  for (let s = 0; s < n; s++) outAt[s * nc] = out[s]!;
  const all = groups.length === 32 ? -1 : (1 << groups.length) - 1;
  const maxLen = Math.max(1, ...groups.flatMap((ks) => ks.map((k) => k.length)));
  return { cls, delta: pre, out: outAt, all, maxLen };
}

/**
 * Walks bytes [from, to) from state `st` (a base index; 0 for the start) and returns the rule mask of the
 * keywords completed on the way, stopping early once every rule has one.
 */
function walkDfa(d: Dfa, bytes: Uint8Array, st: number, from: number, to: number): number {
  const { cls, delta, out, all } = d;
  let mask = 0;
  for (let i = from; i < to; i++) {
    st = delta[st + cls[bytes[i]!]!]!;
    if (st < 0) {
      st = ~st;
      mask |= out[st]!;
      if (mask === all) break;
    }
  }
  return mask;
}

/** Below this many bytes a view is walked in one lane. */
const LANES_FROM = 1024;

/**
 * Runs the automaton over eight slices of the view at once. One walk is bound by the latency of its
 * table lookups (each state depends on the previous one); independent walks keep the CPU busy: four
 * lanes ran 2.2x faster than one here, eight another 1.4x. Each lane starts at state 0 and reads
 * `maxLen - 1` bytes into the next slice, so a keyword that crosses a boundary is still whole in the
 * lane it starts in.
 */
function runDfaLanes(d: Dfa, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n < LANES_FROM || d.maxLen * 16 > n) return walkDfa(d, bytes, 0, 0, n);
  const { cls, delta, out, all } = d;
  const q = n >> 3;
  const o1 = q;
  const o2 = 2 * q;
  const o3 = 3 * q;
  const o4 = 4 * q;
  const o5 = 5 * q;
  const o6 = 6 * q;
  const o7 = 7 * q;
  // Lanes 0-6 read q + maxLen - 1 bytes; lane 7 reads to the end (n - o7 >= q).
  const laneEnd = q + d.maxLen - 1;
  const len = Math.min(laneEnd, n - o7);
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let s4 = 0;
  let s5 = 0;
  let s6 = 0;
  let s7 = 0;
  let mask = 0;
  for (let k = 0; k < len; k++) {
    s0 = delta[s0 + cls[bytes[k]!]!]!;
    s1 = delta[s1 + cls[bytes[o1 + k]!]!]!;
    s2 = delta[s2 + cls[bytes[o2 + k]!]!]!;
    s3 = delta[s3 + cls[bytes[o3 + k]!]!]!;
    s4 = delta[s4 + cls[bytes[o4 + k]!]!]!;
    s5 = delta[s5 + cls[bytes[o5 + k]!]!]!;
    s6 = delta[s6 + cls[bytes[o6 + k]!]!]!;
    s7 = delta[s7 + cls[bytes[o7 + k]!]!]!;
    if ((s0 | s1 | s2 | s3 | s4 | s5 | s6 | s7) < 0) {
      if (s0 < 0) mask |= out[(s0 = ~s0)]!;
      if (s1 < 0) mask |= out[(s1 = ~s1)]!;
      if (s2 < 0) mask |= out[(s2 = ~s2)]!;
      if (s3 < 0) mask |= out[(s3 = ~s3)]!;
      if (s4 < 0) mask |= out[(s4 = ~s4)]!;
      if (s5 < 0) mask |= out[(s5 = ~s5)]!;
      if (s6 < 0) mask |= out[(s6 = ~s6)]!;
      if (s7 < 0) mask |= out[(s7 = ~s7)]!;
      if (mask === all) return mask;
    }
  }
  // What is left: lanes 0-6 up to their overlap end (when lane 7 was the shorter), lane 7 to the end.
  const states = [s0, s1, s2, s3, s4, s5, s6];
  if (len < laneEnd) {
    for (let j = 0; j < 7; j++) mask |= walkDfa(d, bytes, states[j]!, j * q + len, j * q + laneEnd);
  }
  return mask | walkDfa(d, bytes, s7, o7 + len, n);
}

const NO_RULES: readonly Rule[] = Object.freeze([]);

export class KeywordPrefilter {
  private readonly groups: { rules: readonly Rule[]; dfa: Dfa }[] = [];

  constructor(rules: readonly Rule[]) {
    for (let i = 0; i < rules.length; i += RULES_PER_GROUP) {
      const part = rules.slice(i, i + RULES_PER_GROUP);
      this.groups.push({ rules: part, dfa: buildDfa(part.map((r) => r.keywords)) });
    }
  }

  /** Rules with at least one keyword (case-insensitively) in the latin1 `bytes`, in rule order. */
  candidates(bytes: Uint8Array): readonly Rule[] {
    // Most views match no keyword: no array is made for them.
    let out: Rule[] | null = null;
    for (const g of this.groups) {
      const mask = runDfaLanes(g.dfa, bytes);
      if (mask === 0) continue;
      out ??= [];
      for (let i = 0; i < g.rules.length; i++) if (mask & (1 << i)) out.push(g.rules[i]!);
    }
    return out ?? NO_RULES;
  }
}
