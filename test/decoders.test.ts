import { describe, expect, it } from 'vitest';
import zlib from 'node:zlib';
import { decodeJsonEscapes } from '../lib/decode/json-escapes.js';
import { decodePercent } from '../lib/decode/percent.js';
import { decodeEncodedRuns, looksLikeText } from '../lib/decode/encoded-runs.js';
import { SseTextExtractor } from '../lib/decode/sse-text.js';
import { ContentDecoder, parseContentEncoding } from '../lib/decode/content-decoder.js';

const latin1 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
/** The decoders work on latin1 byte views; these run them on a string and read the result back. */
const bytes = (s: string) => Buffer.from(s, 'latin1');
const json = (s: string) => decodeJsonEscapes(bytes(s))?.toString('latin1') ?? null;
const pct = (s: string) => decodePercent(bytes(s))?.toString('latin1') ?? null;

describe('JSON escapes', () => {
  it('decodes simple, \\u and surrogate-pair escapes into a latin1 view', () => {
    expect(json('a\\/b\\nc\\u002dd')).toBe('a/b\nc-d');
    expect(json('\\ud83d\\ude00')).toBe(latin1('😀'));
    expect(json('\\udb40\\udc41')).toBe(latin1('\u{E0041}'));
    expect(json('lone \\ud800 x')).toBe(`lone ${latin1('\ufffd')} x`);
  });
  it('returns null when nothing changes, and leaves invalid escapes alone', () => {
    expect(json('plain')).toBeNull();
    expect(json('C:\\dir')).toBeNull();
    expect(json('\\u12')).toBeNull();
  });
});

describe('percent', () => {
  it('decodes %XX and keeps +', () => {
    expect(pct('a%2Db+c%0A')).toBe('a-b+c\n');
    expect(pct('100% sure')).toBeNull();
  });
});

describe('encoded runs', () => {
  it('decodes base64 and hex runs that are text, skips binary ones', () => {
    const b64 = Buffer.from('this is some hidden text inside').toString('base64');
    const hex = Buffer.from('hex hidden text here!!').toString('hex');
    const bin = Buffer.from(Array.from({ length: 64 }, (_, i) => (i * 37) & 0xff)).toString('base64');
    const runs = decodeEncodedRuns(bytes(`a ${b64} b ${hex} c ${bin} d`), false);
    expect(runs.map((r) => [r.kind, r.bytes.toString('latin1')])).toEqual([
      ['base64', 'this is some hidden text inside'],
      ['hex', 'hex hidden text here!!'],
    ]);
  });
  it('leaves a run touching an open end for the next pass', () => {
    const b64 = Buffer.from('this is some hidden text inside').toString('base64');
    expect(decodeEncodedRuns(bytes(`x ${b64}`), true)).toEqual([]);
    expect(decodeEncodedRuns(bytes(`x ${b64}`), false)).toHaveLength(1);
  });
  it('judges text by printable ratio', () => {
    expect(looksLikeText(Buffer.from('hello world, plain text'))).toBe(true);
    expect(looksLikeText(Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]))).toBe(false);
  });
});

describe('SSE text', () => {
  it('joins delta text across events and split lines, ignores [DONE]', () => {
    const out: string[] = [];
    const x = new SseTextExtractor((t) => out.push(t));
    const stream =
      'data: {"delta":{"text":"rm -r"}}\n\ndata: {"choices":[{"delta":{"content":"f /"}}]}\n\ndata: [DONE]\n\n';
    for (const ch of stream) x.feed(ch);
    x.finish();
    expect(out.join('')).toBe('rm -rf /');
  });
  it('skips over-long lines without buffering them', () => {
    const out: string[] = [];
    const x = new SseTextExtractor((t) => out.push(t));
    x.feed(`data: ${'a'.repeat(300 * 1024)}`);
    x.feed('\ndata: {"text":"ok"}\n');
    expect(out).toEqual(['ok']);
  });
});

describe('content decoder', () => {
  it('parses Content-Encoding lists', () => {
    expect(parseContentEncoding('gzip, br')).toEqual({ codings: ['gzip', 'br'] });
    expect(parseContentEncoding('identity')).toEqual({ codings: [] });
    expect(parseContentEncoding('zstd')).toEqual({ codings: [], unsupported: 'zstd' });
  });
  it('bounds output and reports it', async () => {
    const data: Buffer[] = [];
    const end = new Promise<{ bounded: boolean }>((resolve) => {
      const d = new ContentDecoder(['gzip'], 10_000, { onData: (b) => data.push(b), onEnd: resolve });
      d.write(zlib.gzipSync(Buffer.alloc(1_000_000)));
      d.end();
    });
    expect((await end).bounded).toBe(true);
    expect(Buffer.concat(data).length).toBe(10_000);
  });
});
