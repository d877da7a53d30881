// Where the rules find a secret in a request path, so the path written in a finding masks the detected
// span itself rather than guessing by token length: a secret holding `/` spans several path segments,
// and masking each segment by its own length let the short tail of one survive
// (`/creds/[…]/[…]/SvyRuVpPuZ`). The path is short and this runs only when a finding is written.
// Every outbound credential rule is applied, with no issuer exemption and whatever the config disables:
// the path field must never show a secret, whoever it was sent to.
import { rulesFor } from './rules/index.js';
import { findRuleHits, keywordsPresent } from './rules/match-rule.js';
import { HEX_VALUE } from './decode/hex.js';

export interface Span {
  start: number;
  end: number;
}

const RULES = rulesFor('outbound');

/** A view of the path with, for each character, the raw span it came from. */
interface MappedView {
  text: string;
  starts: number[];
  ends: number[];
}

function identity(raw: string): MappedView {
  const starts = Array.from({ length: raw.length }, (_, i) => i);
  return { text: raw, starts, ends: starts.map((i) => i + 1) };
}

/** Percent-decodes one level, composing the map so every character still points at raw offsets. */
function percentDecoded(v: MappedView): MappedView | null {
  if (!v.text.includes('%')) return null;
  let text = '';
  const starts: number[] = [];
  const ends: number[] = [];
  const s = v.text;
  for (let i = 0; i < s.length; i++) {
    const h = s[i] === '%' && i + 2 < s.length ? HEX_VALUE[s.charCodeAt(i + 1) & 0xff]! : -1;
    const l = h >= 0 ? HEX_VALUE[s.charCodeAt(i + 2) & 0xff]! : -1;
    if (h >= 0 && l >= 0 && s.charCodeAt(i + 1) < 0x80 && s.charCodeAt(i + 2) < 0x80) {
      text += String.fromCharCode((h << 4) | l);
      starts.push(v.starts[i]!);
      ends.push(v.ends[i + 2]!);
      i += 2;
    } else {
      text += s[i];
      starts.push(v.starts[i]!);
      ends.push(v.ends[i]!);
    }
  }
  return { text, starts, ends };
}

/** Raw spans of every credential the outbound rules find in `raw` (as is, and percent-decoded twice). */
export function secretSpansInPath(raw: string): Span[] {
  const out: Span[] = [];
  let view: MappedView | null = identity(raw);
  for (let level = 0; view !== null && level < 3; level++) {
    const lower = view.text.toLowerCase();
    for (const rule of RULES) {
      if (rule.threat_type !== 'EXFIL' || !keywordsPresent(rule, lower)) continue;
      for (const hit of findRuleHits(rule, view.text)) {
        if (hit.secretEnd <= hit.secretStart) continue;
        out.push({ start: view.starts[hit.secretStart]!, end: view.ends[hit.secretEnd - 1]! });
      }
    }
    view = percentDecoded(view);
  }
  return out.sort((a, b) => a.start - b.start);
}
