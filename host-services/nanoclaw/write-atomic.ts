// Replace a file in one step (write a sibling, rename over), so a crash never leaves half a file.
import { renameSync, writeFileSync } from 'node:fs';

export function writeAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}
