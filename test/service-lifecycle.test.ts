// The service as an operator runs it: the built CLI in a child process. Startup line, status,
// SIGTERM flushing findings, stop, stale pid recovery, the CA key permission check, bad config, and
// a failing findings log that leaves the proxy serving.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { CLI, runCli } from './support/cli.js';
import { tempHome, startService } from './support/service.js';
import { startTlsUpstream, type TlsUpstream } from './support/tls-upstream.js';
import { viaProxyHttp, waitFor } from './support/proxy-client.js';
import { expandExample } from './support/expand-example.js';
import { leakedRuns } from './support/leak-check.js';

let up: TlsUpstream;
let home: string;
const children: ChildProcess[] = [];
const env = () => ({ NANOCLAW_TRAFFIC_GUARDIAN_HOME: home });

beforeAll(async () => {
  up = await startTlsUpstream();
});
afterAll(async () => {
  await up.close();
});
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

/** Starts `traffic-guardian start` and resolves with the port from its startup line. */
async function start(
  args: string[] = [],
): Promise<{ child: ChildProcess; port: number; out: () => string; err: () => string }> {
  const child = spawn(process.execPath, [CLI, 'start', '--port', '0', ...args], { env: { ...process.env, ...env() } });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const port = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`start exited ${child.exitCode}: ${err}`);
      return /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
    },
    (p) => p !== undefined,
    'startup line',
    15_000,
  );
  return { child, port: Number(port), out: () => out, err: () => err };
}

describe('service lifecycle (built CLI)', () => {
  it('prints how to use it, reports status, flushes findings on SIGTERM and cleans up', async () => {
    home = tempHome();
    const g = await start();
    expect(g.out()).toMatch(/HTTP_PROXY=http:\/\/127\.0\.0\.1:\d+ HTTPS_PROXY=/);
    expect(g.out()).toMatch(/HTTPS inspection: off/);
    const st = await runCli(['status', '--json'], { env: env() });
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ state: 'running', pid: g.child.pid, listener: { port: g.port } });

    const key = expandExample('ghp_{{rand:alnum:36}}');
    const r = await viaProxyHttp(g.port, `http://localhost:${up.upstream.httpPort}/echo`, {
      method: 'POST',
      body: `t=${key.text}`,
    });
    expect(r.status).toBe(200);
    g.child.kill('SIGTERM'); // at once: the finding may still be queued
    const [code] = (await once(g.child, 'exit')) as [number];
    expect(code).toBe(0);
    const log = readFileSync(path.join(home, 'findings.jsonl'), 'utf8');
    expect(log).toContain('"pattern":"github_token"');
    expect(leakedRuns(log, key.randomParts)).toEqual([]);
    expect(leakedRuns(g.err(), key.randomParts)).toEqual([]);
    expect(existsSync(path.join(home, 'run', 'guardian.pid'))).toBe(false);
    expect(existsSync(path.join(home, 'run', 'guardian.sock'))).toBe(false);
    const after = await runCli(['status'], { env: env() });
    expect(after.code).toBe(1);
    expect(after.stdout).toMatch(/stopped/);
  });

  it('`stop` stops a running guardian; with nothing running it says so', async () => {
    home = tempHome();
    const g = await start();
    const s = await runCli(['stop'], { env: env() });
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/stopped traffic-guardian/);
    expect(g.child.exitCode ?? (await once(g.child, 'exit'))[0]).toBe(0);
    const again = await runCli(['stop'], { env: env() });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/not running/);
  });

  it('recovers from a stale pid file and socket, and refuses a second instance', async () => {
    home = tempHome();
    const dead = spawn(process.execPath, ['-e', '']);
    await once(dead, 'exit');
    mkdirSync(path.join(home, 'run'), { recursive: true, mode: 0o700 });
    writeFileSync(
      path.join(home, 'run', 'guardian.pid'),
      JSON.stringify({
        pid: dead.pid,
        started_at: 'x',
        listener: { host: '127.0.0.1', port: 1 },
        socket: 's',
        https_inspection: false,
      }),
    );
    // A socket file nobody listens on, as a crash leaves it.
    const holder = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path.join(home, 'run', 'guardian.sock'))}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await once(holder, 'exit');
    expect(existsSync(path.join(home, 'run', 'guardian.sock'))).toBe(true);
    const g = await start();
    expect(g.err()).toMatch(/removing stale pid file/);
    expect((await runCli(['status'], { env: env() })).code).toBe(0);
    const second = await runCli(['start', '--port', '0'], { env: env() });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/already running/);
  });

  it('refuses to start when the CA key is readable by others, naming the file', async () => {
    home = tempHome();
    const g = await start(['--mitm']);
    expect(g.out()).toMatch(/CA SHA-256 fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    g.child.kill('SIGTERM');
    await once(g.child, 'exit');
    chmodSync(path.join(home, 'ca', 'ca.key'), 0o644);
    const r = await runCli(['start', '--port', '0', '--mitm'], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ca\.key/);
    expect(r.stderr).toMatch(/chmod 600/);
    expect(existsSync(path.join(home, 'run', 'guardian.pid'))).toBe(false);
  });

  it('refuses a bad config before listening, naming each key', async () => {
    home = tempHome();
    const f = path.join(home, 'bad.json');
    writeFileSync(f, JSON.stringify({ proxy_port: 99999, nope: 1 }));
    const r = await runCli(['start', '--config', f], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/proxy_port/);
    expect(r.stderr).toMatch(/nope: unknown key/);
  });
});

describe('findings log failure', () => {
  it('keeps the proxy serving, counts the dropped write and shows degraded', async () => {
    home = tempHome();
    mkdirSync(path.join(home, 'findings.jsonl'), { recursive: true }); // unwritable: it is a directory
    const t = await startService({ dedup_window_secs: 0 }, {}, home);
    try {
      const key = expandExample('npm_{{rand:alnum:36}}');
      const r = await viaProxyHttp(t.port, `http://localhost:${up.upstream.httpPort}/echo`, {
        method: 'POST',
        body: key.text,
      });
      expect(r.status).toBe(200);
      await t.svc.store.flush();
      const st = await waitFor(
        () => t.svc.status(null),
        (s) => s.counters.dropped_writes >= 1,
        'dropped write',
      );
      expect(st.state).toBe('degraded');
      expect(st.degraded_reasons.join()).toMatch(/findings log not writable/);
      const again = await viaProxyHttp(t.port, `http://localhost:${up.upstream.httpPort}/plain`);
      expect(again.status).toBe(200);
    } finally {
      await t.svc.stop();
    }
  });
});
