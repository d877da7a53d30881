// No file under the guardian home is followed through a symbolic link (issue 12 point 4). Each case
// plants a link to a file outside the home (what an attacker with write access to the home, or a
// mistake, would do) and checks the guardian refuses with a message naming the file, and that the
// target is neither written, appended to, read into use, nor has its mode changed. As a non-root test
// this proves no follow; run as root the same code protects every file on the host.
import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { chmodSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { FindingsStore, readFindings } from '../host-services/findings-store.js';
import { ensurePrivateDir, homePaths } from '../host-services/home.js';
import { loadOrCreateSalt } from '../host-services/salt.js';
import { loadOrCreateCa } from '../host-services/ca.js';
import { loadConfig } from '../host-services/config-file.js';
import { readPidFile, writePidFile } from '../host-services/pid-file.js';
import { GroupRegistry } from '../host-services/group-registry.js';
import { startService, tempHome } from './support/service.js';
import { makeFinding } from './support/finding-factory.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A home, and a victim file outside it (mode 0644, known content). */
function setup(): { home: string; victim: string; paths: ReturnType<typeof homePaths> } {
  const home = tempHome('tg-sl-');
  const outside = tempHome('tg-victim-');
  dirs.push(home, outside);
  const victim = path.join(outside, 'victim.txt');
  writeFileSync(victim, 'precious\n');
  chmodSync(victim, 0o644);
  return { home, victim, paths: homePaths(home) };
}

function expectUntouched(victim: string): void {
  expect(readFileSync(victim, 'utf8')).toBe('precious\n');
  expect(statSync(victim).mode & 0o777).toBe(0o644);
}

const REFUSAL = /symbolic link.*never follows links.*fix: remove the link/s;

function storeFor(file: string): FindingsStore {
  return new FindingsStore({ file, maxFileBytes: 1 << 20, maxFiles: 2, retentionDays: 0 });
}

describe('no symlink under the guardian home is followed', () => {
  it('findings.jsonl: a link is refused at start, naming the file', () => {
    const { victim, paths } = setup();
    symlinkSync(victim, paths.findings);
    expect(() => storeFor(paths.findings)).toThrow(REFUSAL);
    expect(() => storeFor(paths.findings)).toThrow(paths.findings);
    expectUntouched(victim);
  });

  it('findings.jsonl: a link planted while running is not appended to, nor chmod-ed', async () => {
    const { victim, paths } = setup();
    const store = storeFor(paths.findings);
    store.append(makeFinding());
    await store.flush();
    expect(store.written).toBe(1);
    unlinkSync(paths.findings);
    symlinkSync(victim, paths.findings);
    store.append(makeFinding());
    await store.flush();
    expect(store.written).toBe(1);
    expect(store.lastError).toMatch(REFUSAL);
    expectUntouched(victim);
    await store.close();
  });

  it('rotated findings files: a link is refused, and reading does not follow one', async () => {
    const { victim, paths } = setup();
    writeFileSync(victim, `${JSON.stringify(makeFinding())}\n`);
    chmodSync(victim, 0o644);
    const content = readFileSync(victim, 'utf8');
    symlinkSync(victim, `${paths.findings}.1`);
    expect(() => storeFor(paths.findings)).toThrow(REFUSAL);
    await expect(readFindings(paths.findings, { limit: 10 })).rejects.toThrow(REFUSAL);
    expect(readFileSync(victim, 'utf8')).toBe(content);
    expect(statSync(victim).mode & 0o777).toBe(0o644);
  });

  it('salt: a link is refused, never read as the key', () => {
    const { victim, paths } = setup();
    symlinkSync(victim, paths.salt);
    expect(() => loadOrCreateSalt(paths.salt)).toThrow(REFUSAL);
    expectUntouched(victim);
  });

  it('ca/ca.key, ca/ca.crt, ca/leaf.key and ca/ itself: links are refused', () => {
    for (const which of ['caKey', 'caCert', 'leafKey', 'caDir'] as const) {
      const { victim, paths } = setup();
      if (which !== 'caDir') {
        loadOrCreateCa(paths, { create: true });
        unlinkSync(paths[which]);
        symlinkSync(victim, paths[which]);
        chmodSync(victim, 0o644);
      } else {
        const outsideDir = path.dirname(victim);
        chmodSync(outsideDir, 0o755);
        symlinkSync(outsideDir, paths.caDir);
      }
      expect(() => loadOrCreateCa(paths, { create: true }), which).toThrow(REFUSAL);
      expectUntouched(victim);
      if (which === 'caDir') expect(statSync(path.dirname(victim)).mode & 0o777).toBe(0o755);
    }
  });

  it('the home and its private directories: a linked directory is refused and its mode left alone', () => {
    const { victim, paths } = setup();
    const outsideDir = path.dirname(victim);
    chmodSync(outsideDir, 0o755);
    symlinkSync(outsideDir, paths.runDir);
    expect(() => ensurePrivateDir(paths.runDir)).toThrow(REFUSAL);
    expect(statSync(outsideDir).mode & 0o777).toBe(0o755);
  });

  it('config.json: a link is refused (an explicit --config file may still be one)', () => {
    const { victim, paths } = setup();
    writeFileSync(victim, '{}');
    symlinkSync(victim, paths.config);
    const r = loadConfig(undefined, paths.config);
    expect(r.ok).toBe(false);
    expect(JSON.stringify(r)).toMatch(/symbolic link/);
    expect(loadConfig(paths.config, paths.config).ok).toBe(true);
  });

  it('pid file: a link is refused on read, and a write replaces the link, not its target', () => {
    const { victim, paths } = setup();
    mkdirSync(paths.runDir, { mode: 0o700 });
    symlinkSync(victim, paths.pidFile);
    expect(() => readPidFile(paths.pidFile)).toThrow(REFUSAL);
    writePidFile(paths.pidFile, {
      pid: process.pid,
      listener: { host: '127.0.0.1', port: 1 },
      socket: path.join(paths.runDir, 'guardian.sock'),
      started_at: new Date().toISOString(),
      https_inspection: false,
    });
    expectUntouched(victim);
    expect(readPidFile(paths.pidFile).state).not.toBe('none');
  });

  it('groups.json: a link is refused on load; a save replaces the link, not its target', () => {
    const { victim, paths } = setup();
    writeFileSync(victim, JSON.stringify({ version: 1, groups: {} }));
    chmodSync(victim, 0o644);
    const content = readFileSync(victim, 'utf8');
    symlinkSync(victim, paths.groupsFile);
    expect(() => GroupRegistry.load(paths.groupsFile)).toThrow(REFUSAL);
    expect(readFileSync(victim, 'utf8')).toBe(content);
  });

  it('the service refuses to start on a linked findings log or salt, naming the file', async () => {
    for (const which of ['findings', 'salt'] as const) {
      const { home, victim, paths } = setup();
      symlinkSync(victim, paths[which]);
      await expect(startService({}, {}, home), which).rejects.toThrow(paths[which]);
      expectUntouched(victim);
    }
  });
});
