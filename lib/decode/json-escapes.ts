// JSON string escapes (`\/`, `\n`, `\u002d`, surrogate pairs) decoded over a latin1 view, so a key
// written as `sk\u002dant...` in a JSON body is seen as `sk-ant...`. Output is latin1 again: code
// points above 0xFF become their UTF-8 bytes, keeping one char per byte for the rules.

const SIMPLE: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

function utf8Latin1(cp: number): string {
  return Buffer.from(String.fromCodePoint(cp), 'utf8').toString('latin1');
}

function hex4(s: string, i: number): number {
  if (i + 4 > s.length) return -1;
  const v = Number.parseInt(s.slice(i, i + 4), 16);
  return /^[0-9a-fA-F]{4}$/.test(s.slice(i, i + 4)) ? v : -1;
}

/** Returns the unescaped text, or null when the text has no JSON escape to decode. */
export function decodeJsonEscapes(text: string): string | null {
  let i = text.indexOf('\\');
  if (i === -1) return null;
  let out = '';
  let last = 0;
  let changed = false;
  while (i !== -1 && i < text.length - 1) {
    const c = text[i + 1]!;
    const simple = SIMPLE[c];
    if (simple !== undefined) {
      out += text.slice(last, i) + simple;
      last = i + 2;
      changed = true;
    } else if (c === 'u') {
      const hi = hex4(text, i + 2);
      if (hi >= 0) {
        let cp = hi;
        let len = 6;
        if (hi >= 0xd800 && hi <= 0xdbff && text[i + 6] === '\\' && text[i + 7] === 'u') {
          const lo = hex4(text, i + 8);
          if (lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
            len = 12;
          }
        }
        // A lone surrogate cannot be encoded; keep it visible as U+FFFD.
        out += text.slice(last, i) + utf8Latin1(cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp);
        last = i + len;
        changed = true;
      }
    }
    i = text.indexOf('\\', Math.max(last, i + 2));
  }
  if (!changed) return null;
  return out + text.slice(last);
}
