// The findings log: one JSON object per line in <home>/findings.jsonl, appended in order and synced,
// rotated at a size bound into findings.jsonl.1..N, older rotated files pruned by count and age.
// A write failure (disk full, permissions) never reaches the proxy: it is counted, the service shows
// as degraded, and the next batch tries again.
import { promises as fsp, existsSync, statSync, readdirSync, unlinkSync, renameSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { FindingSchema, type Finding } from '../lib/finding-schema.js';
import { matchesQuery, type FindingsQuery } from '../lib/findings-query.js';

export interface FindingsStoreOptions {
  file: string;
  maxFileBytes: number;
  maxFiles: number;
  retentionDays: number;
  /** Newest findings kept in memory for status answers. */
  recentSize?: number;
}

const READ_BLOCK = 64 * 1024;

export class FindingsStore {
  written = 0;
  dropped = 0;
  lastError: string | undefined;
  private degraded_ = false;
  private queue: string[] = [];
  private fd: fsp.FileHandle | null = null;
  private size = 0;
  private writing: Promise<void> | null = null;
  private closed = false;
  /**
   * Newest accepted findings, newest last. Accepted means valid: a finding whose write later fails is
   * still here, so `status` can show what was seen even while the log is not writable.
   */
  private readonly ring: Finding[] = [];
  private readonly recentSize: number;

  constructor(private readonly opts: FindingsStoreOptions) {
    this.recentSize = opts.recentSize ?? 50;
    this.prune();
  }

  get degraded(): boolean {
    return this.degraded_;
  }

  append(f: Finding): void {
    if (this.closed || !FindingSchema.safeParse(f).success) {
      this.dropped++;
      return;
    }
    this.ring.push(f);
    if (this.ring.length > this.recentSize) this.ring.shift();
    this.queue.push(`${JSON.stringify(f)}\n`);
    this.kick();
  }

  recent(n: number): Finding[] {
    return this.ring.slice(-n).reverse();
  }

  private kick(): void {
    if (this.writing) return;
    this.writing = this.drain().finally(() => {
      this.writing = null;
      if (this.queue.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const lines = this.queue;
      this.queue = [];
      try {
        await this.writeBatch(lines);
        this.written += lines.length;
        this.degraded_ = false;
        this.lastError = undefined;
      } catch (err) {
        this.dropped += lines.length;
        this.degraded_ = true;
        this.lastError = (err as Error).message;
        await this.closeFd();
      }
    }
  }

  private async open(): Promise<fsp.FileHandle> {
    if (this.fd) return this.fd;
    mkdirSync(path.dirname(this.opts.file), { recursive: true, mode: 0o700 });
    const fd = await fsp.open(this.opts.file, 'a', 0o600);
    this.size = (await fd.stat()).size;
    this.fd = fd;
    return fd;
  }

  private async writeBatch(lines: string[]): Promise<void> {
    let pending = lines;
    while (pending.length > 0) {
      let fd = await this.open();
      // Take as many lines as fit before the bound; rotate first if even one would not.
      let bytes = 0;
      let n = 0;
      for (const l of pending) {
        const b = Buffer.byteLength(l);
        if (this.size + bytes + b > this.opts.maxFileBytes && (this.size > 0 || n > 0)) break;
        bytes += b;
        n++;
      }
      if (n === 0) {
        await this.rotate();
        fd = await this.open();
        continue;
      }
      await fd.write(pending.slice(0, n).join(''));
      await fd.datasync();
      this.size += bytes;
      pending = pending.slice(n);
    }
  }

  private async rotate(): Promise<void> {
    await this.closeFd();
    const f = this.opts.file;
    const max = this.opts.maxFiles;
    if (existsSync(`${f}.${max}`)) unlinkSync(`${f}.${max}`);
    for (let i = max - 1; i >= 1; i--) if (existsSync(`${f}.${i}`)) renameSync(`${f}.${i}`, `${f}.${i + 1}`);
    if (existsSync(f)) renameSync(f, `${f}.1`);
    this.prune();
  }

  /** Deletes rotated files beyond the count or older than the retention. Never throws. */
  private prune(): void {
    try {
      const dir = path.dirname(this.opts.file);
      const base = path.basename(this.opts.file);
      if (!existsSync(dir)) return;
      const cutoff = Date.now() - this.opts.retentionDays * 86_400_000;
      for (const name of readdirSync(dir)) {
        const m = name.startsWith(`${base}.`) ? /^(\d+)$/.exec(name.slice(base.length + 1)) : null;
        if (!m) continue;
        const full = path.join(dir, name);
        const tooMany = Number(m[1]) > this.opts.maxFiles;
        const tooOld = this.opts.retentionDays > 0 && statSync(full).mtimeMs < cutoff;
        if (tooMany || tooOld) unlinkSync(full);
      }
    } catch {
      // pruning is best effort; the size bound still holds through rotation
    }
  }

  private async closeFd(): Promise<void> {
    const fd = this.fd;
    this.fd = null;
    if (fd) await fd.close().catch(() => undefined);
  }

  /** Resolves when everything appended so far is written (or counted as dropped). */
  async flush(): Promise<void> {
    while (this.writing || this.queue.length > 0) {
      if (!this.writing) this.kick();
      await this.writing;
    }
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.closeFd();
  }

  query(q: FindingsQuery): Promise<Finding[]> {
    return readFindings(this.opts.file, q, this.opts.maxFiles);
  }
}

/** The log and its rotated files, newest first. */
export function logFiles(file: string, maxFiles = 100): string[] {
  const out = [file];
  for (let i = 1; i <= maxFiles; i++) {
    if (!existsSync(`${file}.${i}`)) break;
    out.push(`${file}.${i}`);
  }
  return out.filter((f) => existsSync(f));
}

/** Lines of a file from last to first, read backwards in 64 KiB blocks (never the whole file). */
export async function* linesBackward(file: string): AsyncGenerator<string> {
  const fd = await fsp.open(file, 'r');
  try {
    let pos = (await fd.stat()).size;
    let carry = Buffer.alloc(0);
    while (pos > 0) {
      const len = Math.min(READ_BLOCK, pos);
      pos -= len;
      const block = Buffer.alloc(len);
      await fd.read(block, 0, len, pos);
      let buf = Buffer.concat([block, carry]);
      let end = buf.length;
      for (let i = buf.length - 1; i >= 0; i--) {
        if (buf[i] === 0x0a) {
          if (end > i + 1) yield buf.subarray(i + 1, end).toString('utf8');
          end = i;
        }
      }
      carry = Buffer.from(buf.subarray(0, end));
      buf = Buffer.alloc(0);
      // A single line longer than 1 MiB is not a finding; drop it rather than grow without bound.
      if (carry.length > 1024 * 1024) carry = Buffer.alloc(0);
    }
    if (carry.length > 0) yield carry.toString('utf8');
  } finally {
    await fd.close();
  }
}

export function parseFindingLine(line: string): Finding | null {
  try {
    const r = FindingSchema.safeParse(JSON.parse(line));
    return r.success ? r.data : null;
  } catch {
    return null; // a torn line from a crash
  }
}

/** Reads findings newest first across the log and its rotated files, applying the query. */
export async function readFindings(file: string, q: FindingsQuery, maxFiles = 100): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const f of logFiles(file, maxFiles)) {
    for await (const line of linesBackward(f)) {
      const finding = parseFindingLine(line);
      if (finding && matchesQuery(finding, q)) {
        out.push(finding);
        if (out.length >= q.limit) return out;
      }
    }
  }
  return out;
}
