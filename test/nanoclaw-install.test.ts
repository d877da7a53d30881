// install / uninstall against a NanoClaw v2-shaped fixture: idempotent, reversible byte for byte,
// groups not named untouched, --dry-run changes nothing, and the generated code really produces
// the per-group docker arguments.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { makeNanoclawFixture, type NanoclawFixture } from './support/nanoclaw-fixture.js';
import { runCli } from './support/cli.js';
import { GroupRegistry } from '../host-services/group-registry.js';
import { homePaths } from '../host-services/home.js';
import { BEGIN } from '../host-services/nanoclaw/runner-patch.js';

let fx: NanoclawFixture;
let home: string;
const env = () => ({ NANOCLAW_TRAFFIC_GUARDIAN_HOME: home });
const tg = (...args: string[]) => runCli(args, { env: env() });

beforeAll(() => {
  expect(existsSync('dist/mcp-tools/traffic-guardian-mcp.mjs')).toBe(true);
});

function fresh() {
  fx = makeNanoclawFixture();
  home = mkdtempSync(path.join(os.tmpdir(), 'tg-h-'));
}

afterEach(() => {
  rmSync(fx.dir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

/** Loads the generated src/traffic-guardian.ts and calls it, as the patched runner would. */
async function generatedArgs(folder: string): Promise<string[]> {
  const out = path.join(home, `helper-${Date.now()}.mjs`);
  await build({
    entryPoints: [path.join(fx.dir, 'src/traffic-guardian.ts')],
    outfile: out,
    platform: 'node',
    format: 'esm',
    bundle: true,
    logLevel: 'silent',
  });
  const mod = (await import(out)) as { trafficGuardianArgs: (f: string) => string[] };
  return mod.trafficGuardianArgs(folder);
}

describe('traffic-guardian install', () => {
  it('--dry-run prints the plan and changes nothing', async () => {
    fresh();
    const files = fx.snapshot();
    const db = fx.dbDump();
    const r = await tg('install', '--nanoclaw', fx.dir, '--group', 'alpha', '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\[dry-run\] would create .*src\/traffic-guardian\.ts/);
    expect(r.stdout).toMatch(/\[dry-run\] would patch .*container-runner\.ts/);
    expect(r.stdout).toMatch(/add-mcp-server/);
    expect(fx.snapshot()).toEqual(files);
    expect(fx.dbDump()).toBe(db);
    expect(existsSync(path.join(home, 'nanoclaw'))).toBe(false);
    expect(existsSync(path.join(home, 'groups.json'))).toBe(false);
  });

  // Spawns the CLI eight times and compiles the generated helper: give a loaded machine room.
  it(
    'wires the named groups, leaves others alone, is idempotent and reverses byte for byte',
    { timeout: 120_000 },
    async () => {
      fresh();
      const files = fx.snapshot();
      const gammaBefore = fx.mcpServers('gamma');

      const r1 = await tg('install', '--nanoclaw', fx.dir, '--group', 'alpha', '--group', 'beta');
      expect(r1.code, r1.stderr).toBe(0);
      const runner = readFileSync(path.join(fx.dir, 'src/container-runner.ts'), 'utf8');
      expect(runner).toContain(BEGIN);
      expect(runner).toContain('args.push(...trafficGuardianArgs(agentGroup.folder));');
      // Our args come after OneCLI's env (so our proxy wins) and before the mounts.
      expect(runner.indexOf('trafficGuardianArgs(agentGroup')).toBeGreaterThan(runner.indexOf('applyContainerConfig'));
      expect(runner.indexOf('trafficGuardianArgs(agentGroup')).toBeLessThan(runner.indexOf('// Volume mounts'));

      for (const g of ['alpha', 'beta']) {
        const s = fx.mcpServers(g);
        expect(s['traffic-guardian']).toEqual({
          command: 'node',
          args: ['/opt/traffic-guardian/traffic-guardian-mcp.mjs'],
          env: { NANOCLAW_TRAFFIC_GUARDIAN_SOCKET: '/run/traffic-guardian/guardian.sock' },
        });
        expect(s.other).toBeDefined(); // other servers kept
      }
      expect(fx.mcpServers('gamma')).toEqual(gammaBefore);
      expect(GroupRegistry.load(homePaths(home).groupsFile).groups()).toEqual(['alpha', 'beta']);

      // The generated code gives alpha its proxy env and read-only mounts, and gamma nothing.
      const args = await generatedArgs('alpha');
      const envs = args.filter((_, i) => args[i - 1] === '-e');
      const mounts = args.filter((_, i) => args[i - 1] === '-v');
      expect(envs.find((e) => e.startsWith('HTTPS_PROXY='))).toMatch(
        /^HTTPS_PROXY=http:\/\/alpha:[A-Za-z0-9_-]+@host\.docker\.internal:8888$/,
      );
      expect(envs).toContain('NODE_EXTRA_CA_CERTS=/opt/traffic-guardian/ca.crt');
      expect(mounts.every((m) => m.endsWith(':ro'))).toBe(true);
      expect(mounts.some((m) => m.endsWith(':/run/traffic-guardian:ro'))).toBe(true);
      expect(await generatedArgs('gamma')).toEqual([]);
      // The container gets the CA certificate, never the key.
      const share = path.join(home, 'nanoclaw', 'share');
      expect(readFileSync(path.join(share, 'ca.crt'), 'utf8')).toContain('BEGIN CERTIFICATE');
      expect(readFileSync(path.join(share, 'ca-bundle.pem'), 'utf8')).not.toContain('PRIVATE KEY');
      const wiring = path.join(home, 'nanoclaw', 'groups', 'alpha.json');
      expect(statSync(wiring).mode & 0o777).toBe(0o600);

      // Second run: nothing changes.
      const afterFirst = fx.snapshot();
      const dbFirst = fx.dbDump();
      const groupsFirst = readFileSync(homePaths(home).groupsFile, 'utf8');
      const r2 = await tg('install', '--nanoclaw', fx.dir, '--group', 'alpha', '--group', 'beta');
      expect(r2.code, r2.stderr).toBe(0);
      expect(r2.stdout).toMatch(/nothing to do/);
      expect(fx.snapshot()).toEqual(afterFirst);
      expect(fx.dbDump()).toBe(dbFirst);
      expect(readFileSync(homePaths(home).groupsFile, 'utf8')).toBe(groupsFirst);

      // Uninstall restores every file byte for byte and the MCP registrations.
      const u = await tg('uninstall', '--nanoclaw', fx.dir);
      expect(u.code, u.stderr).toBe(0);
      expect(fx.snapshot()).toEqual(files);
      expect(fx.mcpServers('alpha')['traffic-guardian']).toBeUndefined();
      expect(fx.mcpServers('alpha').other).toBeDefined();
      expect(GroupRegistry.load(homePaths(home).groupsFile).groups()).toEqual([]);
      expect(existsSync(wiring)).toBe(false);
      const u2 = await tg('uninstall', '--nanoclaw', fx.dir);
      expect(u2.code).toBe(0);
      expect(u2.stdout).toMatch(/nothing to do/);
    },
  );

  it('adds a group on a later install without touching the first', async () => {
    fresh();
    expect((await tg('install', '--nanoclaw', fx.dir, '--group', 'alpha')).code).toBe(0);
    const alphaWiring = readFileSync(path.join(home, 'nanoclaw', 'groups', 'alpha.json'), 'utf8');
    const r = await tg('install', '--nanoclaw', fx.dir, '--group', 'alpha', '--group', 'beta');
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(home, 'nanoclaw', 'groups', 'alpha.json'), 'utf8')).toBe(alphaWiring);
    expect(fx.mcpServers('beta')['traffic-guardian']).toBeDefined();
  });

  it('on uninstall keeps NanoClaw changes made after install and removes only the marked blocks', async () => {
    fresh();
    const original = readFileSync(path.join(fx.dir, 'src/container-runner.ts'), 'utf8');
    expect((await tg('install', '--nanoclaw', fx.dir, '--group', 'alpha')).code).toBe(0);
    const runnerPath = path.join(fx.dir, 'src/container-runner.ts');
    writeFileSync(runnerPath, `${readFileSync(runnerPath, 'utf8')}// upstream change\n`);
    expect((await tg('uninstall', '--nanoclaw', fx.dir)).code).toBe(0);
    expect(readFileSync(runnerPath, 'utf8')).toBe(`${original}// upstream change\n`);
  });

  it('refuses what is not a NanoClaw v2 checkout, and unknown groups, with clear errors', async () => {
    fresh();
    const notNc = mkdtempSync(path.join(os.tmpdir(), 'tg-nn-'));
    const r = await tg('install', '--nanoclaw', notNc);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a NanoClaw v2 checkout: missing package\.json/);
    rmSync(notNc, { recursive: true });
    writeFileSync(path.join(fx.dir, 'src/ipc.ts'), '// v1\n');
    const v1 = await tg('install', '--nanoclaw', fx.dir);
    expect(v1.stderr).toMatch(/v1/);
    rmSync(path.join(fx.dir, 'src/ipc.ts'));
    const unknown = await tg('install', '--nanoclaw', fx.dir, '--group', 'nosuch');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/nosuch/);
    const usage = await tg('install');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--nanoclaw/);
  });
});
