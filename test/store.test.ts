// The findings log on real files: ordering, filters, rotation bound, reading across rotated files,
// torn lines, and a failing write that never throws and recovers.
import { afterEach, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FindingsStore } from '../host-services/findings-store.js';
import { FindingsQuerySchema } from '../lib/findings-query.js';
import { makeFinding } from './support/findings.js';

let dir: string;
const q = (over: Record<string, unknown> = {}) => FindingsQuerySchema.parse(over);
function store(over: Partial<ConstructorParameters<typeof FindingsStore>[0]> = {}) {
  dir ??= mkdtempSync(path.join(os.tmpdir(), 'tg-st-'));
  return new FindingsStore({
    file: path.join(dir, 'findings.jsonl'),
    maxFileBytes: 10 * 1024 * 1024,
    maxFiles: 5,
    retentionDays: 30,
    ...over,
  });
}

afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined as unknown as string;
});

describe('FindingsStore', () => {
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
