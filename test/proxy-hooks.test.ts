// The hooks hold on every path the transport has: plain HTTP, a blind CONNECT, an inspected CONNECT
// (TLS, and plain HTTP inside it), and a WebSocket over each. Proxy credentials are asked on every one
// (407 without them), `allow_hosts` exempts an allowed host on every one (no finding), and the
// self-probe is answered by the guardian itself. The allowed host is 127.0.0.1, the scanned one
// localhost: the same local upstreams answer both names.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { copyFileSync, rmSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { Finding } from '../lib/finding-schema.js';
import { PROBE_HOST, ProbeAnswerSchema } from '../lib/probe.js';
import { loadOrCreateCa } from '../host-services/ca.js';
import { GroupRegistry } from '../host-services/group-registry.js';
import { homePaths } from '../host-services/home.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { connectTunnel, viaProxyHttp, viaProxyHttps } from './support/proxy-client.js';
import { startService, tempHome, type TestService } from './support/service.js';
import { expandExample } from './support/expand-example.js';

let upstream: Upstream;
let upCaHome: string;
let upCaPem: string;
let g: TestService;
let blind: TestService;
let token: string;
let wsServer: http.Server;
let wss: WebSocketServer;
let wsPort: number;

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const cred = () => ({ 'proxy-authorization': basic('alpha', token) });

/** A fresh GitHub token (generated, never a real one). */
const ghToken = () => expandExample('ghp_{{rand:alnum:36}}').text;

beforeAll(async () => {
  upCaHome = tempHome('tg-up-');
  const upCa = loadOrCreateCa(homePaths(upCaHome), { create: true })!;
  upCaPem = upCa.certPem;
  upstream = await startUpstream(upCa.certFor('localhost'));
  wsServer = http.createServer((_req, res) => res.end('not a websocket'));
  wss = new WebSocketServer({ server: wsServer });
  wss.on('connection', (ws) => ws.on('message', (m: Buffer) => ws.send(`got ${m.length}`)));
  wsServer.listen(0, '127.0.0.1');
  await once(wsServer, 'listening');
  wsPort = (wsServer.address() as net.AddressInfo).port;

  const home = tempHome('tg-hooks-');
  const registry = GroupRegistry.load(homePaths(home).groupsFile);
  token = registry.issue('alpha');
  registry.save();
  const config = {
    upstream_ca_file: upCa.certPath,
    proxy_auth: 'groups' as const,
    allow_hosts: ['127.0.0.1'],
    dedup_window_secs: 0,
  };
  g = await startService({ ...config, https_inspection: true }, {}, home);
  const blindHome = tempHome('tg-hooks-b-');
  copyFileSync(homePaths(home).groupsFile, homePaths(blindHome).groupsFile);
  blind = await startService({ ...config, https_inspection: false }, {}, blindHome);
});

afterAll(async () => {
  for (const c of wss?.clients ?? []) c.terminate();
  wss?.close();
  wsServer?.closeAllConnections();
  await new Promise((r) => wsServer?.close(r));
  await g?.stop();
  await blind?.stop();
  await upstream?.close();
  if (upCaHome) rmSync(upCaHome, { recursive: true, force: true });
});

/** Sends one WebSocket message through the proxy (plain upgrade, or over `socket` when given). */
function wsMessage(
  proxyPort: number,
  url: string,
  message: string,
  o: { headers?: Record<string, string>; socket?: () => Duplex } = {},
): Promise<{ status: number; reply?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: o.headers,
      createConnection: o.socket ?? (() => net.connect(proxyPort, '127.0.0.1')),
    } as ConstructorParameters<typeof WebSocket>[2] & { createConnection: () => Duplex });
    const timer = setTimeout(() => reject(new Error(`no WebSocket answer from ${url}`)), 5000);
    ws.on('open', () => ws.send(message));
    ws.on('message', (m: Buffer) => {
      clearTimeout(timer);
      resolve({ status: 101, reply: m.toString() });
      ws.close();
    });
    ws.on('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
    });
    ws.on('error', reject);
  });
}

/** The raw answer to a CONNECT (status line and what follows), without credentials handling. */
function rawConnect(port: number, target: string, headers: Record<string, string> = {}): Promise<number> {
  return connectTunnel(port, target, headers).then(
    (s) => {
      s.destroy();
      return 200;
    },
    (err: { status?: number }) => err.status ?? 0,
  );
}

/** Findings written for `dest`, read after a later control finding proved the earlier scans had run. */
async function findingsAfterControl(s: TestService, dest: string): Promise<Finding[]> {
  const control = ghToken();
  const r = await viaProxyHttp(s.port, `http://localhost:${upstream.httpPort}/echo`, {
    method: 'POST',
    headers: cred(),
    body: `control=${control}`,
  });
  expect(r.status).toBe(200);
  await s.findings(1, (f) => f.dest === `localhost:${upstream.httpPort}` && f.method === 'POST');
  await s.svc.store.flush();
  return s.svc.store.recent(500).filter((f) => f.dest === dest);
}

describe('proxy credentials on every path', () => {
  it('plain HTTP: 407 without them, nothing forwarded', async () => {
    const before = upstream.received.length;
    const r = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/echo`, { method: 'POST', body: 'x' });
    expect(r.status).toBe(407);
    expect(r.headers['proxy-authenticate']).toMatch(/^Basic /);
    expect(upstream.received.length).toBe(before);
  });

  it('blind CONNECT (an allowed host with inspection on, any host with it off): 407 without them', async () => {
    expect(await rawConnect(g.port, `127.0.0.1:${upstream.httpsPort}`)).toBe(407);
    expect(await rawConnect(blind.port, `localhost:${upstream.httpsPort}`)).toBe(407);
    expect(await rawConnect(g.port, `127.0.0.1:${upstream.httpsPort}`, cred())).toBe(200);
    expect(await rawConnect(blind.port, `localhost:${upstream.httpsPort}`, cred())).toBe(200);
  });

  it('inspected CONNECT: 407 without them; with them, TLS and plain HTTP inside are not asked again', async () => {
    expect(await rawConnect(g.port, `localhost:${upstream.httpsPort}`)).toBe(407);
    const r = await viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}/echo`, g.svc.ca!.certPem, {
      method: 'POST',
      body: 'hi',
      connectHeaders: cred(),
    });
    expect(r.status).toBe(200);
    const tunnel = await connectTunnel(g.port, `localhost:${upstream.httpPort}`, cred());
    const chunks: Buffer[] = [];
    tunnel.on('data', (c: Buffer) => chunks.push(c));
    tunnel.write(`GET /plain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    await once(tunnel, 'end');
    expect(Buffer.concat(chunks).toString()).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('WebSocket, plain upgrade and inside each kind of tunnel: 407 without them', async () => {
    const url = `ws://localhost:${wsPort}/ws`;
    expect((await wsMessage(g.port, url, 'x')).status).toBe(407);
    expect((await wsMessage(g.port, url, 'x', { headers: cred() })).status).toBe(101);
    // Inside tunnels the CONNECT is what asks; once it passed, the upgrade inside is not asked again.
    expect(await rawConnect(g.port, `localhost:${wsPort}`)).toBe(407);
    expect(await rawConnect(blind.port, `localhost:${wsPort}`)).toBe(407);
    for (const s of [g, blind]) {
      const tunnel = await connectTunnel(s.port, `localhost:${wsPort}`, cred());
      expect((await wsMessage(s.port, url, 'x', { socket: () => tunnel })).status).toBe(101);
    }
  });
});

describe('allow_hosts on every path', () => {
  it('plain HTTP and WebSocket to an allowed host leave no finding; the same to another host does', async () => {
    await viaProxyHttp(g.port, `http://127.0.0.1:${upstream.httpPort}/echo?t=${ghToken()}`, {
      method: 'POST',
      headers: { ...cred(), 'x-token': ghToken() },
      body: `token=${ghToken()}`,
    });
    const ws = await wsMessage(g.port, `ws://127.0.0.1:${wsPort}/ws`, `token=${ghToken()}`, { headers: cred() });
    expect(ws.reply).toMatch(/^got /);
    // Plain HTTP and ws:// inside a tunnel (inspection on: the tunnel's first bytes are not TLS).
    const tunnel = await connectTunnel(g.port, `127.0.0.1:${wsPort}`, cred());
    await wsMessage(g.port, `ws://127.0.0.1:${wsPort}/ws`, `token=${ghToken()}`, { socket: () => tunnel });
    expect(await findingsAfterControl(g, `127.0.0.1:${upstream.httpPort}`)).toEqual([]);
    expect(await findingsAfterControl(g, `127.0.0.1:${wsPort}`)).toEqual([]);

    // The control: a WebSocket message to a host that is not allowed is scanned.
    await wsMessage(g.port, `ws://localhost:${wsPort}/ws`, `token=${ghToken()}`, { headers: cred() });
    const [f] = await g.findings(1, (x) => x.protocol === 'websocket' && x.dest === `localhost:${wsPort}`);
    expect(f).toMatchObject({ pattern: 'github_token', group: 'alpha' });
  });

  it('a CONNECT to an allowed host is a blind tunnel even with inspection on, in either mode', async () => {
    const before = g.svc.counters.tunnels;
    const raw = await connectTunnel(g.port, `127.0.0.1:${upstream.httpsPort}`, cred());
    // The upstream's own certificate comes through: nothing was terminated by the guardian.
    const t = tls.connect({ socket: raw, servername: 'localhost', ca: [upCaPem] });
    await once(t, 'secureConnect');
    t.write(
      `POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 46\r\nConnection: close\r\n\r\nt=${ghToken()}xxxx`,
    );
    t.resume();
    await once(t, 'end');
    expect(g.svc.counters.tunnels).toBe(before + 1);
    expect(await findingsAfterControl(g, `127.0.0.1:${upstream.httpsPort}`)).toEqual([]);
    const dests = g.svc.status(null).connect_destinations ?? [];
    expect(dests.find((d) => d.dest === `127.0.0.1:${upstream.httpsPort}`)?.inspected).toBe(false);
  });
});

describe('the self-probe', () => {
  it('plain: answered by the guardian after the credentials check, never forwarded or counted', async () => {
    const before = structuredClone(g.svc.counters);
    const denied = await viaProxyHttp(g.port, `http://${PROBE_HOST}/any/path?x=1`);
    expect(denied.status).toBe(407);
    expect(g.svc.counters.auth_failures).toBe(before.auth_failures + 1);
    for (const url of [`http://${PROBE_HOST}/`, `http://${PROBE_HOST.toUpperCase()}.:8080/x`]) {
      const r = await viaProxyHttp(g.port, url, { headers: cred() });
      expect(r.status).toBe(200);
      expect(ProbeAnswerSchema.parse(JSON.parse(r.body.toString()))).toMatchObject({
        guardian: 'nanoclaw-traffic-guardian',
        group: 'alpha',
        protocol: 'http',
        https_inspection: true,
      });
    }
    // Forwarded, it would have failed upstream (the name does not resolve) and been counted.
    expect(g.svc.counters.upstream_errors).toBe(before.upstream_errors);
    expect(g.svc.counters.requests).toBe(before.requests + 1); // the 407 only
  });

  it('CONNECT with inspection on: TLS with the guardian CA, answered inside, not a destination', async () => {
    const connects = g.svc.counters.connects;
    expect(await rawConnect(g.port, `${PROBE_HOST}:443`)).toBe(407);
    const r = await viaProxyHttps(g.port, `https://${PROBE_HOST}:443/status`, g.svc.ca!.certPem, {
      connectHeaders: cred(),
    });
    expect(r.status).toBe(200);
    expect(ProbeAnswerSchema.parse(JSON.parse(r.body.toString()))).toMatchObject({ protocol: 'https', group: 'alpha' });
    expect(g.svc.counters.connects).toBe(connects + 1); // the 407 only
    expect((g.svc.status(null).connect_destinations ?? []).some((d) => d.dest.includes(PROBE_HOST))).toBe(false);
  });

  it('CONNECT with inspection off: 403 "HTTPS inspection is off"', async () => {
    const s = net.connect(blind.port, '127.0.0.1');
    s.write(
      `CONNECT ${PROBE_HOST}:443 HTTP/1.1\r\nHost: ${PROBE_HOST}:443\r\nProxy-Authorization: ${cred()['proxy-authorization']}\r\n\r\n`,
    );
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    await once(s, 'end');
    s.destroy();
    const text = Buffer.concat(chunks).toString();
    expect(text).toMatch(/^HTTP\/1\.1 403 /);
    expect(text).toContain('HTTPS inspection is off');
  });
});
