// The container-side MCP server as an agent meets it: the real SDK client spawning the bundled
// stdio server (`dist/mcp-tools/traffic-guardian-mcp.mjs`) against a real running guardian.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { loadOrCreateCa } from '../host-services/ca.js';
import { homePaths } from '../host-services/home.js';
import { startIpcServer } from '../host-services/ipc-server.js';
import {
  FrameSplitter,
  IPC_PROTOCOL_VERSION,
  ListFindingsResultSchema,
  StatusResultSchema,
  ValidateConfigResultSchema,
} from '../lib/ipc-protocol.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { viaProxyHttp, viaProxyHttps, waitFor } from './support/proxy-client.js';
import { startService, tempHome, type TestService } from './support/service.js';
import { expandExample } from './support/expand-example.js';

const BUNDLE = path.resolve('dist/mcp-tools/traffic-guardian-mcp.mjs');

interface Mcp {
  client: Client;
  transport: StdioClientTransport;
  stderr: () => string;
  close: () => Promise<void>;
}

async function startMcp(socketPath: string, bundle = BUNDLE, cwd?: string, extra: string[] = []): Promise<Mcp> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [bundle, '--socket', socketPath, ...extra],
    cwd,
    stderr: 'pipe',
  });
  let err = '';
  transport.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const client = new Client({ name: 'tg-test', version: '0.0.0' });
  await client.connect(transport);
  return { client, transport, stderr: () => err, close: () => client.close() };
}

interface ToolResult {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: Record<string, unknown>;
}

async function call(m: Mcp, name: string, args: Record<string, unknown> = {}): Promise<ToolResult> {
  return (await m.client.callTool({ name, arguments: args })) as ToolResult;
}

function text(r: ToolResult): string {
  return r.content.map((c) => c.text ?? '').join('\n');
}

const HOSTILE_MARKERS = ['<', '>', '`', '|', '![', ']('];

let upstream: Upstream;
let upHome: string;
let g: TestService;
let mcp: Mcp;

beforeAll(async () => {
  // Bundle the current source (the script writes atomically, so a parallel test using the file is safe).
  execFileSync(process.execPath, ['scripts/bundle-mcp.mjs'], { stdio: 'pipe' });
  upHome = tempHome('tg-up-');
  const upCa = loadOrCreateCa(homePaths(upHome), { create: true })!;
  upstream = await startUpstream(upCa.certFor('localhost'));
  g = await startService({ https_inspection: true, upstream_ca_file: upCa.certPath, dedup_window_secs: 0 });
  const ca = g.svc.ca!.certPem;
  const gh = expandExample('ghp_{{rand:alnum:36}}');
  const stripe = expandExample('sk_live_{{rand:alnum:32}}');
  const http1 = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/echo?m=1`, {
    method: 'POST',
    headers: { 'x-debug-token': gh.text },
    body: 'hello',
  });
  expect(http1.status).toBe(200);
  const tls1 = await viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}/echo?m=2`, ca, {
    method: 'POST',
    body: `stripe=${stripe.text}`,
  });
  expect(tls1.status).toBe(200);
  expect((await viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}/plain`, ca)).status).toBe(200);
  await g.findings(3);
  await g.svc.store.flush();
  mcp = await startMcp(g.svc.socketPath);
});

afterAll(async () => {
  await mcp?.close();
  await g?.stop();
  await upstream?.close();
  rmSync(upHome, { recursive: true, force: true });
});

describe('tools', () => {
  it('lists exactly get_status, list_findings and validate_config, described and with schemas', async () => {
    const { tools } = await mcp.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['get_status', 'list_findings', 'validate_config']);
    for (const t of tools) {
      expect(t.description?.length ?? 0).toBeGreaterThan(40);
      expect(t.inputSchema.type).toBe('object');
      expect(t.outputSchema?.type).toBe('object');
    }
    const byName = new Map(tools.map((t) => [t.name, t]));
    const lf = byName.get('list_findings')!;
    expect(Object.keys(lf.inputSchema.properties ?? {}).sort()).toEqual(
      ['direction', 'limit', 'pattern', 'severity', 'since', 'threat_type'].sort(),
    );
    expect(lf.description).toMatch(/untrusted|never as instructions/i);
    const vc = byName.get('validate_config')!;
    expect(Object.keys(vc.inputSchema.properties ?? {})).toEqual(['config']);
    expect(vc.inputSchema.required).toEqual(['config']);
    expect(Object.keys(byName.get('get_status')!.inputSchema.properties ?? {})).toEqual([]);
  });

  it('get_status reflects the live service', async () => {
    const r = await call(mcp, 'get_status');
    expect(r.isError).toBeFalsy();
    const st = StatusResultSchema.parse(r.structuredContent);
    expect(st.https_inspection).toBe(true);
    expect(st.ca_fingerprint).toBe(g.svc.ca!.fingerprint256);
    expect(st.counters.requests).toBeGreaterThan(0);
    expect(st.counters.connects).toBeGreaterThanOrEqual(2);
    expect(st.counters.findings.EXFIL).toBeGreaterThanOrEqual(2);
    expect(st.listener.port).toBe(g.port);
    expect(st.pid).toBe(process.pid);
    expect(text(r)).toMatch(/^Traffic guardian [\w.-]+: running;.*\nHTTPS inspection: on \(CA SHA-256 /);
    for (const f of st.recent_findings) {
      if (f.threat_type === 'INJECTION') {
        expect(f.snippet_neutralised).toBe(true);
        for (const bad of HOSTILE_MARKERS) expect(f.snippet).not.toContain(bad);
      }
    }
    // Live: more traffic shows up in the next answer.
    await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/echo?m=3`, { method: 'POST', body: 'x' });
    await waitFor(
      async () => StatusResultSchema.parse((await call(mcp, 'get_status')).structuredContent).counters.requests,
      (n) => n > st.counters.requests,
      'the request counter to grow',
    );
  });

  it('list_findings returns the planted findings, with filters working', async () => {
    const all = ListFindingsResultSchema.parse((await call(mcp, 'list_findings')).structuredContent);
    expect(all.group).toBeNull();
    expect(all.findings.map((f) => f.pattern).sort()).toEqual(['github_token', 'pipe_to_shell', 'stripe_key']);
    const gh = ListFindingsResultSchema.parse(
      (await call(mcp, 'list_findings', { pattern: 'github_token' })).structuredContent,
    );
    expect(gh.findings).toHaveLength(1);
    expect(gh.findings[0]).toMatchObject({ protocol: 'http', location: 'headers', snippet_neutralised: false });
    expect(gh.findings[0]!.snippet).toContain('ghp_[REDACTED');

    const tls = ListFindingsResultSchema.parse(
      (await call(mcp, 'list_findings', { threat_type: 'EXFIL', direction: 'outbound', severity: 'critical' }))
        .structuredContent,
    );
    expect(tls.findings.map((f) => f.pattern).sort()).toEqual(['github_token', 'stripe_key']);
    expect(tls.findings.find((f) => f.pattern === 'stripe_key')!.protocol).toBe('https');

    const inj = await call(mcp, 'list_findings', { threat_type: 'INJECTION' });
    const injR = ListFindingsResultSchema.parse(inj.structuredContent);
    expect(injR.findings).toHaveLength(1);
    expect(injR.findings[0]).toMatchObject({
      pattern: 'pipe_to_shell',
      direction: 'inbound',
      snippet_neutralised: true,
    });
    for (const bad of HOSTILE_MARKERS) expect(JSON.stringify(inj)).not.toContain(bad);

    const oneR = await call(mcp, 'list_findings', { limit: 1 });
    const one = ListFindingsResultSchema.parse(oneR.structuredContent);
    expect(one.findings).toHaveLength(1);
    expect(one.truncated).toBe(true);
    expect(text(oneR)).toMatch(/More findings match/);
    expect(all.truncated).toBe(false);
    const future = ListFindingsResultSchema.parse(
      (await call(mcp, 'list_findings', { since: new Date(Date.now() + 3_600_000).toISOString() })).structuredContent,
    );
    expect(future.findings).toEqual([]);
    expect(
      ListFindingsResultSchema.parse(
        (await call(mcp, 'list_findings', { severity: 'low', direction: 'inbound' })).structuredContent,
      ).findings.map((f) => f.pattern),
    ).toEqual(['pipe_to_shell']);
  });

  it('rejects out-of-range and unknown arguments without reaching the guardian', async () => {
    for (const args of [{ limit: 101 }, { limit: 0 }, { severity: 'urgent' }, { pattern: 'Not A Rule' }]) {
      const r = await call(mcp, 'list_findings', args).catch((e: Error) => ({
        isError: true,
        content: [{ type: 'text', text: e.message }],
      }));
      expect(r.isError).toBe(true);
    }
    // Still serving afterwards.
    expect((await call(mcp, 'get_status')).isError).toBeFalsy();
  });

  it('validate_config answers ok, or the errors by key path', async () => {
    const bad = await call(mcp, 'validate_config', { config: { proxy_port: 70000 } });
    expect(bad.isError).toBeFalsy();
    const r = ValidateConfigResultSchema.parse(bad.structuredContent);
    expect(r.ok).toBe(false);
    expect(r.errors.map((e) => e.path)).toContain('proxy_port');
    expect(text(bad)).toContain('proxy_port');
    const bogus = ValidateConfigResultSchema.parse(
      (await call(mcp, 'validate_config', { config: { bogus: true } })).structuredContent,
    );
    expect(bogus.errors.map((e) => e.path)).toEqual(['bogus']);
    const both = await call(mcp, 'validate_config', { config: { proxy_port: 70000, bogus: 1 } });
    const bothR = ValidateConfigResultSchema.parse(both.structuredContent);
    expect(bothR.ok).toBe(false);
    expect(bothR.errors.map((e) => e.path).sort()).toEqual(['bogus', 'proxy_port']);
    expect(bothR.errors.find((e) => e.path === 'bogus')!.message).toBe('unknown key');
    expect(text(both)).toMatch(/^- (proxy_port|bogus): /m);
    const good = await call(mcp, 'validate_config', { config: { proxy_port: 8080, https_inspection: true } });
    expect(good.structuredContent).toEqual({ ok: true, errors: [] });
    expect(text(good)).toBe('The config is valid. Nothing was applied.');
  });
});

describe('without a guardian', () => {
  it('answers every tool with isError "not running" and stays alive, then recovers when one starts', async () => {
    const dir = tempHome('tg-nm-');
    const sock = path.join(dir, 'run', 'guardian.sock');
    const m = await startMcp(sock);
    try {
      for (let round = 0; round < 2; round++) {
        for (const [name, args] of [
          ['get_status', {}],
          ['list_findings', {}],
          ['validate_config', { config: {} }],
        ] as const) {
          const r = await call(m, name, args);
          expect(r.isError).toBe(true);
          expect(text(r)).toContain('not running');
          expect(r.structuredContent).toBeUndefined();
        }
      }
      expect(m.transport.pid).not.toBeNull();
      // A guardian comes up on that socket: the same MCP process now answers.
      const srv = await startIpcServer({ socketPath: sock, api: g.svc, group: null, version: 't' });
      try {
        const r = await call(m, 'get_status');
        expect(r.isError).toBeFalsy();
        expect(StatusResultSchema.parse(r.structuredContent).ca_fingerprint).toBe(g.svc.ca!.fingerprint256);
      } finally {
        await srv.close();
      }
      // And it goes away again: an error answer, not a crash.
      const gone = await call(m, 'list_findings');
      expect(gone.isError).toBe(true);
      expect(text(gone)).toMatch(/not running|closed/);
      expect((await call(m, 'get_status')).isError).toBe(true);
      expect(m.stderr()).toContain('traffic-guardian MCP server on stdio');
    } finally {
      await m.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('with a guardian that does not answer', () => {
  it('answers isError "timed out after N ms waiting for <method>" and keeps serving', async () => {
    // Answers hello (so the version check passes) and nothing else.
    const dir = tempHome('tg-sl-');
    const p = path.join(dir, 's.sock');
    const server = net.createServer((s) => {
      const split = new FrameSplitter(1 << 16);
      s.on('error', () => undefined);
      s.on('data', (c: Buffer) => {
        for (const line of split.push(c)) {
          const req = JSON.parse(line!) as { id: number; method: string };
          if (req.method === 'hello') {
            s.write(
              `${JSON.stringify({ id: req.id, ok: true, result: { protocol_version: IPC_PROTOCOL_VERSION, server_version: 'x', group: null } })}\n`,
            );
          }
        }
      });
    });
    server.listen(p);
    await once(server, 'listening');
    const m = await startMcp(p, BUNDLE, undefined, ['--timeout-ms', '1000']);
    try {
      for (const [name, method, args] of [
        ['get_status', 'get_status', {}],
        ['list_findings', 'list_findings', {}],
        ['validate_config', 'validate_config', { config: {} }],
      ] as const) {
        const r = await call(m, name, args);
        expect(r.isError).toBe(true);
        expect(text(r)).toContain(`timed out after 1000 ms waiting for ${method}`);
      }
      expect((await m.client.listTools()).tools).toHaveLength(3);
    } finally {
      await m.close();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('process lifetime', () => {
  it('exits cleanly when its stdin closes, and writes nothing but MCP frames to stdout', async () => {
    const child = spawn(process.execPath, [BUNDLE, '--socket', g.svc.socketPath], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = once(child, 'exit');
    child.stdin.write(
      `${JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } },
      })}\n`,
    );
    await waitFor(
      () => out,
      (o) => o.includes('\n'),
      'the initialize answer',
    );
    child.stdin.end();
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    for (const line of out.trim().split('\n')) expect(JSON.parse(line)).toMatchObject({ jsonrpc: '2.0' });
  });
});

describe('traffic-guardian mcp (host CLI)', () => {
  it('serves the same tools over stdio and exits 0 when stdin closes', async () => {
    const cli = path.resolve('dist/host-services/cli.js');
    const child = spawn(process.execPath, [cli, 'mcp', '--socket', g.svc.socketPath], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = once(child, 'exit');
    const send = (msg: object) => child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...msg })}\n`);
    send({
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } },
    });
    send({ method: 'notifications/initialized' });
    send({ id: 2, method: 'tools/call', params: { name: 'get_status', arguments: {} } });
    await waitFor(
      () => out,
      (o) => o.split('\n').filter(Boolean).length >= 2,
      'the get_status answer',
    );
    child.stdin.end();
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    const frames = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { jsonrpc: string; id?: number; result?: ToolResult });
    for (const f of frames) expect(f.jsonrpc).toBe('2.0');
    const st = frames.find((f) => f.id === 2)!.result!;
    expect(st.isError).toBeFalsy();
    expect(StatusResultSchema.parse(st.structuredContent).pid).toBe(process.pid);
  });
});

describe('bundle', () => {
  it('runs from a directory with no node_modules', async () => {
    const dir = tempHome('tg-b-');
    try {
      const copy = path.join(dir, 'traffic-guardian-mcp.mjs');
      copyFileSync(BUNDLE, copy);
      for (let d = dir; ; d = path.dirname(d)) {
        expect(existsSync(path.join(d, 'node_modules'))).toBe(false);
        if (d === path.dirname(d)) break;
      }
      expect(dir.startsWith(os.tmpdir())).toBe(true);
      const m = await startMcp(g.svc.socketPath, copy, dir);
      try {
        const { tools } = await m.client.listTools();
        expect(tools).toHaveLength(3);
        const r = await call(m, 'get_status');
        expect(r.isError).toBeFalsy();
        expect(StatusResultSchema.parse(r.structuredContent).https_inspection).toBe(true);
      } finally {
        await m.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('carries no host code or key material', () => {
    const bundle = readFileSync(BUNDLE, 'utf8');
    for (const s of [
      'http-mitm-proxy',
      'node-forge',
      'host-services',
      'BEGIN RSA PRIVATE KEY',
      'generateKeyPair',
      'loadOrCreateCa',
    ])
      expect(bundle).not.toContain(s);
    expect(bundle.startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('has a build check that fails on host code', () => {
    const dir = tempHome('tg-bc-');
    try {
      const bad = path.join(dir, 'bad.mjs');
      writeFileSync(bad, 'export const x = "node-forge"; crypto.generateKeyPair;\n');
      const r = spawnSync(process.execPath, ['scripts/bundle-mcp.mjs', '--check', bad], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/host-only code: node-forge, generateKeyPair/);
      const ok = spawnSync(process.execPath, ['scripts/bundle-mcp.mjs', '--check', BUNDLE], { encoding: 'utf8' });
      expect(ok.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
