// The findings log: one JSON object per line in <home>/findings.jsonl, appended in order and synced,
// rotated at a size bound into findings.jsonl.1..N, older rotated files pruned by count and age.
// A write failure (disk full, permissions) never reaches the proxy: it is counted, the service shows
// as degraded, and the next batch tries again.
import { promises as fsp, constants as fsConstants, existsSync, lstatSync, readdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { openNoFollowAsync, refuseSymlink } from './home.js';
import { FindingSchema, type Finding } from '../lib/finding-schema.js';
import { matchesQuery, type FindingsQuery } from '../lib/findings-query.js';

export interface FindingsStoreOptions {
  file: string;
  /** The live file is rotated before a write would take it past this size. */
  maxFileBytes: number;
  /** Rotated files kept (findings.jsonl.1..maxFiles); older ones are deleted. */
  maxFiles: number;
  /** Rotated files older than this are deleted at open and at each rotation; 0 keeps them by count only. */
  retentionDays: number;
  /** Newest findings kept in memory for status answers (default 50). */
  recentSize?: number;
  /** Lines waiting for the writer beyond which new findings are dropped, so a stalled disk cannot grow memory (default 10 000). */
  maxQueue?: number;
}

/** What a read skipped; filled in by `readFindings` and `FindingsStore.query` when passed. */
export interface ReadStats {
  /** Lines that were not a valid finding: a torn line from a crash, a foreign or oversized line. */
  malformed: number;
  /** Log files found and opened (including ones skipped as older than `since`). */
  files: number;
}

const READ_BLOCK = 64 * 1024;
/** A finding serialises to well under this; a longer line is skipped (counted malformed), never buffered whole. */
const MAX_LINE_BYTES = 256 * 1024;
const DAY_MS = 86_400_000;
/** How far a file's mtime may lag the timestamps written into it (coarse kernel clocks, 2 s FAT granularity). */
const MTIME_SLACK_MS = 60_000;

export class FindingsStore {
  /** Findings durably appended (written and datasynced). */
  written = 0;
  /** Findings not written: invalid records, a failed batch, a full queue, appends after close. */
  dropped = 0;
  /** Message of the last write failure; cleared by the next successful batch. */
  lastError: string | undefined;
  private degraded_ = false;
  private queue: string[] = [];
  /** Lines ever queued, and lines written or dropped after being queued: flush() waits on these. */
  private queued = 0;
  private settled = 0;
  private waiters: { target: number; resolve: () => void }[] = [];
  private running = false;
  private fd: fsp.FileHandle | null = null;
  private size = 0;
  private ino = -1;
  /** The live file does not end in a newline (a torn line from a crash or a short write): start with one. */
  private needsNewline = false;
  private closed = false;
  /**
   * Newest accepted findings, newest last. Accepted means valid: a finding whose write later fails is
   * still here, so `status` can show what was seen even while the log is not writable.
   */
  private readonly ring: Finding[] = [];
  private readonly recentSize: number;
  private readonly maxQueue: number;

  constructor(private readonly opts: FindingsStoreOptions) {
    this.recentSize = Math.max(0, opts.recentSize ?? 50);
    this.maxQueue = Math.max(1, opts.maxQueue ?? 10_000);
    // A link planted as the log or a rotated file is refused at start (and at every open, below).
    refuseSymlink(opts.file);
    for (const r of rotatedFiles(opts.file)) refuseSymlink(r.path);
    this.prune();
  }

  /** True while the last write failed. */
  get degraded(): boolean {
    return this.degraded_;
  }

  /** Validates and queues a finding for the writer. Never throws, never waits for the disk. */
  append(f: Finding): void {
    try {
      const r = FindingSchema.safeParse(f);
      if (this.closed || !r.success || this.queue.length >= this.maxQueue) {
        this.dropped++;
        return;
      }
      const line = `${JSON.stringify(r.data)}\n`;
      if (this.recentSize > 0) {
        this.ring.push(r.data);
        if (this.ring.length > this.recentSize) this.ring.shift();
      }
      this.queue.push(line);
      this.queued++;
      this.kick();
    } catch {
      this.dropped++; // nothing a caller hands in may throw out of here
    }
  }

  /** Up to n of the newest accepted findings, newest first. */
  recent(n: number): Finding[] {
    const k = Math.floor(n);
    if (!(k > 0)) return [];
    return this.ring.slice(-k).reverse();
  }

  /** Resolves when everything appended so far is written (or counted as dropped). */
  flush(): Promise<void> {
    const target = this.queued;
    if (this.settled >= target) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ target, resolve }));
  }

  /** Stops accepting findings, writes what is queued, closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
    await this.closeFd();
  }

  /** Newest first across the log and its rotated files; malformed lines are skipped (and counted in stats). */
  query(q: FindingsQuery, stats?: ReadStats): Promise<Finding[]> {
    return readFindings(this.opts.file, q, stats);
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    void this.drain()
      .catch(() => undefined)
      .finally(() => {
        this.running = false;
        if (this.queue.length > 0) this.kick();
      });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const lines = this.queue;
      this.queue = [];
      const progress = { n: 0 };
      try {
        await this.writeBatch(lines, progress);
        this.degraded_ = false;
        this.lastError = undefined;
      } catch (err) {
        this.dropped += lines.length - progress.n;
        this.degraded_ = true;
        this.lastError = err instanceof Error ? err.message : String(err);
        await this.closeFd(); // reopen (and re-check the file's end) on the next batch
      }
      this.settled += lines.length;
      this.waiters = this.waiters.filter((w) => {
        if (w.target > this.settled) return true;
        w.resolve();
        return false;
      });
    }
  }

  private async open(): Promise<fsp.FileHandle> {
    const file = this.opts.file;
    if (this.fd) {
      // One stat per batch: a log deleted or moved away (by an operator, by logrotate) is recreated
      // rather than written into an unlinked or renamed file.
      const st = await fsp.lstat(file).catch(() => null);
      if (st?.ino === this.ino) return this.fd;
      await this.closeFd();
    }
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // O_NOFOLLOW: a link put in the log's place is refused, never appended to or chmod-ed through.
    const fd = await openNoFollowAsync(file, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT, 0o600);
    try {
      const st = await fd.stat();
      if (!st.isFile()) throw new Error(`${file} is not a regular file`);
      if (st.mode & 0o077) await fd.chmod(0o600);
      this.size = st.size;
      this.ino = st.ino;
      this.needsNewline = st.size > 0 && (await lastByte(file, st.size)) !== 0x0a;
    } catch (err) {
      await fd.close().catch(() => undefined);
      throw err;
    }
    this.fd = fd;
    return fd;
  }

  private async writeBatch(lines: string[], progress: { n: number }): Promise<void> {
    const max = this.opts.maxFileBytes;
    let i = 0;
    while (i < lines.length) {
      const fd = await this.open();
      const prefix = this.needsNewline ? '\n' : '';
      // Take as many lines as fit under the bound; rotate first if not even one does. A line alone in an
      // empty file is written even if larger (it cannot be with the schema's limits and the 64 KiB minimum).
      let bytes = prefix.length;
      let j = i;
      while (j < lines.length) {
        const b = Buffer.byteLength(lines[j]!);
        if (this.size + bytes + b > max && this.size + bytes + (j - i) > 0) break;
        bytes += b;
        j++;
      }
      if (j === i) {
        await this.rotate();
        continue;
      }
      await writeAll(fd, Buffer.from(prefix + lines.slice(i, j).join('')));
      this.needsNewline = false;
      this.size += bytes;
      await fd.datasync();
      this.written += j - i;
      progress.n += j - i;
      i = j;
    }
  }

  /** findings.jsonl -> .1 -> .2 ... -> .maxFiles (deleted past that), then prune by age. */
  private async rotate(): Promise<void> {
    await this.closeFd();
    const f = this.opts.file;
    const max = this.opts.maxFiles;
    await fsp.rm(`${f}.${max}`, { force: true });
    for (let i = max - 1; i >= 1; i--) await renameIfExists(`${f}.${i}`, `${f}.${i + 1}`);
    await renameIfExists(f, `${f}.1`);
    this.prune();
  }

  /** Deletes rotated files beyond the count or older than the retention. Never throws. */
  private prune(): void {
    const cutoff = Date.now() - this.opts.retentionDays * DAY_MS;
    for (const { path: full, index } of rotatedFiles(this.opts.file)) {
      try {
        const tooMany = index > this.opts.maxFiles;
        const tooOld = this.opts.retentionDays > 0 && lstatSync(full).mtimeMs < cutoff;
        if (tooMany || tooOld) unlinkSync(full);
      } catch {
        // pruning is best effort; the size bound still holds through rotation
      }
    }
  }

  private async closeFd(): Promise<void> {
    const fd = this.fd;
    this.fd = null;
    if (fd) await fd.close().catch(() => undefined);
  }
}

async function writeAll(fd: fsp.FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fd.write(buf, off, buf.length - off);
    if (bytesWritten <= 0) throw new Error('short write');
    off += bytesWritten;
  }
}

async function renameIfExists(from: string, to: string): Promise<void> {
  try {
    await fsp.rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function lastByte(file: string, size: number): Promise<number | undefined> {
  const fh = await openNoFollowAsync(file, fsConstants.O_RDONLY);
  try {
    const b = Buffer.alloc(1);
    const { bytesRead } = await fh.read(b, 0, 1, size - 1);
    return bytesRead === 1 ? b[0] : undefined;
  } finally {
    await fh.close();
  }
}

/** Rotated files present next to the log (`<file>.N`, N ≥ 1), by index; gaps are allowed. */
function rotatedFiles(file: string): { path: string; index: number }[] {
  const dir = path.dirname(file);
  const prefix = `${path.basename(file)}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: { path: string; index: number }[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const suffix = name.slice(prefix.length);
    if (/^[1-9]\d{0,5}$/.test(suffix)) out.push({ path: path.join(dir, name), index: Number(suffix) });
  }
  return out.sort((a, b) => a.index - b.index);
}

/** The log and its rotated files that exist, newest first. */
export function logFiles(file: string): string[] {
  const rotated = rotatedFiles(file).map((r) => r.path);
  return existsSync(file) ? [file, ...rotated] : rotated;
}

/**
 * Lines of an open file from `size` back to the start, read in 64 KiB blocks (never the whole file).
 * Yields null for a line longer than MAX_LINE_BYTES, which is skipped without being buffered.
 */
async function* linesBackwardFrom(fh: fsp.FileHandle, size: number): AsyncGenerator<string | null> {
  let pos = size;
  let carry: Buffer = Buffer.alloc(0);
  let oversize = false; // inside a line already reported as oversized
  while (pos > 0) {
    const len = Math.min(READ_BLOCK, pos);
    pos -= len;
    const block = Buffer.allocUnsafe(len);
    const { bytesRead } = await fh.read(block, 0, len, pos);
    if (bytesRead < len) return; // truncated under us: what is left is no longer this file
    const buf = carry.length > 0 ? Buffer.concat([block, carry]) : block;
    let end = buf.length;
    let nl: number;
    while (end > 0 && (nl = buf.lastIndexOf(0x0a, end - 1)) !== -1) {
      if (oversize) oversize = false;
      else if (end > nl + 1) yield buf.toString('utf8', nl + 1, end);
      end = nl;
    }
    carry = buf.subarray(0, end);
    if (!oversize && carry.length > MAX_LINE_BYTES) {
      oversize = true;
      yield null;
    }
    if (oversize) carry = Buffer.alloc(0);
  }
  if (!oversize && carry.length > 0) yield carry.toString('utf8');
}

/** Lines of a file from last to first, read backwards in 64 KiB blocks; oversized lines are skipped. */
export async function* linesBackward(file: string): AsyncGenerator<string> {
  const fh = await openNoFollowAsync(file, fsConstants.O_RDONLY);
  try {
    for await (const line of linesBackwardFrom(fh, (await fh.stat()).size)) if (line !== null) yield line;
  } finally {
    await fh.close();
  }
}

/** A valid finding, or null for anything else (a torn line from a crash, foreign JSON, garbage). */
export function parseFindingLine(line: string): Finding | null {
  try {
    const r = FindingSchema.safeParse(JSON.parse(line));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * Reads findings newest first across the log and its rotated files (newest file first), applying the
 * query, and stops once it has `q.limit`. Works without a store (the CLI reads while the service runs or not).
 * A file rotated while being read is not read twice (files are told apart by inode). With `since`, a file
 * last modified well before it holds nothing newer (every finding is timestamped before it is written) and is
 * skipped; the slack covers coarse file-system timestamps.
 */
export async function readFindings(file: string, q: FindingsQuery, stats?: ReadStats): Promise<Finding[]> {
  const out: Finding[] = [];
  const seen = new Set<string>();
  const since = q.since !== undefined ? Date.parse(q.since) : undefined;
  for (const f of logFiles(file)) {
    let fh: fsp.FileHandle;
    try {
      fh = await openNoFollowAsync(f, fsConstants.O_RDONLY);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // rotated away since listing
      throw err;
    }
    try {
      const st = await fh.stat();
      const key = `${st.dev}:${st.ino}`;
      if (!st.isFile() || seen.has(key)) continue;
      seen.add(key);
      if (stats) stats.files++;
      if (since !== undefined && st.mtimeMs < since - MTIME_SLACK_MS) continue;
      for await (const line of linesBackwardFrom(fh, st.size)) {
        if (line !== null && line.trim() === '') continue;
        const finding = line === null ? null : parseFindingLine(line);
        if (!finding) {
          if (stats) stats.malformed++;
          continue;
        }
        if (!matchesQuery(finding, q)) continue;
        out.push(finding);
        if (out.length >= q.limit) return out;
      }
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
  return out;
}
