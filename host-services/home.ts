// Where all state lives: NANOCLAW_TRAFFIC_GUARDIAN_HOME, default ~/.config/nanoclaw/traffic-guardian.
import { homedir } from 'node:os';
import path from 'node:path';
import { promises as fsp } from 'node:fs';
import {
  closeSync,
  constants as fsConstants,
  fchmodSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';

export const HOME_ENV = 'NANOCLAW_TRAFFIC_GUARDIAN_HOME';

export function guardianHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[HOME_ENV];
  if (fromEnv && fromEnv.trim()) return path.resolve(fromEnv);
  return path.join(homedir(), '.config', 'nanoclaw', 'traffic-guardian');
}

export interface HomePaths {
  root: string;
  config: string;
  salt: string;
  caDir: string;
  caCert: string;
  caKey: string;
  leafKey: string;
  runDir: string;
  pidFile: string;
  socket: string;
  groupsRunDir: string;
  findings: string;
  groupsFile: string;
}

export function homePaths(root = guardianHome()): HomePaths {
  const caDir = path.join(root, 'ca');
  const runDir = path.join(root, 'run');
  return {
    root,
    config: path.join(root, 'config.json'),
    salt: path.join(root, 'salt'),
    caDir,
    caCert: path.join(caDir, 'ca.crt'),
    caKey: path.join(caDir, 'ca.key'),
    leafKey: path.join(caDir, 'leaf.key'),
    runDir,
    pidFile: path.join(runDir, 'guardian.pid'),
    socket: path.join(runDir, 'guardian.sock'),
    groupsRunDir: path.join(runDir, 'groups'),
    findings: path.join(root, 'findings.jsonl'),
    groupsFile: path.join(root, 'groups.json'),
  };
}

/** The socket a group's MCP server talks to: `<home>/run/groups/<group>/guardian.sock`. */
export function groupSocketPath(paths: HomePaths, group: string): string {
  return path.join(paths.groupsRunDir, group, 'guardian.sock');
}

// ---- no symlinks under the home ----
// Nothing under the guardian home is followed through a symbolic link: a link planted as
// findings.jsonl, salt or a CA file would make the guardian append to, read, or chmod any file the
// guardian's user (root, for some) can reach. Files are opened with O_NOFOLLOW (no check-then-open
// race), directories are checked with lstat, and a link is refused with a message naming it.

const O_NOFOLLOW = fsConstants.O_NOFOLLOW ?? 0;

/** The refusal every opener gives for a link, naming the file and what to do. */
export function symlinkRefusal(file: string): Error {
  return new Error(
    `refusing ${file}: it is a symbolic link, and the guardian never follows links under its home; ` +
      `fix: remove the link (\`rm ${file}\`) and let the guardian create the file, or put the real file there`,
  );
}

function isLoop(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  // Linux and macOS say ELOOP for O_NOFOLLOW on a link; some BSDs say EMLINK.
  return code === 'ELOOP' || code === 'EMLINK';
}

/** Throws the refusal when `file` is a symbolic link; false when it does not exist. */
export function refuseSymlink(file: string): boolean {
  try {
    if (lstatSync(file).isSymbolicLink()) throw symlinkRefusal(file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return false;
    throw err;
  }
}

/** `openSync` with O_NOFOLLOW; a link is refused with a clear message. */
export function openNoFollow(file: string, flags: number, mode = 0o600): number {
  try {
    return openSync(file, flags | O_NOFOLLOW, mode);
  } catch (err) {
    if (isLoop(err)) throw symlinkRefusal(file);
    throw err;
  }
}

/** Async `open` with O_NOFOLLOW; a link is refused with a clear message. */
export async function openNoFollowAsync(file: string, flags: number, mode = 0o600): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(file, flags | O_NOFOLLOW, mode);
  } catch (err) {
    if (isLoop(err)) throw symlinkRefusal(file);
    throw err;
  }
}

/** Reads a whole file without following a link at its path. */
export function readFileNoFollow(file: string): Buffer;
export function readFileNoFollow(file: string, encoding: 'utf8'): string;
export function readFileNoFollow(file: string, encoding?: 'utf8'): Buffer | string {
  const fd = openNoFollow(file, fsConstants.O_RDONLY);
  try {
    return encoding ? readFileSync(fd, encoding) : readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates `file` (it must not exist: O_EXCL, so neither a planted file nor a planted link is written
 * through) with exactly `mode`, and writes `data`. For temporary files renamed into place.
 */
export function writeNewFileNoFollow(file: string, data: string | Buffer, mode = 0o600): void {
  const fd = openNoFollow(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces `file` atomically: a fresh temporary file (random name, O_EXCL, never through a link) renamed
 * into place. rename replaces a link at `file` itself, never what it points to.
 */
export function replaceFileNoFollow(file: string, data: string | Buffer, mode = 0o600): void {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeNewFileNoFollow(tmp, data, mode);
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Creates a private directory (0700) and tightens it if it already exists with looser bits. A link in
 * its place is refused, never followed, and its target's mode is never changed.
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const st = lstatSync(dir);
  if (st.isSymbolicLink()) throw symlinkRefusal(dir);
  if (!st.isDirectory()) throw new Error(`refusing ${dir}: not a directory`);
  if (st.mode & 0o077) {
    // Through a descriptor opened without following links, so the chmod lands on this directory only.
    const fd = openNoFollow(dir, fsConstants.O_RDONLY | (fsConstants.O_DIRECTORY ?? 0));
    try {
      fchmodSync(fd, 0o700);
    } finally {
      closeSync(fd);
    }
  }
}
