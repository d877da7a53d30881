// The fingerprint salt: 32 random bytes kept on the host (0600). Fingerprints are HMACs with it, so
// they correlate repeats of a secret without letting anyone confirm a guessed secret offline.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir } from './home.js';

export function loadOrCreateSalt(file: string): Buffer {
  if (existsSync(file)) {
    const salt = readFileSync(file);
    if (salt.length >= 16) return salt;
    throw new Error(`fingerprint salt ${file} is too short (${salt.length} bytes); delete it to make a new one`);
  }
  ensurePrivateDir(path.dirname(file));
  const salt = randomBytes(32);
  writeFileSync(file, salt, { mode: 0o600, flag: 'wx' });
  return salt;
}

/** The salt if the guardian has one, else a throwaway one (offline scans must not create state). */
export function existingSaltOrEphemeral(file: string): { salt: Buffer; ephemeral: boolean } {
  if (existsSync(file)) {
    const salt = readFileSync(file);
    if (salt.length >= 16) return { salt, ephemeral: false };
  }
  return { salt: randomBytes(32), ephemeral: true };
}
