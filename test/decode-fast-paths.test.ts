// The fast decoding paths against the slow references they replaced (kept in test/support/reference/):
// the SIMD run finder, run decoding from decoded heads, JSON unescaping into a reused buffer; and the
// streaming scanner with encoded secrets placed across a 64 KiB batch edge and across write edges,
// where a broken fast path (a run, escape or separator cut at the wrong place) would lose or move them.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { decodeEncodedRuns, findRuns, sepHexBlocksOf } from '../lib/decode/encoded-runs.js';
import { findSeparatedHex } from '../lib/decode/separated-hex.js';
import { decodeJsonEscapes } from '../lib/decode/json-escapes.js';
import { acquire, release } from '../lib/decode/scratch.js';
import { prng } from './support/benign-corpus.js';
import * as ref from './support/reference/encoded-runs.js';
import { decodeJsonEscapes as refJson } from './support/reference/json-escapes.js';
import { MessageScanner, type MessageScanOptions } from '../lib/scanner/message-scanner.js';
import { SCAN_BATCH } from '../lib/scanner/text-engine.js';
import { rulesFor } from '../lib/rules/index.js';
import type { Detection } from '../lib/detection.js';
import { expandExample } from './support/expand-example.js';

const RUN = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_';
const OTHER = ' ,.:;"\'\n\r\t=\\%{}[]@!~\x00\x7f\x80\xc2\xe2\xff';

/** Views made of runs of every length around the minimum and of separators, at every alignment. */
function runsAndGaps(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  let i = 0;
  while (i < n) {
    const run = rand() < 0.5;
    const len = run ? Math.floor(rand() * 70) : 1 + Math.floor(rand() * 4);
    const set = run ? RUN : OTHER;
    for (let k = 0; k < len && i < n; k++) b[i++] = set.charCodeAt(Math.floor(rand() * set.length));
  }
  return b;
}

const text = (rand: () => number, n: number) => {
  const words = ['the', 'token', 'is', 'config', 'export', 'password', 'value', 'ok', '\n'];
  let s = '';
  while (s.length < n) s += `${words[Math.floor(rand() * words.length)]} `;
  return s.slice(0, n);
};

/** Encoded payloads of every kind the run decoder tells apart, and near misses. */
function payload(rand: () => number): string {
  const t = text(rand, 10 + Math.floor(rand() * 300));
  const bin = Buffer.from(Array.from({ length: 10 + Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)));
  const tar = Buffer.alloc(1024);
  tar.write('etc/secret.txt', 0, 'latin1');
  tar.write('00000000020\u0000', 124, 'latin1');
  tar.write('ustar', 257, 'latin1');
  tar.write(t.slice(0, 16), 512, 'latin1');
  const wrap = (s: string, w: number) => s.replace(new RegExp(`(.{${w}})`, 'g'), '$1\n');
  switch (Math.floor(rand() * 11)) {
    case 0:
      return Buffer.from(t).toString('base64');
    case 1:
      return Buffer.from(t).toString('base64url');
    case 2:
      return Buffer.from(t).toString('hex');
    case 3:
      return bin.toString('base64');
    case 4:
      return bin.toString('hex');
    case 5:
      return zlib.gzipSync(t).toString('base64');
    case 6:
      return zlib.deflateSync(t).toString('hex');
    case 7:
      return Buffer.from(t, 'utf16le').toString('base64');
    case 8:
      return zlib.gzipSync(tar).toString('base64');
    case 9:
      return wrap(Buffer.from(t + t).toString('base64'), rand() < 0.5 ? 76 : 64);
    default:
      return tar.toString('base64');
  }
}

describe('findRuns (SIMD) equals the sampled reference', () => {
  it('on random runs and gaps of every length and alignment, with and without a cap', () => {
    const rand = prng(15);
    for (let iter = 0; iter < 4000; iter++) {
      const view = runsAndGaps(rand, Math.floor(rand() * 400));
      for (const max of [Number.POSITIVE_INFINITY, 4096, 1, 3]) {
        expect(findRuns(view, 24, max), `iteration ${iter}, max ${max}`).toEqual(ref.findRuns(view, 24, max));
      }
    }
  });

  it('on a long view (the window grows the module memory) and views ending inside a run', () => {
    const rand = prng(16);
    const big = runsAndGaps(rand, 300_000);
    expect(findRuns(big, 24)).toEqual(ref.findRuns(big, 24));
    const run = Buffer.from('x '.repeat(7) + 'A'.repeat(100));
    for (let end = 0; end <= run.length; end++) {
      expect(findRuns(run.subarray(0, end), 24)).toEqual(ref.findRuns(run.subarray(0, end), 24));
    }
  });
});

describe('decodeEncodedRuns equals the reference', () => {
  it('on text, hex, binary, compressed, archived, UTF-16 and wrapped payloads, open or closed, with a budget', () => {
    const rand = prng(17);
    for (let iter = 0; iter < 600; iter++) {
      let s = '';
      const parts = 1 + Math.floor(rand() * 4);
      for (let p = 0; p < parts; p++)
        s += `${text(rand, Math.floor(rand() * 40))} ${payload(rand)}${rand() < 0.2 ? '==' : ''}`;
      const view = Buffer.from(s, 'latin1');
      for (const openEnd of [false, true]) {
        const budget = { left: rand() < 0.2 ? 100 : 1 << 20 };
        const refBudget = { ...budget };
        const got = decodeEncodedRuns(view, openEnd, 64, budget);
        const want = ref.decodeEncodedRuns(view, openEnd, 64, refBudget);
        expect(got, `iteration ${iter}`).toEqual(want);
        expect(budget.left).toBe(refBudget.left);
        // Without a budget, binary payloads are not unpacked: the same in both.
        expect(decodeEncodedRuns(view, openEnd)).toEqual(ref.decodeEncodedRuns(view, openEnd));
      }
    }
  });
});

describe("findSeparatedHex near the run finder's candidate blocks equals the full sampled pass", () => {
  /** Separated hex in every style the decoder reads, of lengths around the minimums. */
  function hexRun(rand: () => number): string {
    const bytes = Array.from({ length: 12 + Math.floor(rand() * 40) }, () => Math.floor(rand() * 256));
    const h = (b: number) => b.toString(16).padStart(2, '0');
    const style = Math.floor(rand() * 7);
    if (style === 0) return bytes.map((b) => `\\x${h(b)}`).join('');
    if (style === 1) return bytes.map((b) => `0x${h(b)}`).join(rand() < 0.5 ? ', ' : ',');
    if (style === 2) return bytes.map(h).join(':');
    if (style === 3) return bytes.map(h).join('-').toUpperCase();
    if (style === 4) return bytes.map(h).join(' ');
    if (style === 5) {
      // `od -A x -t x1`: an offset, then 16 pairs a line.
      let out = '';
      for (let i = 0; i < bytes.length; i += 16) {
        out += `${i.toString(16).padStart(7, '0')} ${bytes
          .slice(i, i + 16)
          .map(h)
          .join(' ')}\n`;
      }
      return out;
    }
    return bytes.map((b) => `\\X${h(b)}`).join('');
  }

  const hexChars = (rand: () => number, k: number) =>
    Array.from({ length: k }, () => '0123456789abcdef'[Math.floor(rand() * 16)]).join('');

  it('on text with hex runs of every style at every alignment, UUIDs and near-misses', () => {
    const rand = prng(41);
    const fillers = ['the token is ', '{"id":"', '", "n": 12, ', 'deadbeef ', 'c0ffee-', '\n', '  ', ', 0x', ':'];
    let compared = 0;
    let found = 0;
    for (let t = 0; t < 300; t++) {
      let s = '';
      const size = 200 + Math.floor(rand() * 6000);
      while (s.length < size) {
        const r = rand();
        if (r < 0.25) s += hexRun(rand);
        else if (r < 0.35) s += [8, 4, 4, 4, 12].map((k) => hexChars(rand, k)).join('-');
        else s += fillers[Math.floor(rand() * fillers.length)]!.repeat(1 + Math.floor(rand() * 3));
      }
      const view = Buffer.from(s, 'latin1');
      decodeEncodedRuns(view, false);
      const blocks = sepHexBlocksOf(view);
      expect(blocks).not.toBeNull();
      const full = findSeparatedHex(view, null);
      expect(findSeparatedHex(view, blocks)).toEqual(full);
      expect(findSeparatedHex(view)).toEqual(full);
      compared++;
      found += full.length;
    }
    expect(compared).toBe(300);
    expect(found).toBeGreaterThan(300);
  });

  it('skips text with no candidate block (the cost it saves)', () => {
    const view = Buffer.from(text(prng(5), 64 * 1024), 'latin1');
    decodeEncodedRuns(view, false);
    expect(sepHexBlocksOf(view)).toEqual(new Int32Array(0));
    expect(findSeparatedHex(view)).toEqual([]);
  });
});

describe('decodeJsonEscapes into a reused buffer equals the reference', () => {
  it('on dense and sparse escapes, surrogates, broken escapes and gaps around the copy threshold', () => {
    const rand = prng(18);
    const escapes = [
      '\\n',
      '\\"',
      '\\\\',
      '\\/',
      '\\u002d',
      '\\u00e9',
      '\\u20ac',
      '\\ud83d\\ude00',
      '\\ud800',
      '\\u12',
      '\\x',
      '\\',
    ];
    const dirty = Buffer.alloc(1 << 16, 0x41);
    for (let iter = 0; iter < 2000; iter++) {
      let s = '';
      const parts = Math.floor(rand() * 12);
      for (let p = 0; p < parts; p++) {
        s += 'a'.repeat(Math.floor(rand() * 80)) + escapes[Math.floor(rand() * escapes.length)];
      }
      const src = Buffer.from(s, 'latin1');
      const want = refJson(src)?.toString('latin1') ?? null;
      expect(decodeJsonEscapes(src)?.toString('latin1') ?? null, s).toBe(want);
      expect(decodeJsonEscapes(src, dirty)?.toString('latin1') ?? null, s).toBe(want);
    }
  });

  it('scratch buffers are never handed out twice while in use', () => {
    const a = acquire(100);
    const b = acquire(100);
    expect(a).not.toBe(b);
    release(b);
    release(a);
    const c = acquire(200);
    const d = acquire(200);
    expect(c).not.toBe(d);
    expect(c.length).toBeGreaterThanOrEqual(200);
    release(c);
    release(d);
  });
});

const salt = randomBytes(32);
const opts = (extra: Partial<MessageScanOptions> = {}): MessageScanOptions => ({
  direction: 'outbound',
  rules: rulesFor('outbound'),
  salt,
  maxScanBytes: 4 * 1024 * 1024,
  ...extra,
});

async function scan(body: Buffer, chunk: number, extra: Partial<MessageScanOptions> = {}) {
  const s = new MessageScanner(opts(extra));
  for (let i = 0; i < body.length; i += chunk) s.write(body.subarray(i, i + chunk));
  return s.end();
}

const key = (d: Detection) => `${d.pattern}|${d.offset}|${d.encoding}|${d.fingerprint}`;

describe('encoded secrets across a batch edge and write edges', () => {
  const secret = expandExample('sk-ant-api03-{{rand:b64url:93}}AA').text;
  const line = `export ANTHROPIC_API_KEY=${secret}\n`;
  const pct = Array.from(Buffer.from(line), (c) => `%${c.toString(16).padStart(2, '0')}`).join('');
  const encodings: Record<string, { body: string; chain: string }> = {
    json: { body: JSON.stringify(line).slice(1, -1).replace('-', '\\u002d'), chain: 'json' },
    base64: { body: Buffer.from(line).toString('base64'), chain: 'base64' },
    hex: { body: Buffer.from(line).toString('hex'), chain: 'hex' },
    'separated hex': { body: Array.from(Buffer.from(line), (c) => `\\x${c.toString(16)}`).join(''), chain: 'hex' },
    percent: { body: pct, chain: 'percent' },
  };
  const filler = (n: number) => 'plain words of an ordinary request body, '.repeat(Math.ceil(n / 42)).slice(0, n);

  for (const [name, { body: enc, chain }] of Object.entries(encodings)) {
    it(`${name}: found once at the same offset wherever the edge falls and however it is written`, async () => {
      // Starts from well before the batch edge to the encoded text straddling it at several places.
      for (const back of [enc.length + 8, Math.floor(enc.length / 2), 37, 5, 1, 0]) {
        const at = SCAN_BATCH - back;
        const body = Buffer.from(`${filler(at - 1)} ${enc} ${filler(3000)}`, 'latin1');
        const results = [];
        for (const chunk of [body.length, 16 * 1024, 4093, 999]) results.push(await scan(body, chunk));
        const keys = results.map((r) =>
          r.detections.filter((d) => d.pattern === 'ai_api_key' && d.encoding.endsWith(chain)).map(key),
        );
        expect(keys[0], `${name} at ${at}`).toHaveLength(1);
        for (const k of keys) expect(k, `${name} at ${at}`).toEqual(keys[0]);
      }
    });
  }

  it('gzip: the same detections whatever the compressed write size (gathered input, large output chunks)', async () => {
    const plain = Buffer.from(`${filler(200_000)} ${encodings.base64!.body} ${filler(100_000)} ${line} end`);
    const gz = zlib.gzipSync(plain);
    const want = (await scan(plain, 16 * 1024)).detections.map(key);
    expect(want.length).toBeGreaterThanOrEqual(2);
    for (const chunk of [gz.length, 64 * 1024, 16 * 1024, 1000, 97]) {
      const r = await scan(gz, chunk, { contentEncoding: 'gzip' });
      expect(r.decodeError, `chunk ${chunk}`).toBeUndefined();
      expect(r.bytesScanned).toBe(plain.length);
      expect(
        r.detections.map((d) => `${d.pattern}|${d.offset}|${d.encoding.replace(/^gzip>?/, '')}|${d.fingerprint}`),
      ).toEqual(want.map((k) => k.replace(/\|\|/, '||')));
    }
  });

  it('gzip: a stream cut short still scans what it held; one failing its check reports the error', async () => {
    const plain = Buffer.from(`${filler(150_000)} ${line} ${filler(150_000)}`);
    const gz = zlib.gzipSync(plain);
    const cut = await scan(gz.subarray(0, Math.floor(gz.length * 0.8)), 1000, { contentEncoding: 'gzip' });
    expect(cut.detections.map((d) => d.pattern)).toContain('ai_api_key');
    const bad = Buffer.from(gz);
    bad[bad.length - 6]! ^= 0xff; // the trailer's CRC: every byte inflates, then the check fails
    const broken = await scan(bad, 4096, { contentEncoding: 'gzip' });
    expect(broken.decodeError).toMatch(/gzip decoding failed/);
    expect(broken.detections.map((d) => d.pattern)).toContain('ai_api_key');
  });
});

describe('a compressed body that ends before filling a batch is decoded in one call', () => {
  const secret = expandExample('sk-ant-api03-{{rand:b64url:93}}AA').text;
  const plain = Buffer.from(
    `{"note":"ordinary text","key":"${secret}","more":"${'words and more words '.repeat(200)}"}`,
  );
  const codings: [string, Buffer][] = [
    ['gzip', zlib.gzipSync(plain)],
    ['deflate', zlib.deflateSync(plain)],
    ['deflate', zlib.deflateRawSync(plain)],
    ['br', zlib.brotliCompressSync(plain)],
  ];

  it('gzip, deflate (zlib and raw) and br: settled at end without waiting, same detections as plain', async () => {
    const want = (await scan(plain, plain.length)).detections.map((d) => `${d.pattern}|${d.offset}|${d.fingerprint}`);
    expect(want.length).toBeGreaterThanOrEqual(1);
    for (const [coding, body] of codings) {
      const s = new MessageScanner(opts({ contentEncoding: coding }));
      for (let i = 0; i < body.length; i += 700) s.write(body.subarray(i, i + 700));
      // No thread-pool round trip: the summary is there at once.
      const r = s.endNow();
      expect(r, coding).not.toBeNull();
      expect(r!.decodeError).toBeUndefined();
      expect(r!.bytesScanned).toBe(plain.length);
      expect(r!.detections.map((d) => `${d.pattern}|${d.offset}|${d.fingerprint}`)).toEqual(want);
      expect(r!.detections.every((d) => d.encoding.startsWith(coding))).toBe(true);
    }
  });

  it('a small body failing its check is reported and scanned raw as before; a small bomb is cut at the bound', async () => {
    // Hardly compressible, so it arrives in several writes; the key is in the first one.
    const words = randomBytes(6000).toString('base64').replace(/[+/]/g, ' ');
    const bad = zlib.gzipSync(Buffer.from(`{"key":"${secret}","more":"${words}"}`));
    bad[bad.length - 6]! ^= 0xff;
    expect(bad.length).toBeGreaterThan(3000);
    const r = await scan(bad, 1000, { contentEncoding: 'gzip' });
    expect(r.decodeError).toBe('gzip decoding failed: incorrect data check');
    expect(r.detections.map((d) => d.pattern)).toContain('ai_api_key');

    const bomb = zlib.gzipSync(Buffer.alloc(8 * 1024 * 1024, 0x61));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const b = await scan(bomb, 4096, { contentEncoding: 'gzip', maxScanBytes: 1024 * 1024 });
    expect(b.bytesScanned).toBe(1024 * 1024);
    expect(b.truncated).toBe(true);
    expect(b.decodeError).toBeUndefined();
  });
});
