// What install relies on in a NanoClaw v2 checkout, checked before anything is touched, and the
// facts derived from it (install slug, the uid its containers run as).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { applyRunnerPatch, PatchError, RUNNER_FILE } from './runner-patch.js';

export class CheckoutError extends Error {}

const MUST = ['package.json', RUNNER_FILE, 'src/container-runtime.ts', 'src/log.ts', 'bin/ncl'];

/** Throws a CheckoutError naming what is missing unless `dir` is a NanoClaw v2 checkout this version can wire. */
export function checkNanoclaw(dir: string): void {
  if (!existsSync(dir)) throw new CheckoutError(`${dir} does not exist: pass --nanoclaw the NanoClaw checkout`);
  const missing = MUST.filter((f) => !existsSync(path.join(dir, f)));
  if (missing.length > 0) {
    throw new CheckoutError(`${dir} is not a NanoClaw v2 checkout: missing ${missing.join(', ')}`);
  }
  let name: string | undefined;
  try {
    name = (JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string }).name;
  } catch (err) {
    throw new CheckoutError(`${dir}/package.json is not valid JSON (${(err as Error).message})`);
  }
  if (name !== 'nanoclaw') throw new CheckoutError(`${dir}/package.json names "${name}", not nanoclaw`);
  if (existsSync(path.join(dir, 'src/ipc.ts'))) {
    throw new CheckoutError(`${dir} has src/ipc.ts: that is NanoClaw v1 (file IPC); this skill supports v2 only`);
  }
  const runtime = readFileSync(path.join(dir, 'src/container-runtime.ts'), 'utf8');
  if (!/export function readonlyMountArgs\b/.test(runtime)) {
    throw new CheckoutError(`${dir}/src/container-runtime.ts exports no readonlyMountArgs (NanoClaw's mount helper)`);
  }
  try {
    applyRunnerPatch(readFileSync(path.join(dir, RUNNER_FILE), 'utf8'));
  } catch (err) {
    if (err instanceof PatchError) throw new CheckoutError(err.message);
    throw err;
  }
}

/** NanoClaw's per-checkout slug (src/install-slug.ts): sha1 of the checkout path, 8 hex characters. */
export function installSlug(dir: string): string {
  return createHash('sha1').update(dir).digest('hex').slice(0, 8);
}

/**
 * The uid NanoClaw's containers run as (src/container-runner.ts, "User mapping"): the image's `node`
 * user (1000) when the host runs as root or as 1000, otherwise the host's own uid.
 */
export function containerUid(hostUid: number): number {
  return hostUid === 0 || hostUid === 1000 ? 1000 : hostUid;
}
