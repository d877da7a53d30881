// Reassembles the text carried by server-sent events. Streamed LLM responses send text in small
// JSON deltas (`data: {"delta":{"text":"rm -r"}}` then `data: {"delta":{"text":"f /"}}`), so a command
// split across two events is only whole once the deltas are joined. Output is a latin1 view.

/** Keys whose string values carry streamed text in the common LLM APIs. */
const TEXT_KEYS = new Set([
  'text',
  'content',
  'partial_json',
  'thinking',
  'output_text',
  'arguments',
  'delta',
  'value',
]);
/** A `data:` line longer than this is skipped rather than buffered. */
export const MAX_SSE_LINE = 256 * 1024;
const MAX_DEPTH = 8;

function toLatin1View(s: string): string {
  // JSON.parse turns \u escapes into real code points; keep one char per byte by UTF-8 encoding them.
  return s.replace(/[^\x00-\xff]+/g, (m) => Buffer.from(m, 'utf8').toString('latin1'));
}

function collect(v: unknown, out: string[], depth: number, key: string | null): void {
  if (depth > MAX_DEPTH) return;
  if (typeof v === 'string') {
    if (key !== null && TEXT_KEYS.has(key)) out.push(v);
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) collect(x, out, depth + 1, key);
    return;
  }
  if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) collect(x, out, depth + 1, k);
  }
}

export class SseTextExtractor {
  private partial = '';
  private skipping = false;

  constructor(private readonly emit: (latin1Text: string) => void) {}

  feed(latin1: string): void {
    let start = 0;
    for (;;) {
      const nl = latin1.indexOf('\n', start);
      if (nl === -1) break;
      const piece = latin1.slice(start, nl);
      start = nl + 1;
      if (this.skipping) {
        this.skipping = false;
        this.partial = '';
        continue;
      }
      const line = this.partial + piece;
      this.partial = '';
      this.line(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
    if (this.skipping) return;
    const rest = latin1.slice(start);
    if (this.partial.length + rest.length > MAX_SSE_LINE) {
      this.skipping = true;
      this.partial = '';
    } else {
      this.partial += rest;
    }
  }

  finish(): void {
    if (!this.skipping && this.partial) this.line(this.partial);
    this.partial = '';
  }

  private line(line: string): void {
    if (!line.startsWith('data:')) return;
    const payload = line.slice(line[5] === ' ' ? 6 : 5);
    if (payload === '' || payload === '[DONE]') return;
    const c = payload[0];
    if (c === '{' || c === '[') {
      try {
        const out: string[] = [];
        collect(JSON.parse(payload), out, 0, null);
        if (out.length > 0) this.emit(toLatin1View(out.join('')));
        return;
      } catch {
        // not JSON after all: fall through and scan the payload as text
      }
    }
    this.emit(`${payload}\n`);
  }
}
