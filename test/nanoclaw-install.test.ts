// install / uninstall against a NanoClaw v2-shaped fixture (its own ncl over SQLite, stand-ins for pnpm and
// systemctl that record their calls): a transaction that checks first, rolls back on failure, leaves a
// manifest uninstall can always undo, rebuilds and restarts NanoClaw, runs the guardian as a service,
// writes NanoClaw-clean code, and gives each group its own OneCLI gateway and a CA bundle that keeps
// trusting what it trusted before.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import * as prettier from 'prettier';
import { makeNanoclawFixture, runGeneratedHelper, type NanoclawFixture } from './support/nanoclaw-fixture.js';
import { runCli } from './support/cli.js';
import { GroupRegistry } from '../host-services/group-registry.js';
import { homePaths } from '../host-services/home.js';
import { loadOrCreateCa, type CertificateAuthority } from '../host-services/ca.js';
import { applyRunnerPatch, BEGIN } from '../host-services/nanoclaw/runner-patch.js';
import { installSlug } from '../host-services/nanoclaw/checkout.js';

let fx: NanoclawFixture;
let home: string;
const env = () => ({ ...fx.env(), NANOCLAW_TRAFFIC_GUARDIAN_HOME: home });
const tg = (...args: string[]) => runCli(args, { env: env() });
const install = (...args: string[]) => tg('install', '--nanoclaw', fx.dir, '--listen-host', '127.0.0.1', ...args);
/** NanoClaw's own formatting (its .prettierrc). */
const NANOCLAW_PRETTIER = { parser: 'typescript', singleQuote: true, printWidth: 120 } as const;

beforeAll(() => {
  expect(existsSync('dist/mcp-tools/traffic-guardian-mcp.mjs')).toBe(true);
});

function fresh(unspawned: string[] = []) {
  fx = makeNanoclawFixture(['alpha', 'beta', 'gamma'], unspawned);
  home = mkdtempSync(path.join(os.tmpdir(), 'tg-h-'));
}

/** NanoClaw installed as a systemd user service, as its setup does for a non-root Linux user. */
function withSystemdUserService(): string {
  const unit = `nanoclaw-v2-${installSlug(fx.dir)}`;
  const dir = path.join(fx.userHome, '.config', 'systemd', 'user');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${unit}.service`), '[Service]\nExecStart=node dist/index.js\n');
  return unit;
}

afterEach(() => {
  rmSync(path.dirname(fx.dir), { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

/** Calls the generated src/traffic-guardian.ts as the patched runner would. */
const generatedArgs = (folder: string, before: string[] = []) => runGeneratedHelper(fx.dir, home, folder, before);

/** What `docker run` ends up with: the last -e of each name, and each mount's source by target. */
function effective(args: string[]) {
  const env = new Map<string, string>();
  const mounts = new Map<string, { source: string; readonly: boolean }>();
  for (let i = 0; i < args.length - 1; i++) {
    const v = args[i + 1]!;
    if (args[i] === '-e') env.set(v.slice(0, v.indexOf('=')), v.slice(v.indexOf('=') + 1));
    if (args[i] === '-v') {
      const [src, dst, mode] = v.split(':');
      mounts.set(dst!, { source: src!, readonly: mode === 'ro' });
    }
    if (args[i] === '--mount') {
      const kv = new Map(v.split(',').map((p) => p.split('=') as [string, string]));
      mounts.set(kv.get('target')!, { source: kv.get('source')!, readonly: v.split(',').includes('readonly') });
    }
  }
  return { env, mounts };
}

/** OneCLI's additions to the docker args, as @onecli-sh/sdk applyContainerConfig pushes them. */
function onecliArgs(token: string, onecliCa: CertificateAuthority, dir: string): string[] {
  const caFile = path.join(dir, 'onecli-proxy-ca.pem');
  const combined = path.join(dir, 'onecli-combined-ca.pem');
  writeFileSync(caFile, onecliCa.certPem);
  writeFileSync(combined, `${tls.rootCertificates.join('\n')}\n${onecliCa.certPem}`);
  const gw = `http://x:${token}@host.docker.internal:10255`;
  return [
    'run',
    '--rm',
    '-e',
    'TZ=UTC',
    '-e',
    `HTTPS_PROXY=${gw}`,
    '-e',
    `HTTP_PROXY=${gw}`,
    '-e',
    'NODE_EXTRA_CA_CERTS=/tmp/onecli-proxy-ca.pem',
    '-e',
    'NO_PROXY=metadata.internal',
    '-v',
    `${caFile}:/tmp/onecli-proxy-ca.pem:ro`,
    '-e',
    'SSL_CERT_FILE=/tmp/onecli-combined-ca.pem',
    '-e',
    'DENO_CERT=/tmp/onecli-combined-ca.pem',
    '-v',
    `${combined}:/tmp/onecli-combined-ca.pem:ro`,
  ];
}

function tmpCa(): CertificateAuthority {
  const d = mkdtempSync(path.join(home, 'ca-'));
  return loadOrCreateCa(
    {
      caDir: d,
      caCert: path.join(d, 'ca.crt'),
      caKey: path.join(d, 'ca.key'),
      leafKey: path.join(d, 'leaf.key'),
    },
    { create: true },
  )!;
}

/** A TLS handshake against a server whose certificate `issuer` signed, trusting only `bundle`. */
async function handshake(issuer: CertificateAuthority, bundle: string): Promise<boolean> {
  const leaf = issuer.certFor('localhost');
  const server = tls.createServer({ cert: leaf.cert, key: leaf.key }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise<boolean>((resolve) => {
      const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: bundle }, () => {
        c.destroy();
        resolve(true);
      });
      c.once('error', () => resolve(false));
    });
  } finally {
    server.close();
  }
}

describe('traffic-guardian install: a transaction', () => {
  it('--dry-run prints the plan and changes nothing, runs nothing', async () => {
    fresh();
    withSystemdUserService();
    const files = fx.snapshot();
    const db = fx.dbDump();
    const r = await install('--group', 'alpha', '--dry-run');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\[dry-run\] would write .*src\/traffic-guardian\.ts/);
    expect(r.stdout).toMatch(/\[dry-run\] would patch .*container-runner\.ts/);
    expect(r.stdout).toMatch(/add-mcp-server/);
    expect(r.stdout).toMatch(/would run: pnpm run build/);
    expect(fx.snapshot()).toEqual(files);
    expect(fx.dbDump()).toBe(db);
    expect(fx.calls()).toEqual([]);
    expect(existsSync(path.join(home, 'nanoclaw'))).toBe(false);
    expect(existsSync(path.join(home, 'groups.json'))).toBe(false);
  });

  it('refuses before any change when NanoClaw is not running, naming the next step', async () => {
    fresh();
    const files = fx.snapshot();
    writeFileSync(path.join(fx.dir, 'data', 'host-down'), '');
    const r = await install('--group', 'alpha');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/NanoClaw's host is not running/);
    expect(r.stderr).toMatch(/start it/);
    expect(r.stderr).toMatch(/run install again/);
    rmSync(path.join(fx.dir, 'data', 'host-down'));
    expect(fx.snapshot()).toEqual(files);
    expect(existsSync(path.join(home, 'nanoclaw'))).toBe(false);
    // uninstall has nothing to undo, and install now simply works (nothing was left in the way).
    expect((await tg('uninstall', '--nanoclaw', fx.dir)).stdout).toMatch(/nothing to do/);
    const ok = await install('--group', 'alpha');
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('refuses a group that never spawned, before any change, saying how to give it a config', async () => {
    fresh(['delta']);
    const files = fx.snapshot();
    const db = fx.dbDump();
    const r = await install('--group', 'alpha', '--group', 'delta');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/group delta has never spawned, so it has no container config yet/);
    expect(r.stderr).toMatch(/Send the group a message/);
    expect(fx.snapshot()).toEqual(files);
    expect(fx.dbDump()).toBe(db);
    expect(existsSync(path.join(home, 'groups.json'))).toBe(false);
    expect(existsSync(path.join(home, 'nanoclaw', 'groups', 'alpha.json'))).toBe(false);
  });

  it('rolls every change back when a step fails (NanoClaw build), and says so', { timeout: 60_000 }, async () => {
    fresh();
    const unit = withSystemdUserService();
    const files = fx.snapshot();
    const db = fx.dbDump();
    writeFileSync(path.join(fx.tools, 'pnpm-fail'), '');
    const r = await install('--group', 'alpha', '--group', 'beta');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/`pnpm run build` failed/);
    expect(r.stderr).toMatch(/Every change of this run was undone/);
    expect(r.stderr).toMatch(/Next: fix NanoClaw's build/);
    expect(fx.snapshot()).toEqual(files);
    expect(fx.dbDump()).toBe(db);
    expect(GroupRegistry.load(homePaths(home).groupsFile).groups()).toEqual([]);
    expect(existsSync(path.join(home, 'nanoclaw', 'install.json'))).toBe(false);
    expect(existsSync(path.join(home, 'config.json'))).toBe(false);
    const guardianUnit = path.join(
      fx.userHome,
      '.config/systemd/user',
      `nanoclaw-traffic-guardian-${installSlug(fx.dir)}.service`,
    );
    expect(existsSync(guardianUnit)).toBe(false);
    expect(fx.calls().some((c) => c.startsWith(`systemctl --user disable --now nanoclaw-traffic-guardian-`))).toBe(
      true,
    );
    expect(fx.calls().some((c) => c.startsWith(`systemctl --user restart ${unit}`))).toBe(false);
  });

  it('an install killed half-way leaves a manifest that uninstall fully undoes', { timeout: 60_000 }, async () => {
    fresh();
    const files = fx.snapshot();
    const db = fx.dbDump();
    // The stand-in pnpm SIGKILLs install during the build: no rollback runs.
    writeFileSync(path.join(fx.tools, 'pnpm-kill-parent'), '');
    const r = await install('--group', 'alpha');
    expect(r.code).toBeNull();
    rmSync(path.join(fx.tools, 'pnpm-kill-parent'));
    const manifest = JSON.parse(readFileSync(path.join(home, 'nanoclaw', 'install.json'), 'utf8')) as { state: string };
    expect(manifest.state).toBe('installing');
    const again = await install('--group', 'alpha');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/did not finish; undo it with `traffic-guardian uninstall/);
    const u = await tg('uninstall', '--nanoclaw', fx.dir);
    expect(u.code, u.stderr).toBe(0);
    expect(fx.snapshot()).toEqual(files);
    expect(fx.dbDump()).toBe(db);
    expect(existsSync(path.join(home, 'nanoclaw', 'groups', 'alpha.json'))).toBe(false);
    expect(GroupRegistry.load(homePaths(home).groupsFile).groups()).toEqual([]);
    expect((await install('--group', 'alpha')).code).toBe(0);
  });

  it('cleans and adopts a checkout left marked by an install that predates the manifest', async () => {
    fresh();
    const files = fx.snapshot();
    const runner = path.join(fx.dir, 'src/container-runner.ts');
    const original = readFileSync(runner, 'utf8');
    // What the first version left after a failed install: patched runner and helper, no record.
    writeFileSync(runner, applyRunnerPatch(original).replace(', args));', '));'));
    writeFileSync(path.join(fx.dir, 'src/traffic-guardian.ts'), `${BEGIN} (whole file)\nexport {};\n`);
    const u = await tg('uninstall', '--nanoclaw', fx.dir);
    expect(u.code, u.stderr).toBe(0);
    expect(u.stdout).toMatch(/left by an unrecorded install/);
    expect(fx.snapshot()).toEqual(files);
    // And install adopts such leftovers instead of refusing.
    writeFileSync(path.join(fx.dir, 'src/traffic-guardian.ts'), `${BEGIN} (whole file)\nexport {};\n`);
    const i = await install('--group', 'alpha');
    expect(i.code, i.stderr).toBe(0);
    expect((await tg('uninstall', '--nanoclaw', fx.dir)).code).toBe(0);
    expect(readFileSync(runner, 'utf8')).toBe(original);
  });

  it('refuses a foreign file in the way', async () => {
    fresh();
    writeFileSync(path.join(fx.dir, 'src/traffic-guardian.ts'), '// mine\n');
    const r = await install('--group', 'alpha');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/exists and was not written by install: move it away/);
  });
});

describe('traffic-guardian install: wiring a running NanoClaw', () => {
  it(
    'wires the named groups, builds and restarts NanoClaw, runs the guardian as a service, and reverses it all',
    { timeout: 120_000 },
    async () => {
      fresh();
      const unit = withSystemdUserService();
      const slug = installSlug(fx.dir);
      const files = fx.snapshot();
      const gammaBefore = fx.mcpServers('gamma');

      const r1 = await install('--group', 'alpha', '--group', 'beta');
      expect(r1.code, r1.stderr).toBe(0);
      const runner = readFileSync(path.join(fx.dir, 'src/container-runner.ts'), 'utf8');
      expect(runner).toContain('args.push(...trafficGuardianArgs(agentGroup.folder, args));');
      expect(runner.indexOf('trafficGuardianArgs(agentGroup')).toBeGreaterThan(runner.indexOf('applyContainerConfig'));
      expect(runner.indexOf('trafficGuardianArgs(agentGroup')).toBeLessThan(runner.indexOf('// Volume mounts'));
      for (const g of ['alpha', 'beta']) {
        const s = fx.mcpServers(g);
        expect(s['traffic-guardian']).toEqual({
          command: 'node',
          args: ['/opt/traffic-guardian/traffic-guardian-mcp.mjs'],
          env: { NANOCLAW_TRAFFIC_GUARDIAN_SOCKET: '/run/traffic-guardian/guardian.sock' },
        });
        expect(s.other).toBeDefined();
      }
      expect(fx.mcpServers('gamma')).toEqual(gammaBefore);

      // The running NanoClaw picks it up: built and restarted through its own service; the guardian runs
      // as a service of the same kind, restarted on failure.
      const guardianUnit = `nanoclaw-traffic-guardian-${slug}`;
      const unitFile = path.join(fx.userHome, '.config/systemd/user', `${guardianUnit}.service`);
      expect(readFileSync(unitFile, 'utf8')).toMatch(/Restart=on-failure/);
      expect(readFileSync(unitFile, 'utf8')).toContain(`start --config ${path.join(home, 'config.json')}`);
      expect(readFileSync(unitFile, 'utf8')).toContain(`Environment=NANOCLAW_TRAFFIC_GUARDIAN_HOME=${home}`);
      const calls = fx.calls().map((c) => c.replace(/ @ .*$/, ''));
      expect(calls).toEqual([
        'systemctl --user daemon-reload',
        `systemctl --user enable ${guardianUnit}`,
        `systemctl --user restart ${guardianUnit}`,
        'pnpm run build',
        `systemctl --user restart ${unit}`,
      ]);
      expect(fx.calls()[3]).toMatch(new RegExp(` @ ${fx.dir}$`));

      // A working guardian config, nobody hand-writes it.
      const cfg = JSON.parse(readFileSync(path.join(home, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(cfg).toMatchObject({
        proxy_host: '127.0.0.1',
        proxy_port: 8888,
        proxy_auth: 'groups',
        group_upstreams: true,
      });
      const check = await tg('check-config', path.join(home, 'config.json'));
      expect(check.code, check.stdout + check.stderr).toBe(0);

      // Packaged as a NanoClaw skill in the fork.
      const skill = readFileSync(path.join(fx.dir, '.claude/skills/add-traffic-guardian/SKILL.md'), 'utf8');
      expect(skill).toMatch(/^---\nname: add-traffic-guardian\ndescription: .+\n---\n/);
      for (const phase of ['Pre-flight', 'Apply', 'Wire groups', 'Build and restart', 'Verify', 'Remove']) {
        expect(skill).toContain(`## Phase`);
        expect(skill).toMatch(new RegExp(`## Phase \\d: ${phase}`));
      }
      expect(existsSync(path.join(fx.dir, '.claude/skills/add-traffic-guardian/VERIFY.md'))).toBe(true);
      expect(readFileSync(path.join(fx.dir, '.claude/skills/add-traffic-guardian/REMOVE.md'), 'utf8')).toMatch(
        /pnpm run build/,
      );

      // Second run: nothing changes, nothing runs.
      const afterFirst = fx.snapshot();
      const callsFirst = fx.calls().length;
      const r2 = await install('--group', 'alpha', '--group', 'beta');
      expect(r2.code, r2.stderr).toBe(0);
      expect(r2.stdout).toMatch(/nothing to do/);
      expect(fx.snapshot()).toEqual(afterFirst);
      expect(fx.calls().length).toBe(callsFirst);

      // Uninstall: every file back byte for byte, registrations gone, guardian service removed, NanoClaw
      // rebuilt and restarted so the running host drops the patch.
      const u = await tg('uninstall', '--nanoclaw', fx.dir);
      expect(u.code, u.stderr).toBe(0);
      expect(fx.snapshot()).toEqual(files);
      expect(fx.mcpServers('alpha')['traffic-guardian']).toBeUndefined();
      expect(fx.mcpServers('alpha').other).toBeDefined();
      expect(GroupRegistry.load(homePaths(home).groupsFile).groups()).toEqual([]);
      expect(existsSync(unitFile)).toBe(false);
      expect(existsSync(path.join(home, 'config.json'))).toBe(false);
      const after = fx
        .calls()
        .slice(callsFirst)
        .map((c) => c.replace(/ @ .*$/, ''));
      expect(after).toEqual([
        `systemctl --user disable --now ${guardianUnit}`,
        'systemctl --user daemon-reload',
        'pnpm run build',
        `systemctl --user restart ${unit}`,
      ]);
      const u2 = await tg('uninstall', '--nanoclaw', fx.dir);
      expect(u2.code).toBe(0);
      expect(u2.stdout).toMatch(/nothing to do/);
    },
  );

  it('--manual runs nothing and prints the exact build, restart and service commands', async () => {
    fresh();
    const unit = withSystemdUserService();
    const r = await install('--group', 'alpha', '--manual');
    expect(r.code, r.stderr).toBe(0);
    expect(fx.calls()).toEqual([]);
    expect(r.stdout).toContain(`(cd ${fx.dir} && pnpm run build)`);
    expect(r.stdout).toContain(`systemctl --user restart ${unit}`);
    expect(r.stdout).toContain('Restart=on-failure');
    const u = await tg('uninstall', '--nanoclaw', fx.dir, '--manual');
    expect(u.code, u.stderr).toBe(0);
    expect(fx.calls()).toEqual([]);
    expect(u.stdout).toContain(`systemctl --user restart ${unit}`);
  });

  it('keeps the operator config keys, honours --port and --mitm, and refuses a config with a bad key', async () => {
    fresh();
    writeFileSync(path.join(home, 'config.json'), JSON.stringify({ disabled_rules: ['ssh_pubkey'], proxy_port: 9000 }));
    const r = await install('--group', 'alpha', '--port', '9911', '--mitm');
    expect(r.code, r.stderr).toBe(0);
    const cfg = JSON.parse(readFileSync(path.join(home, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(cfg).toMatchObject({ proxy_port: 9911, https_inspection: true, disabled_rules: ['ssh_pubkey'] });
    const wiring = JSON.parse(readFileSync(path.join(home, 'nanoclaw/groups/alpha.json'), 'utf8')) as {
      env: Record<string, string>;
    };
    expect(new URL(wiring.env.HTTPS_PROXY!).port).toBe('9911');
    expect((await tg('uninstall', '--nanoclaw', fx.dir)).code).toBe(0);
    // The operator's own config comes back as it was.
    expect(JSON.parse(readFileSync(path.join(home, 'config.json'), 'utf8'))).toEqual({
      disabled_rules: ['ssh_pubkey'],
      proxy_port: 9000,
    });
    writeFileSync(path.join(home, 'config.json'), JSON.stringify({ proxy_prot: 1 }));
    const bad = await install('--group', 'alpha');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/proxy_prot: unknown key/);
  });

  it('writes NanoClaw-clean code: Prettier (NanoClaw config) and strict tsc accept it, also after a reformat', async () => {
    fresh();
    const files = fx.snapshot();
    expect((await install('--group', 'alpha')).code).toBe(0);
    for (const f of ['src/traffic-guardian.ts', 'src/container-runner.ts']) {
      const src = readFileSync(path.join(fx.dir, f), 'utf8');
      expect(await prettier.format(src, NANOCLAW_PRETTIER), f).toBe(src);
    }
    // Strict NodeNext TypeScript, as NanoClaw's tsconfig has it (checked on the files install adds and
    // the mount helper they use; the fixture runner imports packages the fixture does not have).
    writeFileSync(
      path.join(fx.dir, 'tsconfig.check.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [path.resolve('node_modules/@types')],
        },
        files: ['src/traffic-guardian.ts'],
      }),
    );
    writeFileSync(path.join(fx.dir, 'package.json'), JSON.stringify({ name: 'nanoclaw', type: 'module' }));
    execFileSync(process.execPath, [path.resolve('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.check.json'], {
      cwd: fx.dir,
    });
    rmSync(path.join(fx.dir, 'tsconfig.check.json'));
    writeFileSync(
      path.join(fx.dir, 'package.json'),
      `${JSON.stringify({ name: 'nanoclaw', version: '2.0.64', type: 'module' }, null, 2)}\n`,
    );
    // NanoClaw's pre-commit hook (or an editor) reformats the helper: uninstall still removes it.
    const helper = path.join(fx.dir, 'src/traffic-guardian.ts');
    writeFileSync(
      helper,
      await prettier.format(readFileSync(helper, 'utf8'), { parser: 'typescript', printWidth: 60 }),
    );
    expect((await tg('uninstall', '--nanoclaw', fx.dir)).code).toBe(0);
    expect(fx.snapshot()).toEqual(files);
  });

  it('on uninstall keeps NanoClaw changes made after install and removes only the marked blocks', async () => {
    fresh();
    const original = readFileSync(path.join(fx.dir, 'src/container-runner.ts'), 'utf8');
    expect((await install('--group', 'alpha')).code).toBe(0);
    const runnerPath = path.join(fx.dir, 'src/container-runner.ts');
    writeFileSync(runnerPath, `${readFileSync(runnerPath, 'utf8')}// upstream change\n`);
    expect((await tg('uninstall', '--nanoclaw', fx.dir)).code).toBe(0);
    expect(readFileSync(runnerPath, 'utf8')).toBe(`${original}// upstream change\n`);
  });

  it('adds a group on a later install without touching the first', async () => {
    fresh();
    expect((await install('--group', 'alpha')).code).toBe(0);
    const alphaWiring = readFileSync(path.join(home, 'nanoclaw', 'groups', 'alpha.json'), 'utf8');
    const r = await install('--group', 'alpha', '--group', 'beta');
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(home, 'nanoclaw', 'groups', 'alpha.json'), 'utf8')).toBe(alphaWiring);
    expect(fx.mcpServers('beta')['traffic-guardian']).toBeDefined();
  });

  it('refuses what is not a NanoClaw v2 checkout, and unknown groups, with clear errors', async () => {
    fresh();
    const notNc = mkdtempSync(path.join(os.tmpdir(), 'tg-nn-'));
    const r = await tg('install', '--nanoclaw', notNc, '--group', 'alpha');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a NanoClaw v2 checkout: missing package\.json/);
    rmSync(notNc, { recursive: true });
    writeFileSync(path.join(fx.dir, 'src/ipc.ts'), '// v1\n');
    const v1 = await install('--group', 'alpha');
    expect(v1.stderr).toMatch(/v1/);
    rmSync(path.join(fx.dir, 'src/ipc.ts'));
    const unknown = await install('--group', 'nosuch');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/nosuch/);
    const none = await install();
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/--group FOLDER/);
    const usage = await tg('install');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--nanoclaw/);
  });
});

describe('the generated NanoClaw helper at container spawn', () => {
  it(
    "keeps OneCLI working: each group's own gateway recorded for the guardian, CA bundles that trust OneCLI, the guardian and public roots",
    { timeout: 60_000 },
    async () => {
      fresh();
      expect((await install('--group', 'alpha', '--group', 'beta')).code).toBe(0);
      const onecli = tmpCa();
      const guardianCa = loadOrCreateCa(homePaths(home), { create: false })!;
      const work = mkdtempSync(path.join(home, 'spawn-'));
      const before = onecliArgs('aoc_tokenA', onecli, work);
      const out = await generatedArgs('alpha', before);
      const { env: e, mounts } = effective([...before, ...out]);

      // Proxy: the guardian with alpha's credential; OneCLI's NO_PROXY kept.
      expect(e.get('HTTPS_PROXY')).toMatch(/^http:\/\/alpha:[A-Za-z0-9_-]+@host\.docker\.internal:8888$/);
      expect(e.get('http_proxy')).toBe(e.get('HTTPS_PROXY'));
      expect(e.get('NO_PROXY')).toBe('metadata.internal,localhost,127.0.0.1');
      // Every CA variable points at a bundle that covers what the container needs.
      for (const v of ['SSL_CERT_FILE', 'DENO_CERT', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO']) {
        expect(e.get(v), v).toBe('/opt/traffic-guardian/ca-bundle.pem');
      }
      expect(e.get('NODE_EXTRA_CA_CERTS')).toBe('/opt/traffic-guardian/extra-ca.pem');
      const share = mounts.get('/opt/traffic-guardian')!;
      expect(share).toEqual({ source: path.join(home, 'nanoclaw/share/alpha'), readonly: true });
      expect(mounts.get('/run/traffic-guardian')).toEqual({
        source: path.join(home, 'run/groups/alpha'),
        readonly: true,
      });
      const bundle = readFileSync(path.join(share.source, 'ca-bundle.pem'), 'utf8');
      const extra = readFileSync(path.join(share.source, 'extra-ca.pem'), 'utf8');
      expect(await handshake(onecli, bundle)).toBe(true); // HTTPS through OneCLI (inspection off)
      expect(await handshake(guardianCa, bundle)).toBe(true); // HTTPS through the guardian (inspection on)
      expect(await handshake(onecli, extra)).toBe(true);
      expect(await handshake(guardianCa, extra)).toBe(true);
      expect(await handshake(tmpCa(), bundle)).toBe(false); // and nothing else
      expect(bundle.split('BEGIN CERTIFICATE').length - 1).toBeGreaterThan(50); // the public roots
      expect(bundle).not.toMatch(/PRIVATE KEY/);
      expect(readdirNames(share.source)).toEqual([
        'ca-bundle.pem',
        'ca.crt',
        'extra-ca.pem',
        'traffic-guardian-mcp.mjs',
      ]);

      // Each group's own OneCLI credential is recorded for the guardian (host side, 0600), not shared.
      await generatedArgs('beta', onecliArgs('aoc_tokenB', onecli, work));
      for (const [g, tok] of [
        ['alpha', 'aoc_tokenA'],
        ['beta', 'aoc_tokenB'],
      ] as const) {
        const f = path.join(home, 'nanoclaw/upstreams', `${g}.json`);
        const rec = JSON.parse(readFileSync(f, 'utf8')) as { proxy_url: string; ca_pem: string; group: string };
        expect(rec.group).toBe(g);
        expect(rec.proxy_url).toBe(`http://x:${tok}@127.0.0.1:10255/`);
        expect(rec.ca_pem.trim()).toBe(onecli.certPem.trim());
        expect(statSync(f).mode & 0o777).toBe(0o600);
      }
      // A group that is not wired gets nothing.
      expect(await generatedArgs('gamma', before)).toEqual([]);
    },
  );

  it("mounts through NanoClaw's own helper (an Apple Container fork's --mount form)", async () => {
    fresh();
    expect((await install('--group', 'alpha')).code).toBe(0);
    process.env.FIXTURE_MOUNT_STYLE = 'apple';
    try {
      const out = await generatedArgs('alpha', []);
      expect(out.filter((a) => a === '-v')).toEqual([]);
      const mounts = out.filter((_, i) => out[i - 1] === '--mount');
      expect(mounts).toEqual([
        `type=bind,source=${path.join(home, 'nanoclaw/share/alpha')},target=/opt/traffic-guardian,readonly`,
        `type=bind,source=${path.join(home, 'run/groups/alpha')},target=/run/traffic-guardian,readonly`,
      ]);
    } finally {
      delete process.env.FIXTURE_MOUNT_STYLE;
    }
  });

  it('a broken wiring file never stops the container from starting: it runs as before, with a warning', async () => {
    fresh();
    expect((await install('--group', 'alpha')).code).toBe(0);
    writeFileSync(path.join(home, 'nanoclaw/groups/alpha.json'), '{not json');
    expect(await generatedArgs('alpha', [])).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)(
    'on a root host gives the group socket directory to the uid containers run as (1000)',
    async () => {
      fresh();
      expect((await install('--group', 'alpha')).code).toBe(0);
      const st = statSync(path.join(home, 'run/groups/alpha'));
      expect(st.uid).toBe(1000);
      expect(st.mode & 0o777).toBe(0o700);
    },
  );
});

function readdirNames(dir: string): string[] {
  return execFileSync('ls', [dir], { encoding: 'utf8' }).trim().split('\n').sort();
}
