// The keyword prefilter: one pass over a view tells which rules have any of their keywords in it.
// An Aho-Corasick automaton compiled to a flat DFA over byte classes (case folded in the class
// map), so the cost is one table lookup per byte however many keywords the rules declare. A loop of
// `includes` calls, one per keyword, was about 9x slower here (see bench/scan-bench.ts). It runs over
// bytes: the same loop over a (sliced) string's charCodeAt was about 2x slower. The walk itself runs
// in WebAssembly (./wasm/dfa-walk.ts: 2.5-3x the JavaScript walk's speed) and logs where keywords end,
// so rules with `Rule.startsBeforeKeyword` run their pattern only there (on the benign JSON corpus, per
// MB: jwt_credential 0.10 -> 0.04 ms, aws_access_key 0.09 -> 0.04, square_token 0.085 -> 0.02,
// destructive_rm 0.60 -> 0.10, markdown_image_exfil 0.38 -> 0.05). A Teddy-style SIMD fingerprint
// filter was simulated first and dropped: with 237 keywords in 8 buckets, 37-49% of positions passed
// its 3-byte test outbound (exact 3-byte keyword prefixes alone occur at 2% of positions).
import type { Rule } from '../rules/rule.js';
import { WasmDfaWalk, type DfaTables } from './wasm/dfa-walk.js';

/** Rules per mask word: one bit each in a 32-bit word (one bit kept clear for sign safety). */
const RULES_PER_WORD = 31;

/** The walk's tables (see ./wasm/dfa-walk.ts for each field) plus what the keyword log needs. */
interface Dfa extends DfaTables {
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
const NO_POSITIONS: readonly number[] = Object.freeze([]);

/**
 * Per state, the keywords of rules that use keyword positions (`startsBeforeKeyword`,
 * `startAfterKeyword`) that end there, as index ranges into `rule` and `len`: state s's are
 * [first[s], first[s + 1]). The log is read as `end - len + 1`: a keyword's start, or with `len` 0
 * (rules with `startAfterKeyword`) the position right after its end.
 */
interface KeywordEnds {
  first: Int32Array;
  rule: Int32Array;
  len: Int32Array;
}

const usesKeywordStarts = (r: Rule): boolean =>
  r.startsBeforeKeyword !== undefined || r.startAfterKeyword !== undefined;

function keywordEnds(d: Dfa, rules: readonly Rule[]): KeywordEnds {
  const own = new Map<number, { rule: number; len: number }[]>();
  for (const e of d.ends) {
    if (!usesKeywordStarts(rules[e.rule]!)) continue;
    let list = own.get(e.state);
    if (!list) own.set(e.state, (list = []));
    list.push({ rule: e.rule, len: rules[e.rule]!.startAfterKeyword === undefined ? e.len : 0 });
  }
  const n = d.fail.length;
  const first = new Int32Array(n + 1);
  const flat: { rule: number; len: number }[] = [];
  for (let s = 0; s < n; s++) {
    first[s] = flat.length;
    // A state's string ends with a keyword when that keyword's state is on its failure chain.
    if (own.size > 0) for (let t = s; t !== 0; t = d.fail[t]!) flat.push(...(own.get(t) ?? []));
  }
  first[n] = flat.length;
  return { first, rule: Int32Array.from(flat, (e) => e.rule), len: Int32Array.from(flat, (e) => e.len) };
}

export class KeywordPrefilter {
  private readonly wasm: WasmDfaWalk;
  private readonly index = new Map<Rule, number>();
  private readonly ends: KeywordEnds;
  /** Keyword starts per rule index in the last view, made on the first `starts` call after `candidates`. */
  private startsOf: (number[] | undefined)[] | null = null;

  constructor(private readonly rules: readonly Rule[]) {
    const dfa = buildDfa(rules.map((r) => r.keywords));
    this.wasm = new WasmDfaWalk(dfa);
    rules.forEach((r, i) => this.index.set(r, i));
    this.ends = keywordEnds(dfa, rules);
  }

  /** Rules with at least one keyword (case-insensitively) in the latin1 `bytes`, in rule order. */
  candidates(bytes: Uint8Array): readonly Rule[] {
    const mask = this.wasm.run(bytes);
    this.startsOf = null;
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
  starts(rule: Rule): readonly number[] | null {
    const back = rule.startsBeforeKeyword;
    if (back === undefined) return null;
    const found = this.logged(rule);
    if (found === null) return null;
    const sorted = Int32Array.from(found).sort();
    const out: number[] = [];
    // Lanes overlap, and keywords of one rule may share a start: each position once.
    for (let i = 0; i < sorted.length; i++) {
      const start = sorted[i]!;
      for (let p = Math.max(0, start - back, out.length > 0 ? out[out.length - 1]! + 1 : 0); p <= start; p++)
        out.push(p);
    }
    return out;
  }

  /**
   * For a rule with `startAfterKeyword`, among the last `candidates` call's answer: where its
   * keywords end (exclusive) in that view, in walk order (not sorted; a position may repeat). Null
   * when the rule does not declare it or the view had too many keywords to log.
   */
  keywordEndsOf(rule: Rule): readonly number[] | null {
    return rule.startAfterKeyword === undefined ? null : this.logged(rule);
  }

  /** The last view's logged positions for `rule` ([] when none), or null when the log overflowed. */
  private logged(rule: Rule): readonly number[] | null {
    const ri = this.index.get(rule);
    if (ri === undefined) return null;
    const all = (this.startsOf ??= this.keywordStarts());
    if (all.length === 0) return null; // the log overflowed
    return all[ri] ?? NO_POSITIONS;
  }

  /**
   * One pass over the walk's log: keyword starts (ends for `startAfterKeyword` rules) per rule,
   * unsorted, or [] when the log overflowed.
   */
  private keywordStarts(): (number[] | undefined)[] {
    const log = this.wasm.completed();
    if (log === null) return [];
    const { first, rule, len } = this.ends;
    const { i32, at, viewAt, rowShift, count } = log;
    const all: (number[] | undefined)[] = new Array<number[] | undefined>(this.rules.length).fill(undefined);
    for (let i = 0; i < count; i++) {
      const s = i32[at + 2 * i + 1]! >> rowShift;
      const to = first[s + 1]!;
      for (let e = first[s]!; e < to; e++) {
        const start = i32[at + 2 * i]! - viewAt - len[e]! + 1;
        const r = rule[e]!;
        const list = all[r];
        if (list === undefined) all[r] = [start];
        else list.push(start);
      }
    }
    return all;
  }
}
