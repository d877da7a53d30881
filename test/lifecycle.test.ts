// The guardian's lifecycle as an operator lives it: the built CLI (`dist/host-services/cli.js`) in real
// child processes with their own temp homes, real sockets and a real local upstream. Startup output,
// status, SIGTERM/SIGINT flushing findings and cleaning up, `stop`, stale and reused pid files, the CA key
// permission check, a bad config, the embedded default listener; in-process: a findings log that cannot be
// written leaves the proxy serving; and the client allowlist, as a unit and on a real non-loopback socket.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { ClientAllowlist } from '../host-services/proxy/client-allowlist.js';
import { FindingSchema, type Finding } from '../lib/finding-schema.js';
import { CLI, runCli } from './support/cli.js';
import { expandExample } from './support/expand-example.js';
import { viaProxyHttp, waitFor } from './support/proxy-client.js';
import { startService } from './support/service.js';
import { startTlsUpstream, type TlsUpstream } from './support/tls-upstream.js';

let up: TlsUpstream;
const homes: string[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  up = await startTlsUpstream();
});
afterAll(async () => {
  await up?.close();
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  }
  for (const h of homes.splice(0)) rmSync(h, { recursive: true, force: true });
});

function newHome(): string {
  const h = mkdtempSync(path.join(os.tmpdir(), 'tg-'));
  homes.push(h);
  return h;
}

const envFor = (home: string) => ({ NANOCLAW_TRAFFIC_GUARDIAN_HOME: home });
const cli = (home: string, args: string[]) => runCli(args, { env: envFor(home) });
const pidFileOf = (home: string) => path.join(home, 'run', 'guardian.pid');
const socketOf = (home: string) => path.join(home, 'run', 'guardian.sock');

interface Guardian {
  child: ChildProcess;
  port: number;
  out: () => string;
  err: () => string;
  /** Resolves with the exit code, or the signal's name when a signal ended it (so a failure names it). */
  exited: Promise<number | string | null>;
}

/** A process that stays alive until killed (tracked for cleanup). */
function spawnTracked(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env } });
  children.push(child);
  return child;
}

/** `traffic-guardian start <args>` in the background; resolves once its startup line names the port. */
async function startGuardian(home: string, args: string[] = ['--port', '0']): Promise<Guardian> {
  const child = spawnTracked([CLI, 'start', ...args], envFor(home));
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? (signal ? `${signal}; stderr: ${err.slice(-2000)}` : null))),
  );
  const port = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`start exited ${child.exitCode}: ${err}`);
      return /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
    },
    (p) => p !== undefined,
    'the startup line',
    15_000,
  );
  return { child, port: Number(port), out: () => out, err: () => err, exited };
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A port that was free a moment ago (bound, then released). */
async function freePort(): Promise<number> {
  const srv = net.createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function findingsOnDisk(home: string): Finding[] {
  const f = path.join(home, 'findings.jsonl');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => FindingSchema.parse(JSON.parse(l)));
}

/** No 8-character run of any random part appears in `text`. */
function leaks(text: string, parts: string[]): string[] {
  const out: string[] = [];
  for (const p of parts) for (let i = 0; i + 8 <= p.length; i++) if (text.includes(p.slice(i, i + 8))) out.push(p);
  return out;
}

describe('start, status, stop (built CLI)', () => {
  it('prints the listener, the inspection mode and how to point a process at it; status reports it', async () => {
    const home = newHome();
    const g = await startGuardian(home);
    const url = `http://127.0.0.1:${g.port}`;
    expect(g.out()).toContain(`listening on ${url}`);
    expect(g.out()).toMatch(/HTTPS inspection: off/);
    expect(g.out()).toContain(`HTTP_PROXY=${url} HTTPS_PROXY=${url} <command>`);
    expect(g.out()).toContain(path.join(home, 'findings.jsonl'));

    const st = await cli(home, ['status', '--json']);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({
      state: 'running',
      pid: g.child.pid,
      listener: { host: '127.0.0.1', port: g.port },
      https_inspection: false,
      ca_fingerprint: null,
    });
    const human = await cli(home, ['status']);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`pid ${g.child.pid}`);
    expect(human.stdout).toContain(`listening on 127.0.0.1:${g.port}`);
    expect(statSync(pidFileOf(home)).mode & 0o777).toBe(0o600);
    expect(statSync(socketOf(home)).mode & 0o777).toBe(0o600);

    // It proxies, and what it finds is listed by `findings` while it runs.
    const r = await viaProxyHttp(g.port, `http://localhost:${up.upstream.httpPort}/plain`);
    expect(r.status).toBe(200);
    await waitFor(
      async () => (await cli(home, ['findings', '--json'])).stdout,
      (s) => s.includes('"pattern":"pipe_to_shell"'),
      'the finding in `findings --json`',
    );

    const stop = await cli(home, ['stop']);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain(`stopped traffic-guardian (pid ${g.child.pid})`);
    expect(await g.exited).toBe(0);
    const after = await cli(home, ['status']);
    expect(after.code).toBe(1);
    expect(after.stdout).toBe('traffic-guardian: stopped (no pid file)\n');
  });

  it('SIGTERM right after the traffic flushes every finding, exits 0 and removes the pid file and socket', async () => {
    const home = newHome();
    const g = await startGuardian(home);
    const keys = Array.from({ length: 8 }, () => expandExample('ghp_{{rand:alnum:36}}'));
    const replies = await Promise.all(
      keys.map((k, i) =>
        viaProxyHttp(g.port, `http://localhost:${up.upstream.httpPort}/echo`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `n=${i}&token=${k.text}`,
        }),
      ),
    );
    expect(replies.map((r) => r.status)).toEqual(keys.map(() => 200));
    g.child.kill('SIGTERM'); // at once: the findings may still be queued for the writer
    expect(await g.exited).toBe(0);

    const found = findingsOnDisk(home).filter((f) => f.pattern === 'github_token');
    expect(found).toHaveLength(keys.length);
    for (const f of found) {
      expect(f.direction).toBe('outbound');
      expect(f.dest).toBe(`localhost:${up.upstream.httpPort}`);
      expect(f.snippet).toContain('ghp_[REDACTED');
    }
    const parts = keys.flatMap((k) => k.randomParts);
    expect(leaks(readFileSync(path.join(home, 'findings.jsonl'), 'utf8'), parts)).toEqual([]);
    expect(leaks(g.out() + g.err(), parts)).toEqual([]);
    expect(g.err()).toMatch(/SIGTERM received/);
    expect(existsSync(pidFileOf(home))).toBe(false);
    expect(existsSync(socketOf(home))).toBe(false);
    expect(await listening(g.port)).toBe(false);
    const after = await cli(home, ['status']);
    expect(after.code).toBe(1);
    expect(after.stdout).toMatch(/stopped/);
  });

  it('SIGTERM while request bodies are still streaming logs the secrets already forwarded upstream', async () => {
    // An upstream that counts body bytes per request as they arrive; the requests never end.
    const arrived = new Map<string, number>();
    const sink = http.createServer((req) =>
      req.on('data', (d: Buffer) => arrived.set(req.url!, (arrived.get(req.url!) ?? 0) + d.length)),
    );
    sink.listen(0, '127.0.0.1');
    await once(sink, 'listening');
    const sinkPort = (sink.address() as net.AddressInfo).port;
    const home = newHome();
    const g = await startGuardian(home);
    const keys = Array.from({ length: 4 }, () => expandExample('ghp_{{rand:alnum:36}}'));
    const sent = new Map<string, number>();
    const sockets: net.Socket[] = [];
    try {
      for (const [i, k] of keys.entries()) {
        const s = net.connect(g.port, '127.0.0.1');
        s.on('error', () => undefined);
        sockets.push(s);
        await once(s, 'connect');
        let body = Buffer.from(`token=${k.text}&more=`);
        const headers = [`POST http://localhost:${sinkPort}/upload/${i} HTTP/1.1`, `Host: localhost:${sinkPort}`];
        if (i % 2 === 1) {
          // A gzip stream flushed but never finished.
          const z = zlib.createGzip();
          const parts: Buffer[] = [];
          z.on('data', (d: Buffer) => parts.push(d));
          z.write(body);
          await new Promise<void>((r) => z.flush(() => r()));
          body = Buffer.concat(parts);
          headers.push('Content-Encoding: gzip');
        }
        s.write(`${headers.join('\r\n')}\r\nContent-Length: 1000000\r\n\r\n`);
        s.write(body);
        sent.set(`/upload/${i}`, body.length);
      }
      // Every byte written so far, secrets included, has left through the guardian.
      await waitFor(
        () => [...sent].filter(([url, n]) => (arrived.get(url) ?? 0) >= n).length,
        (n) => n === keys.length,
        'every body at the upstream',
      );
      g.child.kill('SIGTERM');
      expect(await g.exited).toBe(0);
      const found = findingsOnDisk(home).filter((f) => f.pattern === 'github_token');
      expect(found).toHaveLength(keys.length);
      expect(found.filter((f) => f.encoding?.startsWith('gzip'))).toHaveLength(2);
    } finally {
      for (const s of sockets) s.destroy();
      sink.closeAllConnections();
      sink.close();
    }
  });

  it('`stop` stops a running guardian (both exit 0); with nothing running it exits 0 saying so', async () => {
    const home = newHome();
    const none = await cli(home, ['stop']);
    expect(none.code).toBe(0);
    expect(none.stdout).toMatch(/not running/);

    const g = await startGuardian(home);
    const s = await cli(home, ['stop']);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/stopped traffic-guardian/);
    expect(await g.exited).toBe(0);
    expect(existsSync(pidFileOf(home))).toBe(false);
    expect(await listening(g.port)).toBe(false);

    const again = await cli(home, ['stop']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/not running/);
  });
});

describe('pid file recovery', () => {
  async function deadPid(): Promise<number> {
    const dead = spawn(process.execPath, ['-e', '']);
    await once(dead, 'exit');
    return dead.pid!;
  }

  /** A Unix socket file nobody listens on, as a crash leaves it. */
  async function staleSocket(p: string): Promise<void> {
    const holder = spawn(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(p)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    await once(holder, 'exit');
    expect(statSync(p).isSocket()).toBe(true);
  }

  it('a pid file of a dead process and a stale socket: start removes them and runs; a second start is refused', async () => {
    const home = newHome();
    mkdirSync(path.join(home, 'run'), { recursive: true, mode: 0o700 });
    const pid = await deadPid();
    writeFileSync(
      pidFileOf(home),
      JSON.stringify({
        pid,
        started_at: new Date().toISOString(),
        listener: { host: '127.0.0.1', port: 1 },
        socket: socketOf(home),
        https_inspection: false,
      }),
    );
    await staleSocket(socketOf(home));

    const before = await cli(home, ['status']);
    expect(before.code).toBe(1);
    expect(before.stdout).toMatch(/stale pid file/);

    const g = await startGuardian(home);
    expect(g.err()).toMatch(/removing stale pid file/);
    expect(g.err()).toContain(`pid ${pid} is gone`);
    const st = await cli(home, ['status', '--json']);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ state: 'running', pid: g.child.pid });

    const second = await cli(home, ['start', '--port', '0']);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/already running/);
    expect(second.stderr).toContain(`pid ${g.child.pid}`);
    // The refused start touched nothing of the running one.
    const still = await cli(home, ['status', '--json']);
    expect(still.code).toBe(0);
    expect(JSON.parse(still.stdout)).toMatchObject({ pid: g.child.pid, listener: { port: g.port } });
    expect(g.child.exitCode).toBeNull();
  });

  it('two starts at once in one home: exactly one runs, the other exits 1 without disturbing it', async () => {
    const home = newHome();
    const runs = [0, 1].map(() => {
      const child = spawnTracked([CLI, 'start', '--port', '0'], envFor(home));
      const r = { child, out: '', err: '' };
      child.stdout!.on('data', (d: Buffer) => (r.out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (r.err += d.toString()));
      return r;
    });
    const [loser] = await waitFor(
      () => runs.filter((r) => r.child.exitCode !== null),
      (done) => done.length >= 1 && runs.some((r) => r.out.includes('listening on')),
      'one start to fail and one to listen',
      15_000,
    );
    const winner = runs.find((r) => r !== loser)!;
    expect(loser!.child.exitCode).toBe(1);
    expect(loser!.err).toMatch(/already running|already answering/);
    expect(winner.child.exitCode).toBeNull();
    const st = await cli(home, ['status', '--json']);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout)).toMatchObject({ state: 'running', pid: winner.child.pid });
    const stop = await cli(home, ['stop']);
    expect(stop.code).toBe(0);
    expect(winner.child.exitCode ?? (await once(winner.child, 'exit'))[0]).toBe(0);
  });

  it('`stop` with a stale pid file removes it and exits 0', async () => {
    const home = newHome();
    mkdirSync(path.join(home, 'run'), { recursive: true, mode: 0o700 });
    const pid = await deadPid();
    writeFileSync(
      pidFileOf(home),
      JSON.stringify({
        pid,
        started_at: new Date().toISOString(),
        listener: { host: '127.0.0.1', port: 1 },
        socket: socketOf(home),
        https_inspection: false,
      }),
    );
    const s = await cli(home, ['stop']);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/not running \(removed stale pid file of pid \d+\)/);
    expect(existsSync(pidFileOf(home))).toBe(false);
  });

  it('`stop` escalates to SIGKILL when the process ignores SIGTERM, then removes the pid file and socket', async () => {
    const home = newHome();
    mkdirSync(path.join(home, 'run'), { recursive: true, mode: 0o700 });
    const hung = spawnTracked([
      '-e',
      "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('ready')",
    ]);
    const [ready] = (await once(hung.stdout!, 'data')) as [Buffer]; // its SIGTERM handler is installed
    expect(ready.toString()).toContain('ready');
    writeFileSync(socketOf(home), ''); // stands in for the socket a killed process leaves behind
    writeFileSync(
      pidFileOf(home),
      JSON.stringify({
        pid: hung.pid,
        started_at: new Date().toISOString(),
        listener: { host: '127.0.0.1', port: 1 },
        socket: socketOf(home),
        https_inspection: false,
      }),
    );
    const exited = once(hung, 'exit');
    const s = await cli(home, ['stop', '--timeout', '0.2']);
    expect(s.code).toBe(0);
    expect(s.stderr).toMatch(/did not stop within 0\.2 s; sending SIGKILL/);
    expect(s.stdout).toContain(`killed traffic-guardian (pid ${hung.pid})`);
    expect((await exited)[1]).toBe('SIGKILL');
    expect(existsSync(pidFileOf(home))).toBe(false);
    expect(existsSync(socketOf(home))).toBe(false);
  });

  it('a crashed guardian whose pid was reused by another process: status says stopped, stop spares that process, start runs', async () => {
    const home = newHome();
    const g = await startGuardian(home);
    const record = JSON.parse(readFileSync(pidFileOf(home), 'utf8')) as Record<string, unknown>;
    expect(record.pid).toBe(g.child.pid);
    g.child.kill('SIGKILL'); // a crash: the pid file and the socket stay behind
    await g.exited;
    // The kernel hands the pid to an unrelated process (e.g. after a reboot).
    const other = spawnTracked(['-e', 'setInterval(() => {}, 1000)']);
    await once(other, 'spawn');
    writeFileSync(pidFileOf(home), JSON.stringify({ ...record, pid: other.pid }));

    const st = await cli(home, ['status']);
    expect(st.code).toBe(1);
    expect(st.stdout).toMatch(/stopped \(stale pid file/);
    const stop = await cli(home, ['stop']);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toMatch(/not running/);
    expect(other.exitCode).toBeNull();
    expect(other.signalCode).toBeNull();
    const again = await startGuardian(home);
    expect(again.err()).not.toMatch(/removing stale pid file/); // `stop` already removed it
    const st2 = await cli(home, ['status', '--json']);
    expect(st2.code).toBe(0);
    expect(JSON.parse(st2.stdout)).toMatchObject({ state: 'running', pid: again.child.pid });
    expect(other.exitCode).toBeNull();
    expect(other.signalCode).toBeNull();
  });
});

describe('refusals before listening', () => {
  it('refuses to start with HTTPS inspection when the CA key or its directory is open to others', async () => {
    const home = newHome();
    const first = await startGuardian(home, ['--port', '0', '--mitm']);
    expect(first.out()).toMatch(/HTTPS inspection: on, CA /);
    expect(first.out()).toMatch(/CA SHA-256 fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
    expect(first.out()).toMatch(/NODE_EXTRA_CA_CERTS=\S+ca\.crt <command>/);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const key = path.join(home, 'ca', 'ca.key');
    expect(statSync(key).mode & 0o777).toBe(0o600);

    chmodSync(key, 0o644);
    const port = await freePort();
    const r = await cli(home, ['start', '--port', String(port), '--mitm']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(key);
    expect(r.stderr).toContain(`chmod 600 ${key}`);
    expect(r.stdout).not.toMatch(/listening/);
    expect(await listening(port)).toBe(false);
    expect(existsSync(pidFileOf(home))).toBe(false);
    expect(existsSync(socketOf(home))).toBe(false);
    expect(statSync(key).mode & 0o777).toBe(0o644); // refused, never silently repaired

    chmodSync(key, 0o600);
    chmodSync(path.join(home, 'ca'), 0o755);
    const r2 = await cli(home, ['start', '--port', String(port), '--mitm']);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain(`chmod 700 ${path.join(home, 'ca')}`);
    expect(await listening(port)).toBe(false);
  });

  it('`start --config bad.json` exits 1 naming proxy_port and nope, before listening', async () => {
    const home = newHome();
    const f = path.join(home, 'bad.json');
    writeFileSync(f, JSON.stringify({ proxy_port: 99999, nope: 1 }));
    const r = await cli(home, ['start', '--config', f]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(f);
    expect(r.stderr).toMatch(/proxy_port: .*65535/);
    expect(r.stderr).toMatch(/nope: unknown key/);
    expect(r.stdout).not.toMatch(/listening/);
    expect(existsSync(pidFileOf(home))).toBe(false);
    expect(existsSync(socketOf(home))).toBe(false);
  });

  it('a missing --config file is an error, not a silent start with the defaults', async () => {
    const home = newHome();
    const r = await cli(home, ['start', '--port', '0', '--config', path.join(home, 'typo.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/typo\.json/);
    expect(r.stdout).not.toMatch(/listening/);
  });
});

describe('`npm start` equivalent: no config at all', () => {
  it('binds the embedded default 127.0.0.1:8888 and stops cleanly on SIGINT', async (ctx) => {
    const probe = net.createServer();
    const free = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(8888, '127.0.0.1', () => resolve(true));
    });
    if (free) await new Promise((r) => probe.close(r));
    if (!free) {
      ctx.skip('port 8888 is in use on this machine: cannot check the embedded default listener');
      return;
    }
    const home = newHome();
    let g: Guardian;
    try {
      g = await startGuardian(home, []);
    } catch (err) {
      // Taken between the probe and the start by something else on this machine: not a finding about us.
      if (!/EADDRINUSE/.test(String(err))) throw err;
      ctx.skip('port 8888 was taken between the probe and the start');
      return;
    }
    expect(g.port).toBe(8888);
    expect(g.out()).toContain('listening on http://127.0.0.1:8888');
    expect(g.out()).toMatch(/HTTPS inspection: off/);
    expect(g.out()).toContain('HTTP_PROXY=http://127.0.0.1:8888 HTTPS_PROXY=http://127.0.0.1:8888 <command>');
    const r = await viaProxyHttp(8888, `http://localhost:${up.upstream.httpPort}/echo`, {
      method: 'POST',
      body: 'hello',
    });
    expect(r.status).toBe(200);
    g.child.kill('SIGINT');
    expect(await g.exited).toBe(0);
    expect(g.err()).toMatch(/SIGINT received/);
    expect(existsSync(pidFileOf(home))).toBe(false);
    expect(await listening(8888)).toBe(false);
  });
});

describe('findings log write failure (in-process)', () => {
  it('leaves the proxy serving, counts dropped writes, shows degraded, and recovers once the log is writable', async () => {
    const t = await startService({ dedup_window_secs: 0 });
    try {
      const logPath = path.join(t.home, 'findings.jsonl');
      rmSync(logPath, { recursive: true, force: true });
      mkdirSync(logPath); // a directory where the log file should be
      const k1 = expandExample('ghp_{{rand:alnum:36}}');
      const r1 = await viaProxyHttp(t.port, `http://localhost:${up.upstream.httpPort}/echo`, {
        method: 'POST',
        body: `token=${k1.text}`,
      });
      expect(r1.status).toBe(200);
      expect(up.upstream.received.at(-1)!.toString()).toBe(`token=${k1.text}`); // forwarded byte for byte
      await t.findings(1);
      await t.svc.store.flush();
      const st = t.svc.status(null);
      expect(st.state).toBe('degraded');
      expect(st.degraded_reasons.join('\n')).toMatch(/findings log not writable/);
      expect(st.counters.dropped_writes).toBeGreaterThanOrEqual(1);
      expect(st.counters.findings.EXFIL).toBeGreaterThanOrEqual(1);
      expect(st.recent_findings.map((f) => f.pattern)).toContain('github_token'); // still visible to status

      const r2 = await viaProxyHttp(t.port, `http://localhost:${up.upstream.httpPort}/plain`);
      expect(r2.status).toBe(200);
      await t.svc.store.flush();
      expect(t.svc.status(null).counters.dropped_writes).toBeGreaterThanOrEqual(2);

      rmSync(logPath, { recursive: true });
      const k3 = expandExample('ghp_{{rand:alnum:36}}');
      const r3 = await viaProxyHttp(t.port, `http://localhost:${up.upstream.httpPort}/echo`, {
        method: 'POST',
        body: `token=${k3.text}`,
      });
      expect(r3.status).toBe(200);
      await waitFor(
        async () => {
          await t.svc.store.flush();
          return t.svc.status(null).state;
        },
        (s) => s === 'running',
        'the service to leave degraded',
      );
      expect(findingsOnDisk(t.home).map((f) => f.pattern)).toEqual(['github_token']);
    } finally {
      await t.stop();
    }
  });
});

describe('findings log unwritable from the start (in-process)', () => {
  it('keeps the proxy serving, counts the dropped write and shows degraded', async () => {
    const home = newHome();
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

describe('ClientAllowlist', () => {
  it('always allows loopback, also IPv4-mapped, and refuses everyone else when the list is empty', () => {
    const a = new ClientAllowlist([]);
    for (const ok of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) expect(a.allows(ok), ok).toBe(true);
    for (const no of [
      '10.0.0.2',
      '::ffff:10.0.0.2',
      '192.0.2.2',
      'fd00::2',
      'fe80::1%eth0',
      '0.0.0.0',
      '',
      undefined,
    ]) {
      expect(a.allows(no), String(no)).toBe(false);
    }
  });

  it('allows members of listed addresses and CIDR blocks, IPv4 also when IPv4-mapped, and no one else', () => {
    const a = new ClientAllowlist(['10.0.0.0/8', '172.17.0.0/16', '192.168.1.5', 'fd00::/8', '2001:db8::7']);
    const ok = [
      '10.0.0.1',
      '10.255.255.254',
      '::ffff:10.1.2.3',
      '172.17.200.3',
      '::ffff:172.17.0.2',
      '192.168.1.5',
      '::ffff:192.168.1.5',
      'fd12:3456::1',
      '2001:db8::7',
      '2001:0db8:0000:0000:0000:0000:0000:0007',
      '127.0.0.1',
      '::1',
    ];
    const no = [
      '11.0.0.1',
      '9.255.255.255',
      '172.18.0.1',
      '::ffff:172.18.0.1',
      '192.168.1.6',
      '::ffff:192.168.1.6',
      'fe80::1',
      '2001:db8::8',
      'fc00::1',
      '::ffff:11.0.0.1',
    ];
    for (const addr of ok) expect(a.allows(addr), addr).toBe(true);
    for (const addr of no) expect(a.allows(addr), addr).toBe(false);
  });

  it('a link-local client with a zone id is matched by its address', () => {
    const a = new ClientAllowlist(['fe80::/10']);
    expect(a.allows('fe80::fc:ff:fe00:1%eth0')).toBe(true);
    expect(a.allows('fe80::1')).toBe(true);
    expect(a.allows('fd00::1')).toBe(false);
  });

  it('on a real socket: a non-loopback client outside the list is closed and counted; inside it is served', async (ctx) => {
    const local = Object.values(os.networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    if (!local) {
      ctx.skip('no non-loopback IPv4 address on this machine');
      return;
    }
    const refused = await startService({ proxy_host: '0.0.0.0', allowed_clients: ['10.99.0.0/16'] });
    try {
      const r = await new Promise<string>((resolve) => {
        const s = net.connect({ host: local, port: refused.port, localAddress: local });
        let got = '';
        s.on('connect', () => s.write(`GET http://localhost:${up.upstream.httpPort}/echo HTTP/1.1\r\nHost: x\r\n\r\n`));
        s.on('data', (d: Buffer) => (got += d.toString()));
        s.on('close', () => resolve(got));
        s.on('error', () => undefined);
      });
      expect(r).toBe('');
      expect(refused.svc.status(null).counters.refused_clients).toBe(1);
      const viaLoopback = await viaProxyHttp(refused.port, `http://localhost:${up.upstream.httpPort}/echo`);
      expect(viaLoopback.status).toBe(200);
    } finally {
      await refused.stop();
    }
    const allowed = await startService({ proxy_host: '0.0.0.0', allowed_clients: [`${local}/32`] });
    try {
      const r = await new Promise<string>((resolve, reject) => {
        const s = net.connect({ host: local, port: allowed.port, localAddress: local });
        let got = '';
        s.on('connect', () =>
          s.write(
            `GET http://localhost:${up.upstream.httpPort}/echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`,
          ),
        );
        s.on('data', (d: Buffer) => (got += d.toString()));
        s.on('close', () => resolve(got));
        s.on('error', reject);
      });
      expect(r).toMatch(/^HTTP\/1\.1 200/);
      expect(allowed.svc.status(null).counters.refused_clients).toBe(0);
    } finally {
      await allowed.stop();
    }
  });
});
