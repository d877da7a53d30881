// Cursors for `Rule.locate`: cheap scans (String.indexOf, which runs at memchr speed, and short byte
// walks) that name the few positions where a rule's regex can match, so the regex runs there only
// instead of being tried at every byte of every view. Each cursor must never skip a position where its
// rule's pattern matches: test/rule-locate.test.ts checks that against the plain global scan.
import type { LocateCursor } from './rule.js';

/**
 * A literal a match starts with, or contains `back` characters after its start. Prefer a literal
 * that starts with a rare character: indexOf checks every occurrence of the first one.
 */
export interface Anchor {
  readonly lit: string;
  readonly back?: number;
}

/**
 * Cursor over the positions where any of `anchors` occurs (case-sensitive), minus its `back`. Each
 * literal's next occurrence is remembered until passed, so a text is searched once per literal.
 */
export function atLiterals(anchors: readonly (string | Anchor)[]): (text: string) => LocateCursor {
  const lits = anchors.map((a) => (typeof a === 'string' ? a : a.lit));
  const backs = anchors.map((a) => (typeof a === 'string' ? 0 : (a.back ?? 0)));
  return (text) => {
    // -2: not searched yet; -1: no further occurrence.
    const found = new Array<number>(lits.length).fill(-2);
    return (from) => {
      let best = -1;
      for (let i = 0; i < lits.length; i++) {
        let p = found[i]!;
        const back = backs[i]!;
        if (p === -1) continue;
        if (p === -2 || p - back < from) {
          p = text.indexOf(lits[i]!, from + back);
          found[i] = p;
          if (p < 0) continue;
        }
        const start = p - back;
        if (best < 0 || start < best) best = start;
      }
      return best;
    };
  };
}

/** RFC 3986 userinfo characters, as in the URL rules' patterns: no `:`, `/`, `@`, quotes or space. */
const USERINFO = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~%!$&*+,;=-') {
  USERINFO[c.charCodeAt(0)] = 1;
}

const isUserinfo = (c: number): boolean => c < 256 && USERINFO[c] === 1;

/**
 * Cursor over the `@` of `scheme://user:password@` shapes: an `@` right after at most `maxPassword`
 * userinfo characters that follow a `:`, which follows at most `maxUser` userinfo characters right
 * after `://`. Most `@` in text (e-mail addresses, decorators, npm scopes) fail within a few bytes.
 */
export function atUserinfo(maxUser: number, maxPassword: number): (text: string) => LocateCursor {
  return (text) => (from) => {
    for (let at = text.indexOf('@', from); at >= 0; at = text.indexOf('@', at + 1)) {
      let i = at - 1;
      const passwordEnd = Math.max(-1, at - 1 - maxPassword);
      while (i > passwordEnd && isUserinfo(text.charCodeAt(i))) i--;
      if (i === at - 1 || i < 0 || text.charCodeAt(i) !== 58 /* : */) continue;
      let j = i - 1;
      const userEnd = Math.max(-1, i - 1 - maxUser);
      while (j > userEnd && isUserinfo(text.charCodeAt(j))) j--;
      if (j >= 2 && text.charCodeAt(j) === 47 && text.charCodeAt(j - 1) === 47 && text.charCodeAt(j - 2) === 58) {
        return at;
      }
    }
    return -1;
  };
}

/**
 * Cursor over the `:` and `=` (each found with indexOf) for which `ok(text, pos)` holds: an
 * operator-anchored pattern whose short look back `ok` can check first. Two fixed characters rather
 * than a list: this runs at every operator of every view (JSON has one per key). A list of the `:` and
 * `=` positions found 16 bytes at a time in WebAssembly was tried instead of the indexOf calls: no
 * faster (an indexOf call costs 10-25 ns, about 12 k of them per MB of JSON), so it was dropped.
 */
export function atOperators(ok: (text: string, pos: number) => boolean): (text: string) => LocateCursor {
  return (text) => {
    // Next `:` and `=` at or after the last `from`; -2 not searched yet, -1 none left.
    let colon = -2;
    let equals = -2;
    return (from) => {
      for (;;) {
        if (colon !== -1 && colon < from) colon = text.indexOf(':', from);
        if (equals !== -1 && equals < from) equals = text.indexOf('=', from);
        const p = colon < 0 ? equals : equals < 0 ? colon : Math.min(colon, equals);
        if (p < 0 || ok(text, p)) return p;
        from = p + 1;
      }
    };
  };
}
