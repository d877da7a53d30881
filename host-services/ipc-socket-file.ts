// The IPC socket file: created owner-only in a private directory, a stale one from a crashed server
// removed, a live one (another guardian) never touched.
import net from 'node:net';
import { chmodSync, chownSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';

/**
 * True when something accepts connections on the socket (a live server, not a stale file). A connect
 * that neither succeeds nor fails within a second counts as alive: better to refuse than to unlink a
 * busy server's socket.
 */
function socketAlive(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(true);
    }, 1000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/**
 * Creates the socket's directory 0700 (parents too). An existing directory of ours that is group- or
 * world-accessible is tightened; a shared one (sticky, like /tmp, or owned by someone else) is left
 * alone with a warning: the socket itself is still created owner-only (see `listenPrivate`).
 */
export function preparePrivateDir(dir: string, log: (msg: string) => void): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory; cannot place the IPC socket there`);
  if ((st.mode & 0o077) === 0) return;
  const mine = typeof process.getuid !== 'function' || st.uid === process.getuid();
  if (mine && (st.mode & 0o1000) === 0) {
    chmodSync(dir, 0o700);
  } else {
    log(`ipc socket directory ${dir} is shared (mode ${(st.mode & 0o1777).toString(8)}); the socket itself is 0600`);
  }
}

/** Sets a process umask for the synchronous bind inside `fn`; a no-op where umask cannot be set (workers). */
function withUmask<T>(mask: number, fn: () => T): T {
  let old: number | undefined;
  try {
    old = process.umask(mask);
  } catch {
    old = undefined;
  }
  try {
    return fn();
  } finally {
    if (old !== undefined) process.umask(old);
  }
}

/** Removes a socket file left by a crashed server; refuses to touch a live socket or anything else. */
export async function clearStaleSocket(p: string): Promise<void> {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${p} exists and is not a socket; refusing to remove it`);
  if (await socketAlive(p)) throw new Error(`another guardian is already answering on ${p}; refusing to replace it`);
  unlinkSync(p);
}

/**
 * Listens on `p` so the socket is never reachable by anyone but its owner: it is created in a 0700
 * directory, under umask 077 (Node binds synchronously inside `listen`, so the mask only covers the
 * bind; 077 rather than 177 so a directory created by another thread meanwhile stays usable), and
 * chmod 0600 once listening (and, on a root host, given to the owner of its private directory).
 */
export function listenPrivate(server: net.Server, p: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(
        // Two starts at once both found no socket: the one that binds second is told who holds it.
        err.code === 'EADDRINUSE'
          ? new Error(
              `another guardian is already answering on ${p} (it bound the socket first); refusing to replace it`,
            )
          : err,
      );
    server.once('error', onError);
    withUmask(0o077, () =>
      server.listen(p, () => {
        server.off('error', onError);
        try {
          chmodSync(p, 0o600);
          giveToDirectoryOwner(p);
          resolve();
        } catch (err) {
          server.close();
          reject(err as Error);
        }
      }),
    );
  });
}

/**
 * A guardian running as root gives the socket to the owner of its private (0700) directory. NanoClaw's
 * containers run as uid 1000 even on a root host, so install hands a group's socket directory to that uid
 * (host-services/nanoclaw/socket-access.ts); a root-owned socket in it would still refuse them. The owner of
 * a 0700 directory can replace anything in it anyway, so this gives away nothing it did not have. A shared
 * or group/world-accessible directory keeps a root-owned socket.
 */
function giveToDirectoryOwner(p: string): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  const dir = lstatSync(path.dirname(p));
  if (dir.uid === 0 || (dir.mode & 0o7077) !== 0) return;
  chownSync(p, dir.uid, dir.gid);
}

/** Removes the socket file at stop; gone already is fine. */
export function removeSocketFile(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // already gone
  }
}
