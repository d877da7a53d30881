// The pure and local parts of the NanoClaw e2e harness (scripts/e2e-nanoclaw/): the docker argv parser,
// the wiring checks, the container-simulation plan, the docker stand-in and the stand-in OneCLI. The e2e
// itself needs a NanoClaw checkout and is not part of `npm test`.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  effectiveEnv,
  hostPathFor,
  lastEnvIndex,
  parseDockerRun,
  type RunArgs,
} from '../scripts/e2e-nanoclaw/docker-argv.js';
import { planSandbox } from '../scripts/e2e-nanoclaw/sandbox-plan.js';
import { checkWiring, certBodies, redactUrl, type WiringExpect } from '../scripts/e2e-nanoclaw/wiring-checks.js';
import { proxyToken, startOneCliStub, type OneCliStub } from '../scripts/e2e-nanoclaw/onecli-stub.js';
import { asUser, setRunAs } from '../scripts/e2e-nanoclaw/proc.js';

// A `docker run` the way NanoClaw v2.0.64 + OneCLI + the guardian helper write it (shape recorded by the e2e).
function nanoclawRun(extra: { guardianFirst?: boolean; rwShare?: boolean; onecliToken?: string } = {}): string[] {
  const onecli = [
    '-e',
    `HTTPS_PROXY=http://x:${extra.onecliToken ?? 'aoc_tok_alpha'}@host.docker.internal:4001`,
    '-e',
    `HTTP_PROXY=http://x:${extra.onecliToken ?? 'aoc_tok_alpha'}@host.docker.internal:4001`,
    '-e',
    'NODE_EXTRA_CA_CERTS=/tmp/onecli-proxy-ca.pem',
    '-v',
    '/host/tmp/onecli-proxy-ca.pem:/tmp/onecli-proxy-ca.pem:ro',
    '-e',
    'SSL_CERT_FILE=/tmp/onecli-combined-ca.pem',
    '-e',
    'DENO_CERT=/tmp/onecli-combined-ca.pem',
    '-v',
    '/host/tmp/onecli-combined-ca.pem:/tmp/onecli-combined-ca.pem:ro',
  ];
  const guardianProxy = 'http://e2e-alpha:s3cret@host.docker.internal:8888';
  const guardian = [
    '-e',
    `HTTP_PROXY=${guardianProxy}`,
    '-e',
    `HTTPS_PROXY=${guardianProxy}`,
    '-e',
    `http_proxy=${guardianProxy}`,
    '-e',
    `https_proxy=${guardianProxy}`,
    '-e',
    'NODE_EXTRA_CA_CERTS=/opt/traffic-guardian/extra-ca.pem',
    '-e',
    'SSL_CERT_FILE=/opt/traffic-guardian/ca-bundle.pem',
    '-e',
    'DENO_CERT=/opt/traffic-guardian/ca-bundle.pem',
    '-v',
    `/home/tg/share/e2e-alpha:/opt/traffic-guardian${extra.rwShare ? '' : ':ro'}`,
    '-v',
    '/home/tg/run/groups/e2e-alpha:/run/traffic-guardian:ro',
  ];
  return [
    'run',
    '--rm',
    '--name',
    'nanoclaw-v2-e2e-alpha-1',
    '--label',
    'nanoclaw-install=abc',
    '-e',
    'TZ=UTC',
    ...(extra.guardianFirst ? [...guardian, ...onecli] : [...onecli, ...guardian]),
    '--add-host=host.docker.internal:host-gateway',
    '-v',
    '/nc/data/v2-sessions/ag-1/sess-1:/workspace',
    '-v',
    '/nc/groups/e2e-alpha/container.json:/workspace/agent/container.json:ro',
    '-v',
    '/nc/container/agent-runner/src:/app/src:ro',
    '--entrypoint',
    'bash',
    'nanoclaw-agent-v2-abc:latest',
    '-c',
    'exec bun run /app/src/index.ts',
  ];
}

describe('parseDockerRun', () => {
  it('reads env in order, mounts with their read-only flag, image and command', () => {
    const r = parseDockerRun(nanoclawRun());
    expect(r.name).toBe('nanoclaw-v2-e2e-alpha-1');
    expect(r.labels).toEqual(['nanoclaw-install=abc']);
    expect(r.addHosts).toEqual(['host.docker.internal:host-gateway']);
    expect(r.entrypoint).toBe('bash');
    expect(r.image).toBe('nanoclaw-agent-v2-abc:latest');
    expect(r.command).toEqual(['-c', 'exec bun run /app/src/index.ts']);
    expect(r.env[0]).toEqual({ key: 'TZ', value: 'UTC', index: 0 });
    const env = effectiveEnv(r);
    expect(env.get('HTTPS_PROXY')).toBe('http://e2e-alpha:s3cret@host.docker.internal:8888');
    expect(env.get('SSL_CERT_FILE')).toBe('/opt/traffic-guardian/ca-bundle.pem');
    expect(lastEnvIndex(r, 'HTTPS_PROXY')).toBeGreaterThan(r.env.findIndex((e) => e.key === 'HTTPS_PROXY'));
    expect(r.mounts.find((m) => m.containerPath === '/workspace')).toMatchObject({ readonly: false });
    expect(r.mounts.find((m) => m.containerPath === '/opt/traffic-guardian')).toMatchObject({
      hostPath: '/home/tg/share/e2e-alpha',
      readonly: true,
      form: 'volume',
    });
  });

  it('understands --mount (Apple Container style), --opt=value and a value-less -e', () => {
    const r = parseDockerRun([
      'run',
      '--name=c1',
      '--mount',
      'type=bind,source=/h/share,target=/opt/traffic-guardian,readonly',
      '--mount',
      'type=bind,src=/h/rw,dst=/work',
      '-e',
      'PASSED_THROUGH',
      '--env=A=b=c',
      'img',
    ]);
    expect(r.name).toBe('c1');
    expect(r.image).toBe('img');
    expect(r.mounts).toEqual([
      { hostPath: '/h/share', containerPath: '/opt/traffic-guardian', readonly: true, form: 'mount' },
      { hostPath: '/h/rw', containerPath: '/work', readonly: false, form: 'mount' },
    ]);
    expect(effectiveEnv(r).get('A')).toBe('b=c');
    expect(effectiveEnv(r).get('PASSED_THROUGH')).toBe('');
  });

  it('rejects an option missing its value', () => {
    expect(() => parseDockerRun(['run', '-e'])).toThrow(/needs a value/);
  });

  it('maps container paths to host files through file and directory mounts, deepest first', () => {
    const r = parseDockerRun(nanoclawRun());
    expect(hostPathFor(r, '/opt/traffic-guardian/ca-bundle.pem')).toBe('/home/tg/share/e2e-alpha/ca-bundle.pem');
    expect(hostPathFor(r, '/tmp/onecli-proxy-ca.pem')).toBe('/host/tmp/onecli-proxy-ca.pem');
    expect(hostPathFor(r, '/workspace/agent/container.json')).toBe('/nc/groups/e2e-alpha/container.json');
    expect(hostPathFor(r, '/workspace/inbound.db')).toBe('/nc/data/v2-sessions/ag-1/sess-1/inbound.db');
    expect(hostPathFor(r, '/etc/ssl/certs/ca-certificates.crt')).toBeNull();
  });
});

describe('checkWiring', () => {
  const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
  const guardianCa = pem('R1VBUkRJQU4=');
  const onecliCa = pem('T05FQ0xJ');
  const roots = [pem('Uk9PVDE='), pem('Uk9PVDI=')];
  const files: Record<string, string> = {
    '/home/tg/share/e2e-alpha/ca-bundle.pem': [...roots, onecliCa, guardianCa].join(''),
    '/home/tg/share/e2e-alpha/extra-ca.pem': onecliCa + guardianCa,
  };
  const expectFor = (f: Record<string, string>): WiringExpect => ({
    onecliPort: 4001,
    onecliToken: 'aoc_tok_alpha',
    guardianPort: 8888,
    guardianCaPem: guardianCa,
    onecliCaPem: onecliCa,
    publicRoots: roots,
    readFile: (p) => f[p] ?? null,
  });

  it('passes the wiring the guardian means to produce', () => {
    const rep = checkWiring(parseDockerRun(nanoclawRun()), expectFor(files));
    expect(rep.problems).toEqual([]);
    expect(rep.guardianProxy?.username).toBe('e2e-alpha');
  });

  it('fails when the guardian env comes before OneCLI (OneCLI would win)', () => {
    const rep = checkWiring(parseDockerRun(nanoclawRun({ guardianFirst: true })), expectFor(files));
    expect(rep.problems.join('\n')).toMatch(/effective HTTPS_PROXY is http:\/\/x:\*\*\*@host.docker.internal:4001/);
  });

  it('fails when a bundle lacks OneCLI or the public roots, or a mount is writable', () => {
    const rep = checkWiring(
      parseDockerRun(nanoclawRun({ rwShare: true })),
      expectFor({
        '/home/tg/share/e2e-alpha/ca-bundle.pem': guardianCa + onecliCa,
        '/home/tg/share/e2e-alpha/extra-ca.pem': guardianCa,
      }),
    );
    const all = rep.problems.join('\n');
    expect(all).toMatch(/SSL_CERT_FILE=.* lacks public roots \(0 of 2\)/);
    expect(all).toMatch(/NODE_EXTRA_CA_CERTS=.* lacks OneCLI's CA/);
    expect(all).toMatch(/\/opt\/traffic-guardian is mounted read-write/);
  });

  it("fails when OneCLI's own env (with this group's token) is absent", () => {
    const rep = checkWiring(parseDockerRun(nanoclawRun({ onecliToken: 'aoc_tok_beta' })), expectFor(files));
    expect(rep.problems.join('\n')).toMatch(/OneCLI's HTTPS_PROXY .* is not in the docker args/);
  });

  it('reads certificate bodies regardless of line wrapping and hides passwords in messages', () => {
    expect(certBodies(`${pem('QUJD\nREVG')}junk${pem('R0hJ')}`)).toEqual(new Set(['QUJDREVG', 'R0hJ']));
    expect(redactUrl('http://u:pw@h:1')).toBe('http://u:***@h:1/');
    expect(redactUrl(undefined)).toBe('(unset)');
  });
});

describe('planSandbox', () => {
  const run: RunArgs = parseDockerRun([
    ...nanoclawRun().slice(0, -5),
    '--user',
    '1234:1235',
    ...nanoclawRun().slice(-5),
  ]);
  const plan = planSandbox(run, {
    hostsFile: '/tmp/x/hosts',
    imagePath: '/usr/bin:/bin',
    command: ['/usr/bin/node', '/p/client.js', 'e30='],
    stat: (p) => (p.endsWith('.pem') || p.endsWith('.json') ? 'file' : 'dir'),
  });

  it('stages sources before hiding directories, and remounts read-only mounts read-only', () => {
    const s = plan.script;
    expect(s.indexOf("mount --bind '/host/tmp/onecli-proxy-ca.pem' '/mnt/s")).toBeLessThan(
      s.indexOf("mount -t tmpfs -o mode=755 tmpfs '/tmp'"),
    );
    expect(s.indexOf("mount --bind '/tmp/x/hosts' /etc/hosts")).toBeLessThan(s.indexOf("tmpfs '/tmp'"));
    expect(s).toMatch(/mount -o remount,bind,ro '\/opt\/traffic-guardian'/);
    expect(s).toMatch(/mount -o remount,bind,ro '\/run\/traffic-guardian'/);
    expect(plan.mounted).toEqual(
      expect.arrayContaining(['/opt/traffic-guardian', '/run/traffic-guardian', '/tmp/onecli-proxy-ca.pem']),
    );
  });

  it('skips mounts that would need a new top-level directory on the host', () => {
    expect(plan.skipped.map((x) => x.containerPath)).toEqual(
      expect.arrayContaining(['/workspace', '/workspace/agent/container.json', '/app/src']),
    );
    expect(plan.script).not.toMatch(/tmpfs '\/workspace'|tmpfs '\/app'/);
  });

  it("runs as the container's user with only the -e environment plus the image PATH", () => {
    expect(plan.uid).toBe(1234);
    expect(plan.gid).toBe(1235);
    expect(plan.env.map(([k]) => k).sort()).toEqual(
      [
        'DENO_CERT',
        'HTTPS_PROXY',
        'HTTP_PROXY',
        'NODE_EXTRA_CA_CERTS',
        'PATH',
        'SSL_CERT_FILE',
        'TZ',
        'http_proxy',
        'https_proxy',
      ].sort(),
    );
    expect(plan.script).toMatch(/exec setpriv --reuid 1234 --regid 1235 --clear-groups -- \/usr\/bin\/env -i /);
  });

  it('keeps host directories the command needs visible when their top-level directory is hidden', () => {
    const p = planSandbox(run, {
      hostsFile: '/h',
      imagePath: '/bin',
      command: ['/usr/bin/node', '/tmp/proj/dist/c.js'],
      stat: (x) => (x.endsWith('.pem') || x.endsWith('.json') ? 'file' : 'dir'),
      keep: ['/tmp/proj', '/work/proj'],
    });
    const s = p.script;
    expect(s.indexOf("mount --bind '/tmp/proj' '/mnt/k0'")).toBeLessThan(s.indexOf("tmpfs '/tmp'"));
    expect(s.indexOf("mount --bind '/mnt/k0' '/tmp/proj'")).toBeGreaterThan(s.indexOf("tmpfs '/tmp'"));
    expect(s).toContain("mount -o remount,bind,ro '/tmp/proj'");
    expect(s).not.toContain("'/work/proj'"); // /work is never hidden
  });

  it('quotes values for the shell', () => {
    const p = planSandbox(parseDockerRun(['run', '-e', "A=it's $HOME", 'img']), {
      hostsFile: '/h',
      imagePath: '/bin',
      command: ['/bin/true'],
      stat: () => null,
    });
    expect(p.script).toContain(`'A=it'\\''s $HOME'`);
    expect(p.uid).toBe(1000);
  });
});

describe('docker stand-in', () => {
  const stub = path.resolve('dist/scripts/e2e-nanoclaw/docker-stub.js');
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tg-dstub-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const env = () => ({
    ...process.env,
    E2E_DOCKER_LOG: path.join(dir, 'calls.jsonl'),
    E2E_DOCKER_STATE: path.join(dir, 'state'),
  });
  const docker = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const c = spawn(process.execPath, [stub, ...args], { env: env() });
      let stdout = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      c.on('close', (code) => resolve({ code, stdout }));
    });

  it('records argv, keeps `run` alive until `stop`, lists it in `ps`', async () => {
    expect((await docker(['info'])).code).toBe(0);
    const runner = spawn(process.execPath, [stub, 'run', '--rm', '--name', 'c-1', '-e', 'A=1', 'img'], { env: env() });
    const exited = new Promise<number | null>((r) => runner.on('exit', (code) => r(code)));
    for (let i = 0; i < 100 && !existsSync(path.join(dir, 'state', 'c-1.pid')); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect((await docker(['ps', '--filter', 'label=x', '--format', '{{.Names}}'])).stdout).toBe('c-1\n');
    expect((await docker(['stop', '-t', '1', 'c-1'])).code).toBe(0);
    expect(await exited).toBe(0);
    expect((await docker(['ps'])).stdout).toBe('');
    expect((await docker(['stop', 'nope'])).code).toBe(1);
    const calls = readFileSync(path.join(dir, 'calls.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { argv: string[] }).argv);
    expect(calls).toContainEqual(['run', '--rm', '--name', 'c-1', '-e', 'A=1', 'img']);
    expect(calls[0]).toEqual(['info']);
  });
});

describe('stand-in OneCLI', () => {
  let stub: OneCliStub;
  let home: string;
  beforeAll(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), 'tg-onecli-'));
    stub = await startOneCliStub({ home });
  });
  afterAll(async () => {
    await stub.close();
    rmSync(home, { recursive: true, force: true });
  });

  const api = (p: string, init?: RequestInit) => fetch(`${stub.apiUrl}${p}`, init);

  it('answers ensureAgent (201, then 409) and container-config with a per-agent token', async () => {
    const body = JSON.stringify({ name: 'Alpha', identifier: 'ag-a' });
    const post = () => api('/api/agents', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    expect((await post()).status).toBe(201);
    expect((await post()).status).toBe(409);
    const a = (await (await api('/api/container-config?agent=ag-a')).json()) as {
      env: Record<string, string>;
      caCertificate: string;
      caCertificateContainerPath: string;
    };
    const b = (await (await api('/api/container-config?agent=ag-b')).json()) as typeof a;
    expect(a.env.HTTPS_PROXY).toBe(`http://x:${stub.tokens.get('ag-a')}@host.docker.internal:${stub.gatewayPort}`);
    expect(a.env.NODE_EXTRA_CA_CERTS).toBe(a.caCertificateContainerPath);
    expect(a.caCertificate).toBe(stub.caPem);
    expect(stub.tokens.get('ag-a')).not.toBe(stub.tokens.get('ag-b'));
    expect(b.env.HTTPS_PROXY).toContain(stub.tokens.get('ag-b')!);
    expect(stub.configRequests).toEqual(['ag-a', 'ag-b']);
  });

  const viaGateway = (token: string | null) =>
    new Promise<{ status?: number; body: string }>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: stub.gatewayPort,
        method: 'GET',
        path: 'http://plain.example.test/x',
        headers: token ? { 'proxy-authorization': `Basic ${Buffer.from(`x:${token}`).toString('base64')}` } : {},
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      });
      req.on('error', reject);
      req.end();
    });

  it("records which agent's token each proxied request carries; 407 without one", async () => {
    await api('/api/container-config?agent=ag-a');
    const ok = await viaGateway(stub.tokens.get('ag-a')!);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ agent: 'ag-a', host: 'plain.example.test', path: '/x' });
    expect((await viaGateway(null)).status).toBe(407);
    expect((await viaGateway('aoc_forged')).status).toBe(407);
    expect(stub.hits.filter((h) => h.kind === 'http').map((h) => h.agent)).toEqual(['ag-a']);
  });

  it('terminates CONNECT with its own CA, as OneCLI does, and answers inside', async () => {
    await api('/api/container-config?agent=ag-b');
    const token = stub.tokens.get('ag-b')!;
    const result = await new Promise<string>((resolve, reject) => {
      const req = http.request({
        host: '127.0.0.1',
        port: stub.gatewayPort,
        method: 'CONNECT',
        path: 'secure.example.test:443',
        headers: { 'proxy-authorization': `Basic ${Buffer.from(`x:${token}`).toString('base64')}` },
      });
      req.on('connect', (res, socket) => {
        expect(res.statusCode).toBe(200);
        const t = tls.connect({ socket, servername: 'secure.example.test', ca: [stub.caPem] }, () => {
          t.write('GET /inside HTTP/1.1\r\nHost: secure.example.test\r\nConnection: close\r\n\r\n');
        });
        let data = '';
        t.on('data', (c: Buffer) => (data += c.toString()));
        t.on('end', () => resolve(data));
        t.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    expect(result).toMatch(/^HTTP\/1.1 200/);
    expect(result).toContain('"agent":"ag-b"');
    expect(stub.hits.filter((h) => h.kind === 'https').map((h) => [h.agent, h.path])).toEqual([['ag-b', '/inside']]);
  });

  it('parses Proxy-Authorization Basic credentials', () => {
    expect(proxyToken(`Basic ${Buffer.from('x:tok:with:colons').toString('base64')}`)).toBe('tok:with:colons');
    expect(proxyToken('Bearer abc')).toBeNull();
    expect(proxyToken(undefined)).toBeNull();
  });
});

describe('--as-uid', () => {
  it('wraps commands in setpriv for that uid, except those that must stay root', () => {
    try {
      expect(asUser('pnpm', ['run', 'build'])).toEqual(['pnpm', ['run', 'build']]);
      setRunAs(1000);
      expect(asUser('pnpm', ['run', 'build'])).toEqual([
        'setpriv',
        ['--reuid', '1000', '--regid', '1000', '--clear-groups', '--', 'pnpm', 'run', 'build'],
      ]);
      expect(asUser('unshare', ['-m'], true)).toEqual(['unshare', ['-m']]);
    } finally {
      setRunAs(null);
    }
  });
});
