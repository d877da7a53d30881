// `traffic-guardian doctor` against a wired NanoClaw fixture and a real guardian started from the config
// install wrote: each link fails with the command that fixes it until it holds, and the exit code is 0
// only when every check holds (including a probe through the proxy answered by the guardian itself).
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { makeNanoclawFixture, runGeneratedHelper, type NanoclawFixture } from './support/nanoclaw-fixture.js';
import { CLI, runCli } from './support/cli.js';
import { waitFor } from './support/proxy-client.js';

let fx: NanoclawFixture;
let home: string;
const children: ChildProcess[] = [];
const env = () => ({ ...fx.env(), NANOCLAW_TRAFFIC_GUARDIAN_HOME: home });
const tg = (...args: string[]) => runCli(args, { env: env() });

interface Check {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

async function doctor(): Promise<{ code: number | null; checks: Check[] }> {
  const r = await tg('doctor', '--nanoclaw', fx.dir, '--json');
  return { code: r.code, checks: (JSON.parse(r.stdout) as { checks: Check[] }).checks };
}

const byName = (checks: Check[], re: RegExp) => checks.filter((c) => re.test(c.name));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill('SIGTERM');
    await new Promise((r) => c.once('exit', r));
  }
  rmSync(path.dirname(fx.dir), { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

/** What NanoClaw's build and a host restart produce, enough for doctor to see them. */
async function buildAndStartNanoclawHost(): Promise<void> {
  const dist = path.join(fx.dir, 'dist');
  mkdirSync(dist, { recursive: true });
  await build({
    entryPoints: [path.join(fx.dir, 'src/traffic-guardian.ts')],
    outfile: path.join(dist, 'traffic-guardian.js'),
    platform: 'node',
    format: 'esm',
    logLevel: 'silent',
  });
  writeFileSync(
    path.join(dist, 'container-runner.js'),
    'args.push(...trafficGuardianArgs(agentGroup.folder, args));\n',
  );
  writeFileSync(path.join(dist, 'index.js'), 'setInterval(() => {}, 1000);\n');
  await new Promise((r) => setTimeout(r, 1100)); // ps reports start times to the second
  const host = spawn(process.execPath, ['dist/index.js'], { cwd: fx.dir, stdio: 'ignore' });
  children.push(host);
}

/** A container spawn: the generated helper runs with OneCLI-less args and writes the group's bundles. */
async function spawnGroup(folder: string): Promise<void> {
  expect((await runGeneratedHelper(fx.dir, home, folder)).length).toBeGreaterThan(0);
}

describe('traffic-guardian doctor', () => {
  it('without an install says so and exits 1', async () => {
    fx = makeNanoclawFixture();
    home = mkdtempSync(path.join(os.tmpdir(), 'tg-h-'));
    const r = await doctor();
    expect(r.code).toBe(1);
    expect(r.checks[0]).toMatchObject({ name: 'install recorded', ok: false });
    expect(r.checks[0]!.fix).toMatch(/traffic-guardian install --nanoclaw/);
  });

  it('names each broken link with its fix, and exits 0 once every link holds', { timeout: 120_000 }, async () => {
    fx = makeNanoclawFixture();
    home = mkdtempSync(path.join(os.tmpdir(), 'tg-h-'));
    const port = await freePort();
    const i = await tg(
      'install',
      '--nanoclaw',
      fx.dir,
      '--listen-host',
      '127.0.0.1',
      '--port',
      String(port),
      '--group',
      'alpha',
    );
    expect(i.code, i.stderr).toBe(0);

    // Installed, but nothing running, nothing built, no spawn yet.
    let r = await doctor();
    expect(r.code).toBe(1);
    expect(byName(r.checks, /^guardian running$/)[0]).toMatchObject({ ok: false });
    expect(byName(r.checks, /dist\/ carries the patch/)[0]).toMatchObject({ ok: false });
    expect(byName(r.checks, /dist\/ carries the patch/)[0]!.fix).toMatch(/pnpm run build/);
    expect(byName(r.checks, /CA bundles/)[0]).toMatchObject({ ok: false });
    expect(byName(r.checks, /CA bundles/)[0]!.fix).toMatch(/send the group a message/);
    expect(byName(r.checks, /MCP server registered/)[0]).toMatchObject({ ok: true });
    expect(byName(r.checks, /wiring file/)[0]).toMatchObject({ ok: true });

    // The guardian from the config install wrote, NanoClaw built and restarted, the group spawned.
    const guardian = spawn(process.execPath, [CLI, 'start', '--config', path.join(home, 'config.json')], {
      env: { ...process.env, ...env() },
      stdio: 'ignore',
    });
    children.push(guardian);
    await waitFor(
      () => readFileSafe(path.join(home, 'run', 'guardian.pid')),
      (t) => t !== '',
      'guardian pid file',
    );
    await buildAndStartNanoclawHost();
    await spawnGroup('alpha');

    r = await waitFor(
      () => doctor(),
      (d) => d.code === 0,
      'doctor to pass',
    ).catch(async () => doctor());
    const failing = r.checks.filter((c) => !c.ok);
    expect(failing, JSON.stringify(failing, null, 2)).toEqual([]);
    expect(r.code).toBe(0);
    expect(byName(r.checks, /probe through the proxy/)[0]!.detail).toMatch(/saw group alpha/);
    // The text form names each check.
    const text = await tg('doctor', '--nanoclaw', fx.dir);
    expect(text.stdout).toMatch(/all \d+ checks hold/);
    // Nothing doctor prints carries the group's proxy credential.
    const token = new URL(
      (
        JSON.parse(readFileSync(path.join(home, 'nanoclaw/groups/alpha.json'), 'utf8')) as {
          env: { HTTP_PROXY: string };
        }
      ).env.HTTP_PROXY,
    ).password;
    expect(text.stdout).not.toContain(token);
    expect(JSON.stringify(r.checks)).not.toContain(token);
  });
});

function readFileSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
}
