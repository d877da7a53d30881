// The pid file under <home>/run: one running guardian per home. A pid file left by a crash (its
// process gone) is detected and removed instead of blocking the next start. Where the kernel tells a
// process's start time (Linux /proc), the file records it too, so a pid reused by an unrelated process
// (after a crash, or a reboot: the file lives in the home, not on a tmpfs) is stale as well: `stop`
// must never signal that process, and `start` must not refuse because of it.
import { readFileSync, unlinkSync } from 'node:fs';
import { readFileNoFollow, refuseSymlink, replaceFileNoFollow } from './home.js';
import { z } from 'zod';

export const PidRecordSchema = z.object({
  pid: z.number().int().positive(),
  started_at: z.string(),
  listener: z.object({ host: z.string(), port: z.number().int() }),
  socket: z.string(),
  https_inspection: z.boolean(),
  /** Kernel start time of `pid` (Linux: /proc/<pid>/stat field 22); absent where unknown. */
  proc_start: z.string().optional(),
});
export type PidRecord = z.infer<typeof PidRecordSchema>;

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * When the kernel started `pid`, as an opaque string comparable for equality (Linux: clock ticks since
 * boot from /proc/<pid>/stat); undefined where that is not available.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2, the command name, is in parentheses and may hold spaces or ')': count from the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = fields[19]; // field 22 overall; the fields after ')' start at field 3
    return start !== undefined && /^\d+$/.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

export type PidState =
  | { state: 'none' }
  | { state: 'running'; record: PidRecord }
  /** `reused`: the pid is alive but belongs to another process than the one that wrote the file. */
  | { state: 'stale'; pid?: number; reused?: boolean };

export function readPidFile(file: string): PidState {
  // A link in the pid file's place is refused (it is never read or written through).
  if (!refuseSymlink(file)) return { state: 'none' };
  let record: PidRecord;
  try {
    record = PidRecordSchema.parse(JSON.parse(readFileNoFollow(file, 'utf8')));
  } catch {
    return { state: 'stale' };
  }
  if (record.pid === process.pid || !processAlive(record.pid)) return { state: 'stale', pid: record.pid };
  if (record.proc_start !== undefined) {
    const now = processStartTime(record.pid);
    if (now !== undefined && now !== record.proc_start) return { state: 'stale', pid: record.pid, reused: true };
  }
  return { state: 'running', record };
}

/** Writes the record atomically (mode 0600), adding the process start time where the kernel tells it. */
export function writePidFile(file: string, record: PidRecord): void {
  const full: PidRecord = { ...record, proc_start: record.proc_start ?? processStartTime(record.pid) };
  replaceFileNoFollow(file, `${JSON.stringify(full)}\n`, 0o600);
}

export function removePidFile(file: string, ownPid = process.pid): void {
  try {
    const rec = PidRecordSchema.parse(JSON.parse(readFileNoFollow(file, 'utf8')));
    if (rec.pid !== ownPid) return;
  } catch {
    // Unreadable: it is ours to clean up only if we are removing a stale one, which the caller decides.
  }
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}
