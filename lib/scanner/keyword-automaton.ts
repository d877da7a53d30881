// The keyword prefilter: one pass over a view tells which rules have any of their keywords in it.
// An Aho-Corasick automaton compiled to a flat DFA over byte classes (case folded in the class
// map), so the cost is one table lookup per byte however many keywords the rules declare. A loop of
// `includes` calls, one per keyword, was about 9x slower here (see bench/scan-bench.ts).
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
  return { cls, delta: pre, out: outAt, all };
}

function runDfa(d: Dfa, text: string): number {
  const { cls, delta, out, all } = d;
  let st = 0;
  let mask = 0;
  for (let i = 0, n = text.length; i < n; i++) {
    st = delta[st + cls[text.charCodeAt(i) & 255]!]!;
    if (st < 0) {
      st = ~st;
      mask |= out[st]!;
      if (mask === all) break;
    }
  }
  return mask;
}

export class KeywordPrefilter {
  private readonly groups: { rules: readonly Rule[]; dfa: Dfa }[] = [];

  constructor(rules: readonly Rule[]) {
    for (let i = 0; i < rules.length; i += RULES_PER_GROUP) {
      const part = rules.slice(i, i + RULES_PER_GROUP);
      this.groups.push({ rules: part, dfa: buildDfa(part.map((r) => r.keywords)) });
    }
  }

  /** Rules with at least one keyword (case-insensitively) in `text`, in rule order. */
  candidates(text: string): Rule[] {
    const out: Rule[] = [];
    for (const g of this.groups) {
      const mask = runDfa(g.dfa, text);
      if (mask === 0) continue;
      for (let i = 0; i < g.rules.length; i++) if (mask & (1 << i)) out.push(g.rules[i]!);
    }
    return out;
  }
}
