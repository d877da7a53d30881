// The scan pool on its own, with real worker threads (the built dist/ worker script): the same
// detections as scanning on this thread, the backlog bound and its per-message share (exact, because the
// bytes are written in one synchronous run: no worker can acknowledge any of them before it ends), true
// offsets after a hole, coded bodies that stay unscanned, and a worker that dies.
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import type { Detection } from '../lib/detection.js';
import { rulesFor } from '../lib/rules/index.js';
import { MessageScanner, scanBuffer } from '../lib/scanner/message-scanner.js';
import { zeroCounters, type Counters } from '../lib/status-schema.js';
import type { DoneSummary } from '../host-services/scan-pool/protocol.js';
import { ScanPool, type MessageSpec } from '../host-services/scan-pool/scan-pool.js';
import { expandExample } from './support/expand-example.js';
import { waitFor } from './support/proxy-client.js';

const MiB = 1024 * 1024;
const KiB = 1024;
const salt = randomBytes(32);
let pool: ScanPool | null = null;
const logs: string[] = [];

afterEach(async () => {
  await pool?.close();
  pool = null;
  logs.length = 0;
});

function makePool(
  counters: Counters,
  over: { workers?: number; backlogBytes?: number; maxScanBytes?: number } = {},
): ScanPool {
  pool = new ScanPool({
    workers: over.workers ?? 1,
    backlogBytes: over.backlogBytes ?? 32 * MiB,
    salt,
    maxScanBytes: over.maxScanBytes ?? 64 * MiB,
    disabledRules: [],
    counters,
    log: (level, msg) => logs.push(`${level}: ${msg}`),
  });
  return pool;
}

/** JSON-ish filler, the kind of text a model call uploads. */
function filler(n: number): Buffer {
  const line = '{"role":"user","content":"Please summarise the meeting notes and list the open items."},\n';
  return Buffer.from(line.repeat(Math.ceil(n / line.length)).slice(0, n));
}

function withSecretAt(size: number, at: number, secret: string): Buffer {
  const b = filler(size);
  Buffer.from(` "token": "${secret}" `).copy(b, at);
  return b;
}

interface Run {
  detections: Detection[];
  summary: DoneSummary | null;
  skipped: number;
}

function openMessage(p: ScanPool, spec: Partial<MessageSpec> = {}, coded = false) {
  const detections: Detection[] = [];
  let resolve!: (r: Run) => void;
  const done = new Promise<Run>((r) => (resolve = r));
  const m = p.open(
    { direction: 'outbound', destHost: 'collector.example.test', location: 'body', ...spec },
    {
      onDetection: (d) => detections.push(d),
      onDone: (summary, skipped) => resolve({ detections, summary, skipped }),
    },
    coded,
  );
  expect(m).not.toBeNull();
  return { m: m!, done };
}

function inlineScan(body: Buffer, spec: Partial<MessageSpec> = {}, maxScanBytes = 64 * MiB) {
  const direction = spec.direction ?? 'outbound';
  return scanBuffer(body, {
    direction,
    rules: rulesFor(direction),
    salt,
    maxScanBytes,
    destHost: 'collector.example.test',
    contentEncoding: spec.contentEncoding,
    contentType: spec.contentType,
  });
}

function chunks(b: Buffer, size = 64 * KiB): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

describe('scan pool: the same detections as on the proxy thread', () => {
  it('a secret deep in a 1 MiB identity body: same pattern, offset, chain, snippet and fingerprint', async () => {
    const secret = expandExample('ghp_{{rand:alnum:36}}');
    const body = withSecretAt(MiB, 900 * KiB + 13, secret.text);
    const p = makePool(zeroCounters(), { workers: 2 });
    const { m, done } = openMessage(p);
    for (const c of chunks(body, 16 * KiB)) m.write(c);
    m.end();
    const run = await done;
    const local = await inlineScan(body);
    expect(local.detections.map((d) => d.pattern)).toContain('github_token');
    expect(run.detections).toEqual(local.detections);
    expect(run.summary).toMatchObject({ bytesIn: MiB, bytesScanned: MiB, truncated: false });
    expect(run.skipped).toBe(0);
  });

  it('a gzip body with a secret deep inside: found through the decoder in the worker, chain gzip>...', async () => {
    const secret = expandExample('AKIA{{rand:b32:16}}');
    const plain = withSecretAt(800 * KiB, 700 * KiB + 5, secret.text);
    const gz = zlib.gzipSync(plain);
    const spec = { contentEncoding: 'gzip' };
    const p = makePool(zeroCounters());
    const { m, done } = openMessage(p, spec, true);
    for (const c of chunks(gz, 8 * KiB)) m.write(c);
    m.end();
    const run = await done;
    const local = await inlineScan(gz, spec);
    expect(local.detections.map((d) => d.pattern)).toContain('aws_access_key');
    expect(local.detections[0]!.encoding.startsWith('gzip')).toBe(true);
    expect(run.detections).toEqual(local.detections);
    expect(run.summary?.contentCoding).toBe('gzip');
  });
});

describe('scan pool: the size bound', () => {
  it('bytes past what the scanner can use are not copied: no backlog, no skipped bytes, the same summary', async () => {
    const counters = zeroCounters();
    const p = makePool(counters, { maxScanBytes: MiB }); // share 8 MiB
    const secret = expandExample('ghp_{{rand:alnum:36}}');
    const body = withSecretAt(20 * MiB, 512 * KiB, secret.text);
    const { m, done } = openMessage(p);
    for (const c of chunks(body)) m.write(c); // one synchronous run: nothing is acknowledged meanwhile
    expect(counters.scan_backlog_peak_bytes).toBe(MiB + 64 * KiB); // the bound, in whole chunks
    expect(counters.scan_skipped_bytes).toBe(0);
    m.end();
    const run = await done;
    const local = await inlineScan(body, {}, MiB);
    expect(run.detections).toEqual(local.detections);
    const { detections: _d, ...summary } = local;
    expect(run.summary).toEqual(summary);
    expect(run.summary).toMatchObject({ bytesIn: 20 * MiB, bytesScanned: MiB, truncated: true });
  });

  it('a gzip body past its input bound: the same summary as on the proxy thread (truncated, bytes in)', async () => {
    const counters = zeroCounters();
    const p = makePool(counters, { maxScanBytes: 256 * KiB });
    const gz = zlib.gzipSync(randomBytes(2 * MiB));
    const { m, done } = openMessage(p, { contentEncoding: 'gzip' }, true);
    for (const c of chunks(gz)) m.write(c);
    expect(counters.scan_backlog_peak_bytes).toBeLessThanOrEqual(256 * KiB + 64 * KiB + 64 * KiB);
    m.end();
    const run = await done;
    const { detections: _d, ...summary } = await inlineScan(gz, { contentEncoding: 'gzip' }, 256 * KiB);
    expect(run.summary).toMatchObject({ bytesIn: gz.length, truncated: true, contentCoding: 'gzip' });
    expect(run.summary?.truncated).toBe(summary.truncated);
    expect(run.summary?.bytesIn).toBe(summary.bytesIn);
  });
});

describe('scan pool: the backlog bound', () => {
  it('a message past its share loses the bytes that do not fit, counted; later bytes keep true offsets', async () => {
    const counters = zeroCounters();
    const p = makePool(counters, { backlogBytes: MiB }); // share: 256 KiB per message
    const lost = expandExample('ghp_{{rand:alnum:36}}');
    const later = expandExample('glpat-{{rand:b64url:20}}');
    const { m, done } = openMessage(p);
    // One synchronous run: nothing can be acknowledged before it ends.
    const head = withSecretAt(2 * MiB, MiB + 100, lost.text);
    for (const c of chunks(head)) m.write(c);
    expect(counters.scan_skipped_bytes).toBe(2 * MiB - 256 * KiB);
    expect(counters.scan_skipped_messages).toBe(1);
    expect(counters.scan_backlog_peak_bytes).toBe(256 * KiB);
    // Once the worker caught up, the message is scanned again, from where it is.
    await waitFor(
      () => p.backlogBytes,
      (n) => n === 0,
      'the backlog to drain',
    );
    const tail = withSecretAt(256 * KiB, 100 * KiB + 7, later.text);
    for (const c of chunks(tail)) m.write(c);
    m.end();
    const run = await done;
    expect(run.skipped).toBe(2 * MiB - 256 * KiB);
    expect(counters.scan_skipped_messages).toBe(1);
    // The lost secret was never seen; the later one is found at its offset in the whole body.
    expect(run.detections.map((d) => d.pattern)).toEqual(['gitlab_token']);
    const whole = Buffer.concat([head, tail]);
    const local = (await inlineScan(whole)).detections.find((d) => d.pattern === 'gitlab_token')!;
    expect(run.detections[0]!.offset).toBe(2 * MiB + 100 * KiB + 7 + ' "token": "'.length);
    expect(run.detections[0]).toEqual(local);
    expect(run.summary).toMatchObject({ bytesIn: whole.length, bytesScanned: 512 * KiB });
  });

  it('one message cannot take the backlog from the others: each gets its share', async () => {
    const counters = zeroCounters();
    const p = makePool(counters, { backlogBytes: MiB });
    const a = openMessage(p);
    const b = openMessage(p);
    for (const c of chunks(filler(MiB))) a.m.write(c);
    for (const c of chunks(filler(256 * KiB))) b.m.write(c);
    expect(counters.scan_skipped_bytes).toBe(MiB - 256 * KiB); // all of it from a
    expect(counters.scan_skipped_messages).toBe(1);
    a.m.end();
    b.m.end();
    expect((await a.done).skipped).toBe(MiB - 256 * KiB);
    expect((await b.done).skipped).toBe(0);
  });

  it('the whole backlog bounds all messages together', async () => {
    const counters = zeroCounters();
    const p = makePool(counters, { backlogBytes: MiB });
    const ms = Array.from({ length: 6 }, () => openMessage(p));
    for (const x of ms) for (const c of chunks(filler(256 * KiB))) x.m.write(c);
    expect(counters.scan_backlog_peak_bytes).toBe(MiB);
    expect(counters.scan_skipped_bytes).toBe(2 * 256 * KiB);
    expect(counters.scan_skipped_messages).toBe(2);
    for (const x of ms) x.m.end();
    await Promise.all(ms.map((x) => x.done));
    expect(p.backlogBytes).toBe(0);
  });

  it('a content-coded message that lost bytes stays unscanned to its end (a hole breaks decoding)', async () => {
    const counters = zeroCounters();
    const p = makePool(counters, { backlogBytes: MiB });
    const gz = zlib.gzipSync(randomBytes(MiB)); // incompressible: about 1 MiB of input
    const { m, done } = openMessage(p, { contentEncoding: 'gzip' }, true);
    const cs = chunks(gz);
    for (const c of cs.slice(0, 8)) m.write(c); // 512 KiB: 256 KiB fit
    expect(counters.scan_skipped_bytes).toBe(256 * KiB);
    await waitFor(
      () => p.backlogBytes,
      (n) => n === 0,
      'the backlog to drain',
    );
    for (const c of cs.slice(8)) m.write(c); // room again, but the message stays unscanned
    m.end();
    const run = await done;
    expect(run.skipped).toBe(gz.length - 256 * KiB);
    expect(counters.scan_skipped_bytes).toBe(gz.length - 256 * KiB);
    expect(run.summary?.bytesIn).toBe(256 * KiB);
  });
});

describe('scan pool: a worker that dies', () => {
  it('is replaced; its messages end as scanner errors, logged without content; scanning goes on', async () => {
    const counters = zeroCounters();
    const p = makePool(counters);
    const secret = expandExample('ghp_{{rand:alnum:36}}');
    const first = openMessage(p);
    first.m.write(withSecretAt(64 * KiB, 10, secret.text));
    const [w] = p.threads;
    await waitFor(
      () => p.backlogBytes,
      (n) => n === 0,
      'the worker to take the bytes',
    );
    await w!.terminate();
    await waitFor(
      () => p.threads.length === 1 && p.threads[0] !== w,
      (ok) => ok,
      'a new worker',
    );
    first.m.write(filler(1000)); // ignored: its scan is lost
    first.m.end();
    const lost = await first.done;
    expect(lost.summary).toBeNull();
    expect(counters.decode_errors).toBe(1);
    expect(logs.join('\n')).toMatch(/scan worker 0 stopped .*1 message scan\(s\) lost/);
    expect(logs.join('\n')).not.toContain(secret.randomParts[0]!.slice(0, 8));
    // The replacement scans.
    const next = openMessage(p);
    next.m.write(withSecretAt(64 * KiB, 10, secret.text));
    next.m.end();
    expect((await next.done).detections.map((d) => d.pattern)).toEqual(['github_token']);
  });
});

describe('MessageScanner.gap', () => {
  it('keeps later offsets true and does not count the hole as scanned', async () => {
    const secret = expandExample('ghp_{{rand:alnum:36}}');
    const out: Detection[] = [];
    const s = new MessageScanner({
      direction: 'outbound',
      rules: rulesFor('outbound'),
      salt,
      maxScanBytes: MiB,
      onDetection: (d) => out.push(d),
    });
    s.write(filler(100 * KiB));
    s.gap(300 * KiB);
    s.write(withSecretAt(10 * KiB, 50, secret.text));
    const sum = await s.end();
    expect(out.map((d) => d.offset)).toEqual([400 * KiB + 50 + ' "token": "'.length]);
    expect(sum).toMatchObject({ bytesIn: 410 * KiB, bytesScanned: 110 * KiB });
  });
});
