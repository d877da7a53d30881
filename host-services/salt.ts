// The fingerprint salt: 32 random bytes kept on the host (0600). Fingerprints are HMACs with it, so
// they correlate repeats of a secret without letting anyone confirm a guessed secret offline. It is
// never read or written through a symbolic link (see home.ts).
import { randomBytes } from 'node:crypto';
import { linkSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, readFileNoFollow, refuseSymlink, writeNewFileNoFollow } from './home.js';

export function loadOrCreateSalt(file: string): Buffer {
  if (refuseSymlink(file)) {
    const salt = readFileNoFollow(file);
    if (salt.length >= 16) return salt;
    throw new Error(`fingerprint salt ${file} is too short (${salt.length} bytes); delete it to make a new one`);
  }
  ensurePrivateDir(path.dirname(file));
  const salt = randomBytes(32);
  // Written whole to a fresh file, then linked into place: two guardians starting at once never see half
  // a salt, and the one that loses the race uses the winner's.
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeNewFileNoFollow(tmp, salt, 0o600);
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return loadOrCreateSalt(file);
  } finally {
    unlinkSync(tmp);
  }
  return salt;
}

/** The salt if the guardian has one, else a throwaway one (offline scans must not create state). */
export function existingSaltOrEphemeral(file: string): { salt: Buffer; ephemeral: boolean } {
  if (refuseSymlink(file)) {
    const salt = readFileNoFollow(file);
    if (salt.length >= 16) return { salt, ephemeral: false };
  }
  return { salt: randomBytes(32), ephemeral: true };
}
