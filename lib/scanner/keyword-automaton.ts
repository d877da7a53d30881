// The keyword prefilter: one pass over a view tells which rules have any of their keywords in it.
// An Aho-Corasick automaton compiled to a flat DFA over byte classes (case folded in the class
// map), so the cost is one table lookup per byte however many keywords the rules declare. A loop of
// `includes` calls, one per keyword, was about 9x slower here (see bench/scan-bench.ts). It runs over
// bytes: the same loop over a (sliced) string's charCodeAt was about 2x slower. The walk itself runs
// in WebAssembly (./wasm/dfa-walk.ts: 2.5-3x the JavaScript walk's speed).
import type { Rule } from '../rules/rule.js';
import { WasmDfaWalk } from './wasm/dfa-walk.js';

/** Rules per mask word: one bit each in a 32-bit word (one bit kept clear for sign safety). */
const RULES_PER_WORD = 31;

interface Dfa {
  /** Byte -> character class (0 = a byte no keyword contains). */
  cls: Uint8Array;
  /**
   * Next state, pre-multiplied by the class count: `delta[state + cls]`; negative (`~next`) when the
   * next state completes a keyword.
   */
  delta: Int32Array;
  /** Class count (a state's base is `state * nc`). */
  nc: number;
  /** Mask words per state. */
  words: number;
  /** Rule masks completed at a state: `out[(base / nc) * words + w]`. */
  out: Int32Array;
  /** Longest keyword: a lane reads this many bytes minus one past its end, so no keyword straddles lanes unseen. */
  maxLen: number;
  /** Aho-Corasick failure links (state indices): the longest proper suffix that is also a state. */
  fail: Int32Array;
  /** Each keyword's own state, with its rule's index and its length. */
  ends: { state: number; rule: number; len: number }[];
}

/**
 * One automaton over every rule's keywords, however many rules there are: the walk's cost is one
 * lookup per byte, and the rule masks (one 31-bit word per 31 rules) are only read where a keyword
 * ends. (One automaton per 31 rules made the walk, the scanner's main cost, grow with the catalogue.)
 */
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
  const words = Math.max(1, Math.ceil(groups.length / RULES_PER_WORD));
  const go: Map<number, number>[] = [new Map()];
  const out: number[][] = [new Array<number>(words).fill(0)];
  const ends: Dfa['ends'] = [];
  groups.forEach((ks, ri) => {
    for (const k of ks) {
      let s = 0;
      for (const ch of k) {
        const c = cls[ch.toLowerCase().charCodeAt(0) & 255]!;
        let t = go[s]!.get(c);
        if (t === undefined) {
          t = go.length;
          go.push(new Map());
          out.push(new Array<number>(words).fill(0));
          go[s]!.set(c, t);
        }
        s = t;
      }
      out[s]![Math.floor(ri / RULES_PER_WORD)]! |= 1 << (ri % RULES_PER_WORD);
      ends.push({ state: s, rule: ri, len: k.length });
    }
  });
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
    for (let w = 0; w < words; w++) out[s]![w]! |= out[fail[s]!]![w]!;
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
  const hasOut = (t: number) => out[t]!.some((m) => m !== 0);
  const pre = new Int32Array(n * nc);
  for (let i = 0; i < n * nc; i++) {
    const t = delta[i]!;
    pre[i] = hasOut(t) ? ~(t * nc) : t * nc;
  }
  const flat = new Int32Array(n * words);
  for (let s = 0; s < n; s++) for (let w = 0; w < words; w++) flat[s * words + w] = out[s]![w]!;
  const maxLen = Math.max(1, ...groups.flatMap((ks) => ks.map((k) => k.length)));
  return { cls, delta: pre, nc, words, out: flat, maxLen, fail, ends };
}

const NO_RULES: readonly Rule[] = Object.freeze([]);

/** Per state, the keywords of rules with `startsBeforeKeyword` that end there: (rule index, length). */
function keywordEnds(d: Dfa, rules: readonly Rule[]): Map<number, { rule: number; len: number }[]> {
  const own = new Map<number, { rule: number; len: number }[]>();
  for (const e of d.ends) {
    if (rules[e.rule]!.startsBeforeKeyword === undefined) continue;
    let list = own.get(e.state);
    if (!list) own.set(e.state, (list = []));
    list.push({ rule: e.rule, len: e.len });
  }
  const byState = new Map<number, { rule: number; len: number }[]>();
  if (own.size === 0) return byState;
  // A state's string ends with a keyword when that keyword's state is on its failure chain.
  for (let s = 1; s < d.fail.length; s++) {
    const list: { rule: number; len: number }[] = [];
    for (let t = s; t !== 0; t = d.fail[t]!) list.push(...(own.get(t) ?? []));
    if (list.length > 0) byState.set(s, list);
  }
  return byState;
}

export class KeywordPrefilter {
  private readonly wasm: WasmDfaWalk;
  private readonly index = new Map<Rule, number>();
  private readonly ends: Map<number, { rule: number; len: number }[]>;

  constructor(private readonly rules: readonly Rule[]) {
    const dfa = buildDfa(rules.map((r) => r.keywords));
    this.wasm = new WasmDfaWalk(dfa);
    rules.forEach((r, i) => this.index.set(r, i));
    this.ends = keywordEnds(dfa, rules);
  }

  /** Rules with at least one keyword (case-insensitively) in the latin1 `bytes`, in rule order. */
  candidates(bytes: Uint8Array): readonly Rule[] {
    const mask = this.wasm.run(bytes);
    let any = 0;
    for (let w = 0; w < mask.length; w++) any |= mask[w]!;
    // Most views match no keyword: no array is made for them.
    if (any === 0) return NO_RULES;
    const out: Rule[] = [];
    for (let i = 0; i < this.rules.length; i++) {
      if (mask[Math.floor(i / RULES_PER_WORD)]! & (1 << (i % RULES_PER_WORD))) out.push(this.rules[i]!);
    }
    return out;
  }

  /**
   * For a rule with `startsBeforeKeyword` among the last `candidates` call's answer: the sorted
   * positions of that view where its match may start (each of its keywords' start, and the
   * `startsBeforeKeyword` positions before it). Null when the rule has none declared or the view had
   * too many keywords to log: then the rule runs over the whole view.
   */
  starts(rule: Rule): number[] | null {
    const ri = this.index.get(rule);
    const back = rule.startsBeforeKeyword;
    if (ri === undefined || back === undefined) return null;
    const log = this.wasm.completed();
    if (log === null) return null;
    const out: number[] = [];
    for (let i = 0; i < log.count; i++) {
      const here = this.ends.get(log.state(i));
      if (here === undefined) continue;
      const end = log.at(i);
      for (const e of here) {
        if (e.rule !== ri) continue;
        const start = end - e.len + 1;
        for (let p = Math.max(0, start - back); p <= start; p++) out.push(p);
      }
    }
    out.sort((a, b) => a - b);
    // Lanes overlap, and keywords of one rule may share a start: one entry per position.
    let n = 0;
    for (let i = 0; i < out.length; i++) if (i === 0 || out[i] !== out[n - 1]) out[n++] = out[i]!;
    out.length = n;
    return out;
  }
}
