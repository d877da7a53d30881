// FindingsStore and readFindings on real files in a temp dir: durable ordered appends, file modes,
// filters, rotation and retention bounds, torn and malformed lines, failing writes that never throw
// and recover, invalid records, and a tight loop of appends.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  FindingsStore,
  readFindings,
  type FindingsStoreOptions,
  type ReadStats,
} from '../host-services/findings-store.js';
import { FindingSchema, type Finding } from '../lib/finding-schema.js';
import { FindingsQuerySchema, type FindingsQueryInput } from '../lib/findings-query.js';
import { makeFinding } from './support/findings.js';

const KIB = 1024;
const DAY_MS = 86_400_000;

let dir: string;
let file: string;
const open: FindingsStore[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'tg-findings-store-'));
  file = path.join(dir, 'findings.jsonl');
});

afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

function store(over: Partial<FindingsStoreOptions> = {}): FindingsStore {
  const s = new FindingsStore({ file, maxFileBytes: 10 * 1024 * KIB, maxFiles: 5, retentionDays: 30, ...over });
  open.push(s);
  return s;
}

const q = (over: FindingsQueryInput = {}) => FindingsQuerySchema.parse(over);
const ids = (fs: Finding[]) => fs.map((f) => f.id);
const stats = (): ReadStats => ({ malformed: 0, files: 0 });
const linesOf = (f: string) => readFileSync(f, 'utf8').split('\n').filter(Boolean);
const backdate = (f: string, days: number) => {
  const t = (Date.now() - days * DAY_MS) / 1000;
  utimesSync(f, t, t);
};

/** Ten findings one second apart, varied in every filtered field. */
function appendVaried(s: FindingsStore, t0: number): void {
  const severities = ['low', 'medium', 'high', 'critical'] as const;
  for (let i = 0; i < 10; i++) {
    s.append(
      makeFinding({
        id: `f${i}`,
        timestamp: new Date(t0 + i * 1000).toISOString(),
        severity: severities[i % 4]!,
        threat_type: i < 5 ? 'EXFIL' : 'INJECTION',
        direction: i < 5 ? 'outbound' : 'inbound',
        pattern: i < 5 ? 'github_token' : 'pipe_to_shell',
        group: i % 3 === 0 ? 'alpha' : 'beta',
      }),
    );
  }
}

describe('FindingsStore: appends', () => {
  it('round-trips findings through the file, one JSON object per line, mode 0600 in a 0700 directory', async () => {
    file = path.join(dir, 'home', 'findings.jsonl');
    const s = store();
    const a = makeFinding({ id: 'a', group: 'main', method: 'POST', path: '/v1', offset: 12, encoding: 'gzip' });
    const b = makeFinding({ id: 'b', threat_type: 'INJECTION', direction: 'inbound', untrusted: true });
    s.append(a);
    s.append(b);
    await s.flush();
    expect(s.written).toBe(2);
    expect(s.dropped).toBe(0);
    expect(s.degraded).toBe(false);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    const lines = linesOf(file);
    expect(lines).toHaveLength(2);
    expect(lines.map((l) => FindingSchema.parse(JSON.parse(l)))).toEqual([a, b]);
    expect(readFileSync(file, 'utf8').endsWith('\n')).toBe(true);
    expect(await s.query(q())).toEqual([b, a]);
  });

  it('recreates a log deleted or moved away under the running store', async () => {
    const s = store();
    s.append(makeFinding({ id: 'first' }));
    await s.flush();
    rmSync(file);
    s.append(makeFinding({ id: 'second' }));
    await s.flush();
    expect(ids(await s.query(q()))).toEqual(['second']);
    const moved = path.join(dir, 'archived.jsonl');
    renameSync(file, moved);
    s.append(makeFinding({ id: 'third' }));
    await s.flush();
    expect(ids(await s.query(q()))).toEqual(['third']);
    expect(linesOf(moved)).toHaveLength(1);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('tightens an existing log file with looser permissions to 0600', async () => {
    writeFileSync(file, `${JSON.stringify(makeFinding({ id: 'old' }))}\n`, { mode: 0o644 });
    chmodSync(file, 0o644);
    const s = store();
    s.append(makeFinding({ id: 'new' }));
    await s.flush();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(ids(await s.query(q()))).toEqual(['new', 'old']);
  });

  it('writes 1000 appends from a tight loop, all of them, in order', async () => {
    const s = store();
    for (let i = 0; i < 1000; i++) s.append(makeFinding({ id: `n${i}` }));
    await s.flush();
    expect(s.written).toBe(1000);
    expect(s.dropped).toBe(0);
    expect(linesOf(file).map((l) => (JSON.parse(l) as Finding).id)).toEqual(
      Array.from({ length: 1000 }, (_, i) => `n${i}`),
    );
    const newest = await s.query(q({ limit: 500 }));
    expect(ids(newest)).toEqual(Array.from({ length: 500 }, (_, i) => `n${999 - i}`));
  });

  it('drops invalid records without writing them and never throws', async () => {
    const s = store();
    const bad: unknown[] = [
      { ...makeFinding(), severity: 'extreme' },
      { ...makeFinding(), extra_field: 'x' },
      { ...makeFinding(), schema_version: 'v0' },
      { ...makeFinding(), id: '' },
      { ...makeFinding(), timestamp: 'yesterday' },
      (({ snippet: _s, ...rest }) => rest)(makeFinding()),
      null,
      undefined,
      'a string',
      42,
    ];
    s.append(makeFinding({ id: 'good1' }));
    for (const b of bad) expect(() => s.append(b as Finding)).not.toThrow();
    s.append(makeFinding({ id: 'good2' }));
    await s.flush();
    expect(s.dropped).toBe(bad.length);
    expect(s.written).toBe(2);
    expect(s.degraded).toBe(false); // an invalid record is not a write failure
    expect(linesOf(file).map((l) => (JSON.parse(l) as Finding).id)).toEqual(['good1', 'good2']);
    expect(ids(s.recent(50))).toEqual(['good2', 'good1']);
  });

  it('keeps a bounded ring of recent accepted findings, newest first', async () => {
    const s = store({ recentSize: 3 });
    for (let i = 0; i < 5; i++) s.append(makeFinding({ id: `r${i}` }));
    expect(ids(s.recent(10))).toEqual(['r4', 'r3', 'r2']);
    expect(ids(s.recent(2))).toEqual(['r4', 'r3']);
    expect(s.recent(0)).toEqual([]);
    expect(s.recent(-1)).toEqual([]);
    await s.flush();
  });

  it('stores a copy: mutating an appended object afterwards changes neither the ring nor the file', async () => {
    const s = store();
    const f = makeFinding({ id: 'orig', snippet: 'before' });
    s.append(f);
    f.snippet = 'after';
    await s.flush();
    expect(s.recent(1)[0]!.snippet).toBe('before');
    expect((await s.query(q()))[0]!.snippet).toBe('before');
  });

  it('flush resolves at once with nothing queued; close flushes, is idempotent, and later appends are dropped', async () => {
    const s = store();
    await s.flush();
    s.append(makeFinding({ id: 'last' }));
    await s.close();
    await s.close();
    expect(s.written).toBe(1);
    s.append(makeFinding({ id: 'too-late' }));
    await s.flush();
    expect(s.dropped).toBe(1);
    expect(ids(await readFindings(file, q()))).toEqual(['last']);
  });

  it('bounds the queue behind a slow writer: drops beyond it and counts them', async () => {
    const s = store({ maxQueue: 10 });
    for (let i = 0; i < 100; i++) s.append(makeFinding({ id: `q${i}` }));
    await s.flush();
    expect(s.written + s.dropped).toBe(100);
    expect(s.dropped).toBeGreaterThan(0);
    expect(s.written).toBeGreaterThanOrEqual(10);
    const kept = linesOf(file).map((l) => Number((JSON.parse(l) as Finding).id.slice(1)));
    expect(kept).toHaveLength(s.written);
    expect([...kept].sort((a, b) => a - b)).toEqual(kept); // still in order
  });
});

describe('FindingsStore: queries', () => {
  it('returns newest first and applies every filter and the limit', async () => {
    const s = store();
    const t0 = Date.now() - 60_000;
    appendVaried(s, t0);
    await s.flush();
    expect(ids(await s.query(q()))).toEqual(['f9', 'f8', 'f7', 'f6', 'f5', 'f4', 'f3', 'f2', 'f1', 'f0']);
    expect(ids(await s.query(q({ limit: 3 })))).toEqual(['f9', 'f8', 'f7']);
    // severity is a minimum: high returns high and critical
    expect(ids(await s.query(q({ severity: 'high' })))).toEqual(['f7', 'f6', 'f3', 'f2']);
    expect(ids(await s.query(q({ severity: 'critical' })))).toEqual(['f7', 'f3']);
    expect((await s.query(q({ severity: 'low' }))).length).toBe(10);
    expect(ids(await s.query(q({ threat_type: 'INJECTION' })))).toEqual(['f9', 'f8', 'f7', 'f6', 'f5']);
    expect(ids(await s.query(q({ direction: 'outbound' })))).toEqual(['f4', 'f3', 'f2', 'f1', 'f0']);
    expect(ids(await s.query(q({ pattern: 'pipe_to_shell', limit: 2 })))).toEqual(['f9', 'f8']);
    expect(ids(await s.query(q({ pattern: 'no_such_rule' })))).toEqual([]);
    expect(ids(await s.query(q({ group: 'alpha' })))).toEqual(['f9', 'f6', 'f3', 'f0']);
    const since = new Date(t0 + 7500).toISOString();
    expect(ids(await s.query(q({ since })))).toEqual(['f9', 'f8']);
    expect(ids(await s.query(q({ since: since.replace('Z', '+00:00') })))).toEqual(['f9', 'f8']);
    expect(ids(await s.query(q({ since: new Date(t0 + 7000).toISOString() })))).toEqual(['f9', 'f8', 'f7']);
    expect(
      ids(await s.query(q({ threat_type: 'EXFIL', direction: 'outbound', severity: 'medium', group: 'beta' }))),
    ).toEqual(['f2', 'f1']);
  });

  it('readFindings reads without a store, and a missing log is simply empty', async () => {
    expect(await readFindings(file, q())).toEqual([]);
    const s = store();
    appendVaried(s, Date.now() - 60_000);
    await s.close();
    const st = stats();
    expect(ids(await readFindings(file, q({ group: 'beta', limit: 2 }), st))).toEqual(['f8', 'f7']);
    expect(st).toEqual({ malformed: 0, files: 1 });
  });

  it('reads lines that straddle 64 KiB block boundaries exactly', async () => {
    const s = store();
    const all: Finding[] = [];
    for (let i = 0; i < 300; i++) {
      // 1..2048-char snippets with multi-byte characters, so lines and characters split across blocks
      const snippet = `${'é€'.repeat((i * 37) % 1000)}#${i}`.slice(0, 2048);
      const f = makeFinding({ id: `b${i}`, snippet });
      all.push(f);
      s.append(f);
    }
    await s.flush();
    expect(statSync(file).size).toBeGreaterThan(3 * 64 * KIB);
    const st = stats();
    expect(await s.query(q({ limit: 500 }), st)).toEqual(all.reverse());
    expect(st.malformed).toBe(0);
  });
});

describe('FindingsStore: rotation and retention', () => {
  it('rotates before the size bound, keeps maxFiles rotated files, and queries across them', async () => {
    const s = store({ maxFileBytes: 64 * KIB, maxFiles: 2 });
    for (let i = 0; i < 2000; i++) s.append(makeFinding({ id: `r${i}` }));
    await s.flush();
    expect(s.written).toBe(2000);
    expect(readdirSync(dir).sort()).toEqual(['findings.jsonl', 'findings.jsonl.1', 'findings.jsonl.2']);
    let total = 0;
    for (const name of readdirSync(dir)) {
      const size = statSync(path.join(dir, name)).size;
      expect(size).toBeLessThanOrEqual(64 * KIB);
      expect(statSync(path.join(dir, name)).mode & 0o777).toBe(0o600);
      total += size;
    }
    expect(total).toBeLessThanOrEqual((2 + 1) * 64 * KIB);
    // The rotated files are full (the next line did not fit) and every line is whole.
    for (const name of ['findings.jsonl.1', 'findings.jsonl.2']) {
      const text = readFileSync(path.join(dir, name), 'utf8');
      expect(text.endsWith('\n')).toBe(true);
      expect(64 * KIB - Buffer.byteLength(text)).toBeLessThan(Buffer.byteLength(text.split('\n')[0]!) + 2);
    }
    // What is on disk is the newest, consecutive, oldest in .2; the older ones are gone.
    const onDisk = readdirSync(dir).reduce((n, name) => n + linesOf(path.join(dir, name)).length, 0);
    expect(onDisk).toBeLessThan(2000);
    expect((JSON.parse(linesOf(`${file}.2`)[0]!) as Finding).id).toBe(`r${2000 - onDisk}`);
    // 500 newest first span all three files (the live file and .1 hold fewer), consecutive across them.
    const st = stats();
    const found = await store().query(q({ limit: 500 }), st);
    expect(linesOf(file).length + linesOf(`${file}.1`).length).toBeLessThan(500);
    expect(st.files).toBe(3);
    expect(ids(found)).toEqual(Array.from({ length: 500 }, (_, i) => `r${1999 - i}`));
    // A limit that ends inside the live file reads nothing more.
    const few = stats();
    expect(ids(await s.query(q({ limit: 5 }), few))).toEqual(['r1999', 'r1998', 'r1997', 'r1996', 'r1995']);
    expect(few.files).toBe(1);
  });

  it('keeps the bound across restarts: a new store continues the live file and rotates it', async () => {
    for (let round = 0; round < 4; round++) {
      const s = store({ maxFileBytes: 64 * KIB, maxFiles: 2 });
      for (let i = 0; i < 150; i++) s.append(makeFinding({ id: `k${round}-${i}` }));
      await s.close();
    }
    const names = readdirSync(dir).sort();
    expect(names).toEqual(['findings.jsonl', 'findings.jsonl.1', 'findings.jsonl.2']);
    for (const name of names) expect(statSync(path.join(dir, name)).size).toBeLessThanOrEqual(64 * KIB);
    expect((await readFindings(file, q()))[0]!.id).toBe('k3-149');
  });

  it('at open, deletes rotated files beyond maxFiles; queries tolerate gaps in the numbering', async () => {
    const line = (id: string) => `${JSON.stringify(makeFinding({ id }))}\n`;
    writeFileSync(file, line('live'));
    writeFileSync(`${file}.1`, line('one'));
    writeFileSync(`${file}.3`, line('three')); // .2 missing
    writeFileSync(`${file}.4`, line('four'));
    writeFileSync(`${file}.5`, line('five'));
    writeFileSync(`${file}.bak`, line('not-a-rotated-file'));
    expect(ids(await readFindings(file, q()))).toEqual(['live', 'one', 'three', 'four', 'five']);
    store({ maxFiles: 3 });
    expect(existsSync(`${file}.4`)).toBe(false);
    expect(existsSync(`${file}.5`)).toBe(false);
    expect(existsSync(`${file}.bak`)).toBe(true);
    expect(ids(await readFindings(file, q()))).toEqual(['live', 'one', 'three']);
  });

  it('at open, deletes rotated files older than retentionDays and keeps the rest', async () => {
    const s = store({ maxFileBytes: 64 * KIB, maxFiles: 4 });
    for (let i = 0; i < 1000; i++) s.append(makeFinding());
    await s.close();
    expect(readdirSync(dir)).toHaveLength(5);
    backdate(`${file}.3`, 40);
    backdate(`${file}.4`, 45);
    backdate(`${file}.2`, 29);
    store({ maxFileBytes: 64 * KIB, maxFiles: 4, retentionDays: 30 });
    expect(readdirSync(dir).sort()).toEqual(['findings.jsonl', 'findings.jsonl.1', 'findings.jsonl.2']);
  });

  it('at each rotation, deletes rotated files older than retentionDays', async () => {
    const s = store({ maxFileBytes: 64 * KIB, maxFiles: 4, retentionDays: 7 });
    for (let i = 0; i < 250; i++) s.append(makeFinding());
    await s.flush();
    expect(existsSync(`${file}.1`)).toBe(true);
    backdate(`${file}.1`, 8);
    for (let i = 0; i < 250; i++) s.append(makeFinding());
    await s.flush();
    // The old .1 became .2 at the next rotation and was pruned there; the new .1 is fresh.
    expect(existsSync(`${file}.1`)).toBe(true);
    expect(existsSync(`${file}.2`)).toBe(false);
  });

  it('retentionDays 0 keeps rotated files by count only, however old', async () => {
    const s = store({ maxFileBytes: 64 * KIB, maxFiles: 2, retentionDays: 0 });
    for (let i = 0; i < 500; i++) s.append(makeFinding());
    await s.close();
    backdate(`${file}.1`, 3000);
    backdate(`${file}.2`, 3000);
    store({ maxFileBytes: 64 * KIB, maxFiles: 2, retentionDays: 0 });
    expect(readdirSync(dir).sort()).toEqual(['findings.jsonl', 'findings.jsonl.1', 'findings.jsonl.2']);
  });

  it('skips a rotated file last modified long before `since` without reading it', async () => {
    const s = store({ maxFileBytes: 64 * KIB, maxFiles: 2, retentionDays: 0 });
    for (let i = 0; i < 600; i++) s.append(makeFinding({ id: `rotated${i}` }));
    await s.flush();
    // Their mtime says ten days old, so they cannot hold anything from the last day: not read at all
    // (the fresh timestamps inside, impossible in a real log, show that they were skipped, not filtered).
    backdate(`${file}.1`, 10);
    backdate(`${file}.2`, 10);
    rmSync(file);
    s.append(makeFinding({ id: 'fresh' }));
    await s.flush();
    const st = stats();
    expect(ids(await s.query(q({ since: new Date(Date.now() - DAY_MS).toISOString() }), st))).toEqual(['fresh']);
    expect(st.files).toBe(3);
  });
});

describe('FindingsStore: damaged logs', () => {
  it('skips and counts a torn last line from a crash', async () => {
    const s = store();
    s.append(makeFinding({ id: 'good' }));
    await s.flush();
    appendFileSync(file, '{"schema_version":"clawsec-traffic-fin');
    const st = stats();
    expect(ids(await s.query(q(), st))).toEqual(['good']);
    expect(st.malformed).toBe(1);
  });

  it('after a torn last line, the next finding starts on a line of its own and is not lost', async () => {
    writeFileSync(file, `${JSON.stringify(makeFinding({ id: 'before' }))}\n{"schema_version":"claw`);
    const s = store();
    s.append(makeFinding({ id: 'after' }));
    await s.flush();
    const st = stats();
    expect(ids(await s.query(q(), st))).toEqual(['after', 'before']);
    expect(st.malformed).toBe(1);
  });

  it('skips and counts garbage, foreign JSON, invalid records and overlong lines; ignores blank lines', async () => {
    const good = (id: string) => JSON.stringify(makeFinding({ id }));
    writeFileSync(
      file,
      [
        good('g1'),
        'not json at all',
        '{"some":"other record"}',
        JSON.stringify({ ...makeFinding(), severity: 'extreme' }),
        '',
        `{"snippet":"${'x'.repeat(300 * KIB)}"}`,
        good('g2'),
        '   ',
        '[1,2,3]',
        good('g3'),
        '',
      ].join('\n'),
    );
    const st = stats();
    expect(ids(await readFindings(file, q(), st))).toEqual(['g3', 'g2', 'g1']);
    expect(st.malformed).toBe(5);
  });
});

describe('FindingsStore: failing writes', () => {
  it('when the log path is a directory (EISDIR): counts dropped, degrades, never throws, recovers', async () => {
    const s = store();
    mkdirSync(file);
    expect(() => s.append(makeFinding({ id: 'lost1' }))).not.toThrow();
    expect(() => s.append(makeFinding({ id: 'lost2' }))).not.toThrow();
    await s.flush();
    expect(s.dropped).toBe(2);
    expect(s.written).toBe(0);
    expect(s.degraded).toBe(true);
    expect(s.lastError).toMatch(/EISDIR|directory/i);
    expect(s.lastError).not.toMatch(/\n\s+at /); // a message, not a stack
    expect(ids(s.recent(5))).toEqual(['lost2', 'lost1']); // accepted findings stay visible to status
    expect(await s.query(q())).toEqual([]); // a directory where the log should be is no log

    s.append(makeFinding({ id: 'lost3' }));
    await s.flush();
    expect(s.dropped).toBe(3);
    expect(s.degraded).toBe(true);

    rmSync(file, { recursive: true });
    s.append(makeFinding({ id: 'kept' }));
    await s.flush();
    expect(s.degraded).toBe(false);
    expect(s.lastError).toBeUndefined();
    expect(s.written).toBe(1);
    expect(s.dropped).toBe(3);
    expect(ids(await s.query(q()))).toEqual(['kept']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('when the log directory is a file (ENOTDIR/EEXIST): counts dropped, degrades, recovers once fixed', async () => {
    const blocker = path.join(dir, 'home');
    writeFileSync(blocker, 'not a directory');
    file = path.join(blocker, 'findings.jsonl');
    const s = store();
    expect(() => s.append(makeFinding({ id: 'lost' }))).not.toThrow();
    await s.flush();
    expect(s.dropped).toBe(1);
    expect(s.degraded).toBe(true);
    expect(s.lastError).toMatch(/ENOTDIR|EEXIST|not a directory|exists/i);
    rmSync(blocker);
    s.append(makeFinding({ id: 'kept' }));
    await s.flush();
    expect(s.degraded).toBe(false);
    expect(ids(await s.query(q()))).toEqual(['kept']);
  });

  it('when rotation fails mid-batch: what fit is written, the rest counted once, recovery once fixed', async () => {
    const s2 = store({ maxFileBytes: 64 * KIB, maxFiles: 1 });
    mkdirSync(`${file}.1`); // a directory where the oldest rotated file goes: rotation cannot delete it
    writeFileSync(`${file}.1/keep`, 'x');
    for (let i = 0; i < 400; i++) s2.append(makeFinding({ id: `x${i}` }));
    await s2.flush();
    expect(s2.degraded).toBe(true);
    expect(s2.written).toBeGreaterThan(0); // what fit before the failed rotation was written...
    expect(s2.written + s2.dropped).toBe(400); // ...and the rest counted, none twice
    rmSync(`${file}.1`, { recursive: true });
    s2.append(makeFinding({ id: 'back' }));
    await s2.flush();
    expect(s2.degraded).toBe(false);
    expect((await s2.query(q()))[0]!.id).toBe('back');
  });
});

// Merged from store.test.ts: the same store seen end to end (filters, rotation, retention, torn lines,
// a failing write, a tight loop), every assertion kept.
describe('FindingsStore: end to end', () => {
  it('appends durably with mode 0600 and reads newest first with filters', async () => {
    const s = store();
    const t0 = Date.now() - 10_000;
    for (let i = 0; i < 10; i++) {
      s.append(
        makeFinding({
          id: `f${i}`,
          timestamp: new Date(t0 + i * 1000).toISOString(),
          severity: i % 2 ? 'high' : 'low',
          threat_type: i < 5 ? 'EXFIL' : 'INJECTION',
          direction: i < 5 ? 'outbound' : 'inbound',
          pattern: i < 5 ? 'github_token' : 'pipe_to_shell',
          group: i % 3 === 0 ? 'alpha' : 'beta',
        }),
      );
    }
    await s.flush();
    expect(statSync(path.join(dir, 'findings.jsonl')).mode & 0o777).toBe(0o600);
    expect((await s.query(q())).map((f) => f.id)).toEqual(['f9', 'f8', 'f7', 'f6', 'f5', 'f4', 'f3', 'f2', 'f1', 'f0']);
    expect((await s.query(q({ limit: 3 }))).map((f) => f.id)).toEqual(['f9', 'f8', 'f7']);
    expect((await s.query(q({ severity: 'high' }))).every((f) => f.severity === 'high')).toBe(true);
    expect((await s.query(q({ threat_type: 'INJECTION' }))).map((f) => f.id)).toEqual(['f9', 'f8', 'f7', 'f6', 'f5']);
    expect((await s.query(q({ direction: 'outbound', pattern: 'github_token' }))).length).toBe(5);
    expect((await s.query(q({ group: 'alpha' }))).map((f) => f.id)).toEqual(['f9', 'f6', 'f3', 'f0']);
    expect((await s.query(q({ since: new Date(t0 + 7500).toISOString() }))).map((f) => f.id)).toEqual(['f9', 'f8']);
    await s.close();
  });

  it('keeps the rotation bound and reads across rotated files', async () => {
    const s = store({ maxFileBytes: 64 * 1024, maxFiles: 2 });
    for (let i = 0; i < 1500; i++) s.append(makeFinding({ id: `r${i}` }));
    await s.close();
    const files = readdirSync(dir).sort();
    expect(files).toEqual(['findings.jsonl', 'findings.jsonl.1', 'findings.jsonl.2']);
    for (const f of files) expect(statSync(path.join(dir, f)).size).toBeLessThanOrEqual(64 * 1024);
    // Three 64 KiB files hold a few hundred findings; the newest 300 span the live file and .1 (and .2).
    const newest = await store({ maxFileBytes: 64 * 1024, maxFiles: 2 }).query(q({ limit: 300 }));
    expect(newest.map((f) => f.id)).toEqual(Array.from({ length: 300 }, (_, i) => `r${1499 - i}`));
  });

  it('prunes rotated files older than the retention', async () => {
    const s = store({ maxFileBytes: 64 * 1024, maxFiles: 3 });
    for (let i = 0; i < 1000; i++) s.append(makeFinding());
    await s.close();
    const old = path.join(dir, 'findings.jsonl.2');
    expect(existsSync(old)).toBe(true);
    const past = (Date.now() - 40 * 86_400_000) / 1000;
    utimesSync(old, past, past);
    const s2 = store({ maxFileBytes: 64 * 1024, maxFiles: 3, retentionDays: 30 });
    expect(existsSync(old)).toBe(false);
    expect(existsSync(path.join(dir, 'findings.jsonl.1'))).toBe(true);
    await s2.close();
  });

  it('skips a torn last line and drops invalid records without writing them', async () => {
    const s = store();
    s.append(makeFinding({ id: 'good' }));
    s.append({ ...makeFinding(), severity: 'extreme' } as never);
    await s.flush();
    expect(s.dropped).toBe(1);
    appendFileSync(path.join(dir, 'findings.jsonl'), '{"schema_version":"clawsec-traffic-fin');
    expect((await s.query(q())).map((f) => f.id)).toEqual(['good']);
    await s.close();
  });

  it('counts a failing write, reports degraded, never throws, and recovers', async () => {
    const s = store();
    mkdirSync(path.join(dir, 'findings.jsonl')); // the log path is a directory: every open fails
    expect(() => s.append(makeFinding({ id: 'lost' }))).not.toThrow();
    await s.flush();
    expect(s.dropped).toBe(1);
    expect(s.degraded).toBe(true);
    expect(s.lastError).toMatch(/EISDIR|directory/i);
    expect(s.recent(5).map((f) => f.id)).toEqual(['lost']); // still visible to status
    rmSync(path.join(dir, 'findings.jsonl'), { recursive: true });
    s.append(makeFinding({ id: 'kept' }));
    await s.flush();
    expect(s.degraded).toBe(false);
    expect((await s.query(q())).map((f) => f.id)).toEqual(['kept']);
    await s.close();
  });

  it('writes 2000 appends from a tight loop, all of them, in order', async () => {
    const s = store();
    for (let i = 0; i < 2000; i++) s.append(makeFinding({ id: `n${i}` }));
    await s.close();
    expect(s.written).toBe(2000);
    const all = await store().query(q({ limit: 500 }));
    expect(all[0]!.id).toBe('n1999');
    expect(all[499]!.id).toBe('n1500');
  });
});
