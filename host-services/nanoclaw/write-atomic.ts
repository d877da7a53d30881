// Replace a file in one step (write a sibling, rename over), so a crash never leaves half a file. The
// sibling is created fresh (O_EXCL, never through a symbolic link) and the rename replaces a link at
// `file` itself, never what it points to (home.ts).
import { replaceFileNoFollow } from '../home.js';

export function writeAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  replaceFileNoFollow(file, data, mode);
}
