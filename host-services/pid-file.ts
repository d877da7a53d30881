// The pid file under <home>/run: one running guardian per home. A pid file left by a crash (its
// process gone) is detected and removed instead of blocking the next start.
import { existsSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

export const PidRecordSchema = z.object({
  pid: z.number().int().positive(),
  started_at: z.string(),
  listener: z.object({ host: z.string(), port: z.number().int() }),
  socket: z.string(),
  https_inspection: z.boolean(),
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

export type PidState = { state: 'none' } | { state: 'running'; record: PidRecord } | { state: 'stale'; pid?: number };

export function readPidFile(file: string): PidState {
  if (!existsSync(file)) return { state: 'none' };
  let record: PidRecord;
  try {
    record = PidRecordSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch {
    return { state: 'stale' };
  }
  if (record.pid !== process.pid && processAlive(record.pid)) return { state: 'running', record };
  return { state: 'stale', pid: record.pid };
}

export function writePidFile(file: string, record: PidRecord): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(record)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

export function removePidFile(file: string, ownPid = process.pid): void {
  try {
    const rec = PidRecordSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
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
