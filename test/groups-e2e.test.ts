// End to end with per-group proxy credentials: two NanoClaw agent groups share one guardian, each
// with its own token in groups.json. Each group's traffic is attributed to it, each group's MCP server
// (the real bundle over its group socket) sees only that group, the operator socket sees everything,
// and bad credentials are refused with 407 before anything is scanned or forwarded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Finding } from '../lib/finding-schema.js';
import { IpcClient, IpcError } from '../mcp-tools/ipc-client.js';
import { ListFindingsResultSchema, StatusResultSchema } from '../lib/ipc-protocol.js';
import { loadOrCreateCa } from '../host-services/ca.js';
import { GroupRegistry } from '../host-services/group-registry.js';
import { groupSocketPath, homePaths, type HomePaths } from '../host-services/home.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { connectTunnel, viaProxyHttp, viaProxyHttps } from './support/proxy-client.js';
import { startService, tempHome, type TestService } from './support/service.js';
import { expandExample } from './support/expand-example.js';
import { leakedRuns } from './support/leak-check.js';

const BUNDLE = fileURLToPath(new URL('../dist/mcp-tools/traffic-guardian-mcp.mjs', import.meta.url));
const GROUPS = ['alpha', 'beta'] as const;
type Group = (typeof GROUPS)[number];

let upstream: Upstream;
let upstreamCaHome: string;
let g: TestService;
let paths: HomePaths;
let guardianCa: string;
let tokens: Record<Group, string>;
let operator: IpcClient;
const mcp = new Map<Group, Client>();
const secretParts: string[] = [];

function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

function auth(group: Group): Record<string, string> {
  return { 'proxy-authorization': basic(group, tokens[group]) };
}

async function startMcp(socket: string): Promise<Client> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BUNDLE, '--socket', socket],
    stderr: 'ignore',
  });
  const client = new Client({ name: 'groups-e2e', version: '0.0.0' });
  await client.connect(transport);
  return client;
}

async function mcpFindings(group: Group, args: Record<string, unknown> = {}) {
  const r = await mcp.get(group)!.callTool({ name: 'list_findings', arguments: { limit: 100, ...args } });
  expect(r.isError).toBeFalsy();
  return ListFindingsResultSchema.parse(r.structuredContent);
}

async function mcpStatus(group: Group) {
  const r = await mcp.get(group)!.callTool({ name: 'get_status', arguments: {} });
  expect(r.isError).toBeFalsy();
  return StatusResultSchema.parse(r.structuredContent);
}

const leaks = leakedRuns;

beforeAll(async () => {
  upstreamCaHome = tempHome('tg-up-');
  const upCa = loadOrCreateCa(homePaths(upstreamCaHome), { create: true })!;
  upstream = await startUpstream(upCa.certFor('localhost'));

  // groups.json exists before the service starts, as `traffic-guardian install` leaves it.
  const home = tempHome('tg-grp-');
  paths = homePaths(home);
  const registry = GroupRegistry.load(paths.groupsFile);
  tokens = { alpha: registry.issue('alpha'), beta: registry.issue('beta') };
  registry.save();

  g = await startService(
    { https_inspection: true, upstream_ca_file: upCa.certPath, proxy_auth: 'groups', dedup_window_secs: 0 },
    {},
    home,
  );
  guardianCa = g.svc.ca!.certPem;
  operator = new IpcClient({ socketPath: paths.socket });
  await Promise.all(GROUPS.map(async (grp) => mcp.set(grp, await startMcp(groupSocketPath(paths, grp)))));
});

afterAll(async () => {
  await Promise.all([...mcp.values()].map((c) => c.close()));
  operator?.close();
  await g?.stop();
  await upstream?.close();
  if (upstreamCaHome) rmSync(upstreamCaHome, { recursive: true, force: true });
});

describe('per-group proxy credentials', () => {
  it('attributes each group’s traffic to the credential it sent (plain HTTP and inspected HTTPS)', async () => {
    const gh = expandExample('ghp_{{rand:alnum:36}}');
    const stripe = expandExample('sk_live_{{rand:alnum:99}}');
    secretParts.push(...gh.randomParts, ...stripe.randomParts);

    const alphaBody = `token=${gh.text}`;
    const a = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/echo?grp_alpha`, {
      method: 'POST',
      headers: auth('alpha'),
      body: alphaBody,
    });
    expect(a.status).toBe(200);
    expect(a.body.toString()).toBe('ok');
    expect(upstream.received.at(-1)!.toString()).toBe(alphaBody);

    const betaBody = `STRIPE_SECRET_KEY=${stripe.text}\n`;
    const b = await viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}/echo?grp_beta`, guardianCa, {
      method: 'POST',
      connectHeaders: auth('beta'),
      body: betaBody,
    });
    expect(b.status).toBe(200);
    expect(b.body.toString()).toBe('ok');
    expect(upstream.received.at(-1)!.toString()).toBe(betaBody);

    const [ghFinding] = await g.findings(1, (f) => f.pattern === 'github_token');
    expect(ghFinding).toMatchObject({ group: 'alpha', protocol: 'http', direction: 'outbound', location: 'body' });
    expect(ghFinding!.dest).toBe(`localhost:${upstream.httpPort}`);
    const [stripeFinding] = await g.findings(1, (f) => f.pattern === 'stripe_key');
    expect(stripeFinding).toMatchObject({ group: 'beta', protocol: 'https', direction: 'outbound', location: 'body' });
    expect(stripeFinding!.dest).toBe(`localhost:${upstream.httpsPort}`);
    expect(leaks([ghFinding, stripeFinding], secretParts)).toEqual([]);
  });

  it('takes the group from the CONNECT credential, not from a header sent inside the tunnel', async () => {
    const gl = expandExample('glpat-{{rand:b64url:20}}');
    secretParts.push(...gl.randomParts);
    const r = await viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}/echo?grp_inner`, guardianCa, {
      method: 'POST',
      connectHeaders: auth('beta'),
      headers: auth('alpha'),
      body: `token=${gl.text}`,
    });
    expect(r.status).toBe(200);
    const [f] = await g.findings(1, (x) => x.path === '/echo?grp_inner');
    expect(f).toMatchObject({ group: 'beta', pattern: 'gitlab_token', protocol: 'https' });
  });

  it('never forwards the group credential to the destination', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      res.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const port = (server.address() as net.AddressInfo).port;
      const r = await viaProxyHttp(g.port, `http://localhost:${port}/headers`, {
        headers: { ...auth('alpha'), 'proxy-connection': 'keep-alive' },
      });
      expect(r.status).toBe(200);
      expect(seen).toHaveLength(1);
      expect(Object.keys(seen[0]!).filter((k) => k.startsWith('proxy-'))).toEqual([]);
      expect(JSON.stringify(seen[0])).not.toContain(tokens.alpha);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('needs the credential for a WebSocket upgrade too, and attributes its messages to the group', async () => {
    const server = http.createServer((_req, res) => res.end('not a websocket'));
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => ws.on('message', (m: Buffer) => ws.send(`got ${m.length} bytes`)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    // The client talks to the guardian as its proxy: the upgrade request goes to the proxy port.
    const open = (headers: Record<string, string>, message: string) =>
      new Promise<{ status: number; reply?: string }>((resolve, reject) => {
        const ws = new WebSocket(`ws://localhost:${port}/ws?grp_ws`, {
          headers,
          createConnection: () => net.connect(g.port, '127.0.0.1'),
        } as ConstructorParameters<typeof WebSocket>[2] & { createConnection: () => net.Socket });
        ws.on('open', () => ws.send(message));
        ws.on('message', (m: Buffer) => {
          resolve({ status: 101, reply: m.toString() });
          ws.close();
        });
        ws.on('unexpected-response', (_req, res) => {
          resolve({ status: res.statusCode ?? 0 });
          res.resume();
        });
        ws.on('error', reject);
      });
    try {
      const hf = expandExample('hf_{{rand:lower:17}}{{rand:upper:17}}');
      secretParts.push(...hf.randomParts);
      const failures = g.svc.counters.auth_failures;
      const denied = await open({}, `HF_TOKEN=${hf.text}`);
      expect(denied.status).toBe(407);
      expect(g.svc.counters.auth_failures).toBe(failures + 1);
      const wrong = await open({ 'proxy-authorization': basic('alpha', tokens.beta) }, `HF_TOKEN=${hf.text}`);
      expect(wrong.status).toBe(407);
      expect(g.svc.counters.auth_failures).toBe(failures + 2);
      expect(wss.clients.size).toBe(0);

      const ok = await open(auth('alpha'), `HF_TOKEN=${hf.text}`);
      expect(ok).toEqual({ status: 101, reply: `got ${`HF_TOKEN=${hf.text}`.length} bytes` });
      const [f] = await g.findings(1, (x) => x.protocol === 'websocket' && x.pattern === 'huggingface_token');
      expect(f).toMatchObject({ group: 'alpha', pattern: 'huggingface_token', direction: 'outbound' });
      expect(f!.dest).toBe(`localhost:${port}`);
    } finally {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('does not ask again for plain HTTP inside an authenticated CONNECT tunnel', async () => {
    const failures = g.svc.counters.auth_failures;
    const tunnel = await connectTunnel(g.port, `localhost:${upstream.httpPort}`, auth('beta'));
    const np = expandExample('npm_{{rand:alnum:36}}');
    secretParts.push(...np.randomParts);
    const body = `NPM_TOKEN=${np.text}\n`;
    const chunks: Buffer[] = [];
    tunnel.on('data', (c: Buffer) => chunks.push(c));
    tunnel.write(
      `POST /echo?grp_tunnel HTTP/1.1\r\nHost: localhost:${upstream.httpPort}\r\nContent-Length: ${body.length}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
    await once(tunnel, 'end');
    expect(Buffer.concat(chunks).toString()).toMatch(/^HTTP\/1\.1 200 /);
    expect(upstream.received.at(-1)!.toString()).toBe(body);
    expect(g.svc.counters.auth_failures).toBe(failures);
    const [f] = await g.findings(1, (x) => x.path === '/echo?grp_tunnel' && x.pattern === 'npm_token');
    expect(f).toMatchObject({ group: 'beta', pattern: 'npm_token', protocol: 'http' });
    expect(f!.dest).toBe(`localhost:${upstream.httpPort}`);
  });

  it('each group’s MCP server lists only that group’s findings', async () => {
    const own: Record<Group, string> = { alpha: 'github_token', beta: 'stripe_key' };
    for (const grp of GROUPS) {
      const other: Group = grp === 'alpha' ? 'beta' : 'alpha';
      const r = await mcpFindings(grp);
      expect(r.group).toBe(grp);
      expect(r.findings.length).toBeGreaterThan(0);
      expect(r.findings.every((f) => f.group === grp)).toBe(true);
      const patterns = new Set(r.findings.map((f) => f.pattern));
      expect(patterns.has(own[grp])).toBe(true);
      expect(patterns.has(own[other])).toBe(false);
      expect(leaks(r.findings, secretParts)).toEqual([]);
      // Filters still work inside the scope.
      const filtered = await mcpFindings(grp, { pattern: own[other] });
      expect(filtered.findings).toEqual([]);
    }
  });

  it('get_status over a group socket carries the group and counts only its findings', async () => {
    const all = await operator.request('list_findings', { limit: 500 });
    const count = (grp: Group) => all.findings.filter((f) => f.group === grp && f.threat_type === 'EXFIL').length;
    for (const grp of GROUPS) {
      const st = await mcpStatus(grp);
      expect(st.group).toBe(grp);
      expect(st.counters.findings.EXFIL).toBe(count(grp));
      expect(st.counters.findings.INJECTION).toBe(0);
      expect(st.recent_findings.length).toBeGreaterThan(0);
      expect(st.recent_findings.every((f) => f.group === grp)).toBe(true);
      expect((st.connect_destinations ?? []).every((d) => d.group === grp)).toBe(true);
    }
    // alpha only sent plain HTTP; beta's CONNECTs are its own.
    expect((await mcpStatus('alpha')).connect_destinations).toEqual([]);
    const betaDests = (await mcpStatus('beta')).connect_destinations ?? [];
    expect(new Set(betaDests.map((d) => d.dest))).toEqual(
      new Set([`localhost:${upstream.httpsPort}`, `localhost:${upstream.httpPort}`]),
    );
    expect(betaDests.every((d) => d.inspected)).toBe(true);
  });

  it('a group’s counts cover all of its findings, not just the last few', async () => {
    // Fifteen distinct tokens in one body: fifteen findings for alpha, more than recent_findings can hold.
    const many = Array.from({ length: 15 }, () => expandExample('ghp_{{rand:alnum:36}}'));
    secretParts.push(...many.flatMap((m) => m.randomParts));
    const betaBefore = (await mcpStatus('beta')).counters.findings.EXFIL;
    const alphaBefore = (await mcpStatus('alpha')).counters.findings.EXFIL;
    const r = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/echo?grp_many`, {
      method: 'POST',
      headers: auth('alpha'),
      body: `tokens: ${many.map((m) => m.text).join(' ')}`,
    });
    expect(r.status).toBe(200);
    const made = await g.findings(15, (f) => f.path === '/echo?grp_many');
    expect(made.filter((f) => f.pattern === 'github_token')).toHaveLength(15);
    const alpha = await mcpStatus('alpha');
    expect(alpha.counters.findings.EXFIL).toBe(alphaBefore + made.length);
    expect(alpha.recent_findings).toHaveLength(10);
    expect(alpha.recent_findings.every((f) => f.path === '/echo?grp_many')).toBe(true);
    expect((await mcpStatus('beta')).counters.findings.EXFIL).toBe(betaBefore);
    expect((await mcpFindings('alpha')).findings.filter((f) => f.path === '/echo?grp_many')).toHaveLength(made.length);
  });

  it('the operator socket sees both groups', async () => {
    const r = await operator.request('list_findings', { limit: 500 });
    expect(r.group).toBeNull();
    const groups = new Set(r.findings.map((f) => f.group));
    expect(groups).toEqual(new Set(['alpha', 'beta']));
    const st = await operator.request('get_status');
    expect(st.group).toBeNull();
    expect(st.counters.findings.EXFIL).toBe(r.findings.filter((f) => f.threat_type === 'EXFIL').length);
    expect(new Set((st.connect_destinations ?? []).map((d) => d.group))).toEqual(new Set(['beta']));
    expect(leaks(r.findings, secretParts)).toEqual([]);
  });

  describe('bad credentials get 407 and leave no finding', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const cases: [string, () => string | undefined][] = [
      ['a missing credential', () => undefined],
      ['a wrong token (another group’s)', () => basic('alpha', tokens.beta)],
      // The last character changed to one it is not (a random token may already end in 'x').
      [
        'a wrong token (altered)',
        () => basic('alpha', `${tokens.alpha.slice(0, -1)}${tokens.alpha.endsWith('x') ? 'y' : 'x'}`),
      ],
      ['an unknown group', () => basic('gamma', tokens.alpha)],
      ['an empty group name', () => `Basic ${b64(`:${tokens.alpha}`)}`],
      ['a malformed header (not base64)', () => 'Basic !!not-base64!!'],
      ['a malformed header (no colon)', () => `Basic ${b64(`alpha${tokens.alpha}`)}`],
      ['a malformed header (other scheme)', () => `Bearer ${tokens.alpha}`],
      ['a malformed header (empty Basic)', () => 'Basic '],
    ];
    const before = { findings: 0, received: 0 };

    beforeAll(async () => {
      await g.svc.store.flush();
      before.findings = g.svc.counters.findings.EXFIL;
      before.received = upstream.received.length;
    });

    cases.forEach(([name, header], i) => {
      it(`${name}: 407 on a plain request and on CONNECT; auth_failures rises`, async () => {
        const gh = expandExample('ghp_{{rand:alnum:36}}');
        const h = header();
        const headers: Record<string, string> = h === undefined ? {} : { 'proxy-authorization': h };
        const failures = (await operator.request('get_status')).counters.auth_failures;

        const r = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/echo?bad_${i}`, {
          method: 'POST',
          headers: { ...headers, 'x-api-token': gh.text },
          body: `token=${gh.text}`,
        });
        expect(r.status).toBe(407);
        expect(r.headers['proxy-authenticate']).toMatch(/^Basic realm=/);
        expect((await operator.request('get_status')).counters.auth_failures).toBe(failures + 1);

        const err = await connectTunnel(g.port, `localhost:${upstream.httpsPort}`, headers).then(
          () => null,
          (e: Error & { status?: number }) => e,
        );
        expect(err?.status).toBe(407);
        const st = await operator.request('get_status');
        expect(st.counters.auth_failures).toBe(failures + 2);
        expect(upstream.received.length).toBe(before.received);
      });
    });

    it('none of them produced a finding or reached the upstream', async () => {
      // Barrier: an authenticated request whose finding is logged after anything the refused ones could have made.
      const gh = expandExample('ghp_{{rand:alnum:36}}');
      const r = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/echo?barrier`, {
        method: 'POST',
        headers: auth('alpha'),
        body: `token=${gh.text}`,
      });
      expect(r.status).toBe(200);
      await g.findings(1, (f) => f.path === '/echo?barrier');
      expect(g.svc.counters.findings.EXFIL).toBe(before.findings + 1);
      expect(upstream.received.length).toBe(before.received + 1);
      const all = await operator.request('list_findings', { limit: 500 });
      expect(all.findings.filter((f: Finding) => (f.path ?? '').startsWith('/echo?bad_'))).toEqual([]);
      const dests = (await operator.request('get_status')).connect_destinations ?? [];
      expect(dests.every((d) => d.group === 'beta')).toBe(true);
    });
  });

  describe('a group cannot escape its scope', () => {
    it('the MCP list_findings tool does not take a group argument', async () => {
      let rejected = false;
      let result: Awaited<ReturnType<Client['callTool']>> | undefined;
      try {
        result = await mcp.get('alpha')!.callTool({ name: 'list_findings', arguments: { group: 'beta', limit: 100 } });
        rejected = result.isError === true;
      } catch {
        rejected = true;
      }
      if (!rejected) {
        // Not rejected outright: then it must have been ignored, never honoured.
        const r = ListFindingsResultSchema.parse(result!.structuredContent);
        expect(r.group).toBe('alpha');
        expect(r.findings.every((f) => f.group === 'alpha')).toBe(true);
      }
      const tools = await mcp.get('alpha')!.listTools();
      const schema = tools.tools.find((t) => t.name === 'list_findings')!.inputSchema;
      expect(Object.keys(schema.properties ?? {})).not.toContain('group');
    });

    it('the group socket rejects a group parameter', async () => {
      const client = new IpcClient({ socketPath: groupSocketPath(paths, 'alpha') });
      try {
        expect((await client.request('hello')).group).toBe('alpha');
        for (const [method, params] of [
          ['list_findings', { group: 'beta' }],
          ['list_findings', { group: 'alpha' }],
          ['get_status', { group: 'beta' }],
        ] as const) {
          const err = await client.request(method, params).then(
            () => null,
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(IpcError);
          expect((err as IpcError).code).toBe('invalid_params');
        }
        // The connection is still usable and still scoped.
        const r = await client.request('list_findings', { limit: 500 });
        expect(r.group).toBe('alpha');
        expect(r.findings.every((f) => f.group === 'alpha')).toBe(true);
      } finally {
        client.close();
      }
    });
  });

  it('keeps sockets 0600 in 0700 directories and groups.json 0600', () => {
    const mode = (p: string) => statSync(p).mode & 0o777;
    for (const sock of [paths.socket, ...GROUPS.map((grp) => groupSocketPath(paths, grp))]) {
      expect(statSync(sock).isSocket()).toBe(true);
      expect(mode(sock)).toBe(0o600);
      expect(mode(path.dirname(sock))).toBe(0o700);
    }
    expect(mode(paths.groupsRunDir)).toBe(0o700);
    expect(mode(paths.groupsFile)).toBe(0o600);
    expect(mode(paths.root)).toBe(0o700);
  });
});
