// `traffic-guardian findings`: reads the findings log directly (works whether or not the service
// runs), newest first, with filters; `--follow` prints the last N oldest first, then new findings as
// they are written, following the log across rotations, until SIGINT/SIGTERM (or the caller's signal).
import { promises as fsp, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { parseArgs } from 'node:util';
import { FindingsQuerySchema, matchesQuery, MAX_QUERY_LIMIT, type FindingsQuery } from '../../lib/findings-query.js';
import type { Finding } from '../../lib/finding-schema.js';
import { homePaths } from '../home.js';
import { logFiles, parseFindingLine, readFindings, type ReadStats } from '../findings-store.js';
import { formatFinding } from '../format-finding.js';
import { EXIT_OK, UsageError } from '../cli-errors.js';

export const FINDINGS_HELP = `Usage: traffic-guardian findings [--limit N] [--json] [--follow] [filters]

Prints findings newest first (with --follow: the last N oldest first, then new ones as they come).
Reads the findings log directly, so it works whether or not the service is running.

Filters:
  --since ISO            only findings at or after this time (e.g. 2026-11-25T08:00:00Z)
  --severity S           minimum severity: low, medium, high, critical
  --type T               EXFIL or INJECTION
  --direction D          outbound or inbound
  --pattern ID           one rule id (e.g. ai_api_key)
  --group G              one NanoClaw agent group
Options:
  --limit N              at most N findings (default 50, max ${MAX_QUERY_LIMIT})
  --json                 one JSON object per line (JSONL)
  --follow               keep printing new findings until Ctrl-C`;

/** Poll interval of --follow; fs.watch wakes it sooner where it works. */
const FOLLOW_POLL_MS = 500;
const FOLLOW_READ_BLOCK = 64 * 1024;
/** A partial line longer than this while following is not a finding: drop it rather than grow. */
const FOLLOW_MAX_LINE = 256 * 1024;

const OPTION_KEYS: [option: string, key: keyof FindingsQuery][] = [
  ['since', 'since'],
  ['severity', 'severity'],
  ['type', 'threat_type'],
  ['direction', 'direction'],
  ['pattern', 'pattern'],
  ['group', 'group'],
];

function buildQuery(v: Record<string, string | boolean | undefined>): FindingsQuery {
  const raw: Record<string, unknown> = {};
  if (v.limit !== undefined) {
    if (!/^\d{1,6}$/.test(String(v.limit))) {
      throw new UsageError(`--limit: must be a whole number from 1 to ${MAX_QUERY_LIMIT}`);
    }
    raw.limit = Number(v.limit);
  }
  for (const [opt, key] of OPTION_KEYS) if (v[opt] !== undefined) raw[key] = v[opt];
  const q = FindingsQuerySchema.safeParse(raw);
  if (!q.success) {
    const issue = q.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const opt = key === 'limit' ? 'limit' : (OPTION_KEYS.find(([, k]) => k === key)?.[0] ?? key);
    throw new UsageError(`--${opt}: ${issue.message}`);
  }
  return q.data;
}

/**
 * Runs `findings`. `signal` stops --follow (as SIGINT/SIGTERM do); `out` gets the findings and
 * `err` the notes (skipped lines, and "no findings yet" in --json mode so stdout stays JSONL).
 */
export async function runFindings(
  argv: string[],
  signal?: AbortSignal,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      follow: { type: 'boolean', short: 'f', default: false },
      since: { type: 'string' },
      severity: { type: 'string' },
      type: { type: 'string' },
      direction: { type: 'string' },
      pattern: { type: 'string' },
      group: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    out.write(`${FINDINGS_HELP}\n`);
    return EXIT_OK;
  }
  const q = buildQuery(values);
  const file = homePaths().findings;
  const print = (f: Finding) => out.write(values.json ? `${JSON.stringify(f)}\n` : `${formatFinding(f)}\n`);

  // For --follow, hold the live file open before reading it: following continues from exactly where
  // the read began, on the same inode even if the log rotates in between.
  const live = values.follow ? await openIfExists(file) : null;
  const start = live ? (await live.stat()).size : 0;
  const stats: ReadStats = { malformed: 0, files: 0 };
  let found: Finding[];
  try {
    found = await readFindings(file, q, stats);
  } catch (e) {
    await live?.close();
    throw e;
  }
  if (stats.malformed > 0) {
    err.write(`skipped ${stats.malformed} malformed line${stats.malformed === 1 ? '' : 's'} in ${file}*\n`);
  }
  if (stats.files === 0 && found.length === 0) {
    (values.json ? err : out).write(`no findings yet (${file})\n`);
    if (!values.follow) return EXIT_OK;
  } else if (found.length === 0 && !values.json && !values.follow) {
    out.write('no matching findings\n');
  }
  if (!values.follow) {
    for (const f of found) print(f);
    return EXIT_OK;
  }
  for (const f of [...found].reverse()) print(f);
  // Lines appended between opening and reading may be in `found` already: never print one twice.
  const shown = new Set(found.map((f) => f.id));
  await follow(
    file,
    live,
    start,
    (f) => {
      if (shown.delete(f.id) || !matchesQuery(f, q)) return;
      print(f);
    },
    signal,
    out,
  );
  return EXIT_OK;
}

/** Where a file (by inode) is among `files`, or -1. */
async function indexOfInode(files: string[], ino: number): Promise<number> {
  for (let i = 0; i < files.length; i++) {
    const st = await fsp.stat(files[i]!).catch(() => null);
    if (st?.ino === ino) return i;
  }
  return -1;
}

/** The file opened for reading, or null when it does not exist or is not a regular file (e.g. a directory). */
async function openIfExists(file: string): Promise<fsp.FileHandle | null> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  if ((await fh.stat()).isFile()) return fh;
  await fh.close();
  return null;
}

/** Reads finding lines from a log file from a position on, carrying a partial last line between reads. */
class LineReader {
  pos: number;
  private decoder = new StringDecoder('utf8'); // keeps a multi-byte character split across reads whole
  private carry = '';
  private dropping = false; // inside an overlong partial line

  constructor(
    startPos: number,
    private readonly onFinding: (f: Finding) => void,
  ) {
    this.pos = startPos;
  }

  async readToEnd(h: fsp.FileHandle): Promise<void> {
    const buf = Buffer.allocUnsafe(FOLLOW_READ_BLOCK);
    for (;;) {
      const { bytesRead } = await h.read(buf, 0, buf.length, this.pos);
      if (bytesRead === 0) return;
      this.pos += bytesRead;
      const lines = (this.carry + this.decoder.write(buf.subarray(0, bytesRead))).split('\n');
      this.carry = lines.pop() ?? '';
      for (const line of lines) {
        if (this.dropping) {
          this.dropping = false;
          continue;
        }
        const f = line.trim() === '' ? null : parseFindingLine(line);
        if (f) this.onFinding(f);
      }
      if (this.carry.length > FOLLOW_MAX_LINE) {
        this.carry = '';
        this.dropping = true;
      }
    }
  }

  /** Starts over at the beginning of another (or a truncated) file. */
  restart(): void {
    this.pos = 0;
    this.decoder = new StringDecoder('utf8');
    this.carry = ''; // a torn line at the end of the old file stays torn
    this.dropping = false;
  }
}

/**
 * When the follower looks again: on fs.watch events for the log's directory, on a poll where fs.watch
 * does not work, and at once when it is stopped (signal, SIGINT/SIGTERM, the output closing).
 */
class FollowWaker {
  stopped: boolean;
  dirty = false;
  private wake: (() => void) | null = null;
  private watcher: FSWatcher | null = null;
  private readonly stop = () => {
    this.stopped = true;
    this.nudge();
  };
  private readonly nudge = () => {
    this.dirty = true;
    const w = this.wake;
    this.wake = null;
    w?.();
  };

  constructor(
    private readonly dir: string,
    private readonly signal: AbortSignal | undefined,
    private readonly out: NodeJS.WritableStream,
  ) {
    this.stopped = signal?.aborted ?? false;
    process.on('SIGINT', this.stop);
    process.on('SIGTERM', this.stop);
    signal?.addEventListener('abort', this.stop);
    out.on('error', this.stop); // e.g. EPIPE: the reader went away
  }

  /** Watches the directory unless a watcher already runs (it may have failed, or the directory was missing). */
  ensureWatching(): void {
    if (this.watcher) return;
    try {
      const w = watch(this.dir, { persistent: false }, () => this.nudge());
      w.on('error', () => {
        w.close();
        if (this.watcher === w) this.watcher = null; // the poll carries on alone
      });
      this.watcher = w;
    } catch {
      this.watcher = null; // no directory yet, or no inotify left: poll only
    }
  }

  /** Waits for a change, the poll interval, or a stop. */
  sleep(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(this.nudge, FOLLOW_POLL_MS);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  close(): void {
    process.off('SIGINT', this.stop);
    process.off('SIGTERM', this.stop);
    this.signal?.removeEventListener('abort', this.stop);
    this.out.off('error', this.stop);
    this.watcher?.close();
  }
}

/**
 * Tails the log. Reads the open file to its end, then checks the path: a different inode means the
 * log rotated: the old file is read to its end, then any rotated files newer than it (more than one
 * rotation between two looks), then the new live file from its start, so nothing written is skipped
 * while the follower keeps up with retention. A smaller size means truncation: read again from the start.
 */
async function follow(
  file: string,
  initial: fsp.FileHandle | null,
  startPos: number,
  onFinding: (f: Finding) => void,
  signal: AbortSignal | undefined,
  out: NodeJS.WritableStream,
): Promise<void> {
  let fh = initial;
  let ino = fh ? (await fh.stat()).ino : -1;
  const reader = new LineReader(startPos, onFinding);
  const waker = new FollowWaker(path.dirname(file), signal, out);
  try {
    while (!waker.stopped) {
      waker.dirty = false;
      waker.ensureWatching();
      if (fh) await reader.readToEnd(fh);
      const st = await fsp.stat(file).catch(() => null);
      if (st && st.ino !== ino) {
        if (fh) {
          await reader.readToEnd(fh); // whatever was appended just before the rename
          await fh.close();
          fh = null;
          await readRotatedSince(file, ino, reader);
        }
        fh = await openIfExists(file);
        ino = fh ? (await fh.stat()).ino : -1;
        reader.restart();
        // Not a readable log (gone again, or a directory in its place): wait for the next change, never spin.
        if (fh) continue;
      }
      if (st && fh && st.size < reader.pos) {
        reader.restart(); // truncated in place
        continue;
      }
      if (waker.stopped || waker.dirty) continue;
      await waker.sleep();
    }
  } finally {
    waker.close();
    await fh?.close().catch(() => undefined);
  }
}

/** Several rotations since the last look: reads the rotated files newer than the one with inode `ino`. */
async function readRotatedSince(file: string, ino: number, reader: LineReader): Promise<void> {
  const rotated = logFiles(file).filter((f) => f !== file);
  for (let k = (await indexOfInode(rotated, ino)) - 1; k >= 0; k--) {
    const h = await openIfExists(rotated[k]!);
    if (!h) continue;
    reader.restart();
    try {
      await reader.readToEnd(h);
    } finally {
      await h.close();
    }
  }
}
