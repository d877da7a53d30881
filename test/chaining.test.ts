import { parseConfig } from '../lib/config-schema.js';
// End to end with an upstream proxy (NanoClaw's OneCLI gateway stands behind HTTPS_PROXY): the
// guardian chains every request through a real forward proxy, with that proxy's credentials, and
// still scans everything. When the forward proxy is down the client gets 502, and the guardian
// serves again once it is back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import tls from 'node:tls';
import { rmSync } from 'node:fs';
import { loadOrCreateCa } from '../host-services/ca.js';
import { GroupRegistry } from '../host-services/group-registry.js';
import { homePaths } from '../host-services/home.js';
import { INJECTION_TEXT, startUpstream, type Upstream } from './support/upstream.js';
import { connectTunnel, viaProxyHttp, viaProxyHttps, waitFor, type Resp } from './support/proxy-client.js';
import { startService, tempHome, type TestService } from './support/service.js';
import { expandExample } from './support/expand-example.js';
import { startForwardProxy, type ForwardProxy } from './support/forward-proxy.js';

// Characters that must be percent-encoded in the URL and decoded again for the Basic credential.
const FWD_USER = 'guardian';
const FWD_PASS = 'p@ss:w/rd';
const FWD_AUTH = `Basic ${Buffer.from(`${FWD_USER}:${FWD_PASS}`).toString('base64')}`;

let upstream: Upstream;
let upstreamCaHome: string;
let upstreamCaPem: string;
let upstreamCaFile: string;
let fwd: ForwardProxy;
let g: TestService;
let guardianCa: string;

function upstreamProxyUrl(port: number): string {
  return `http://${FWD_USER}:${encodeURIComponent(FWD_PASS)}@127.0.0.1:${port}`;
}

/** GET through a blind tunnel, trusting the upstream's own CA (nothing is intercepted). */
async function viaBlindTunnel(proxyPort: number, url: string, ca: string): Promise<Resp> {
  const u = new URL(url);
  const raw = await connectTunnel(proxyPort, u.host);
  const socket = tls.connect({ socket: raw, servername: u.hostname, ca: [ca] });
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: u.hostname, port: Number(u.port), path: u.pathname + u.search, createConnection: () => socket },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  upstreamCaHome = tempHome('tg-up-');
  const upCa = loadOrCreateCa(homePaths(upstreamCaHome), { create: true })!;
  upstreamCaFile = upCa.certPath;
  upstreamCaPem = upCa.certPem;
  upstream = await startUpstream(upCa.certFor('localhost'));
  fwd = await startForwardProxy({ auth: { user: FWD_USER, pass: FWD_PASS } });
  g = await startService({
    https_inspection: true,
    upstream_ca_file: upstreamCaFile,
    upstream_proxy: upstreamProxyUrl(fwd.port),
    dedup_window_secs: 0,
  });
  guardianCa = g.svc.ca!.certPem;
});

afterAll(async () => {
  await g?.stop();
  await fwd?.close();
  await upstream?.close();
  if (upstreamCaHome) rmSync(upstreamCaHome, { recursive: true, force: true });
});

describe('chaining through an upstream proxy (inspection on)', () => {
  it('sends plain HTTP to the forward proxy in absolute form, with its credentials, and still scans it', async () => {
    const before = { requests: fwd.requests(), auths: fwd.authorizations.length };
    const secret = expandExample('glpat-{{rand:b64url:20}}');
    const body = `GITLAB=${secret.text}\n`;
    const url = `http://localhost:${upstream.httpPort}/echo?chain_http`;
    const r = await viaProxyHttp(g.port, url, { method: 'POST', body });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('ok');
    expect(upstream.received.at(-1)!.toString()).toBe(body);
    expect(fwd.requests()).toBe(before.requests + 1);
    expect(fwd.seen.at(-1)).toBe(url);
    expect(fwd.authorizations.slice(before.auths)).toEqual([FWD_AUTH]);

    const [f] = await g.findings(1, (x) => x.path === '/echo?chain_http');
    expect(f).toMatchObject({ pattern: 'gitlab_token', protocol: 'http', direction: 'outbound' });
    expect(f!.dest).toBe(`localhost:${upstream.httpPort}`);
    expect(JSON.stringify(f)).not.toContain(secret.randomParts[0]!.slice(0, 8));

    // Inbound: the response came back through the forward proxy and was scanned too.
    const plain = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/plain`);
    expect(plain.status).toBe(200);
    expect(plain.body.toString()).toBe(INJECTION_TEXT);
    expect(fwd.requests()).toBe(before.requests + 2);
    const [inj] = await g.findings(1, (x) => x.path === '/plain' && x.direction === 'inbound');
    expect(inj).toMatchObject({ pattern: 'pipe_to_shell', protocol: 'http', threat_type: 'INJECTION' });
  });

  it('opens a CONNECT through the forward proxy for inspected HTTPS and still scans both directions', async () => {
    const before = { connects: fwd.connects(), requests: fwd.requests(), auths: fwd.authorizations.length };
    const secret = expandExample('sk-ant-api03-{{rand:b64url:93}}AA');
    const body = JSON.stringify({ key: secret.text });
    const r = await viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}/echo?chain_https`, guardianCa, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('ok');
    expect(upstream.received.at(-1)!.toString()).toBe(body);
    expect(fwd.connects()).toBeGreaterThan(before.connects);
    expect(fwd.requests()).toBe(before.requests); // nothing went to it in plain text
    expect(fwd.seen.slice(-1)).toEqual([`localhost:${upstream.httpsPort}`]);
    expect(new Set(fwd.authorizations.slice(before.auths))).toEqual(new Set([FWD_AUTH]));

    const [f] = await g.findings(1, (x) => x.path === '/echo?chain_https');
    expect(f).toMatchObject({ pattern: 'ai_api_key', protocol: 'https', direction: 'outbound' });
    expect(f!.dest).toBe(`localhost:${upstream.httpsPort}`);

    const gz = await viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}/gzip`, guardianCa);
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    const [inj] = await g.findings(1, (x) => x.path === '/gzip' && x.protocol === 'https');
    expect(inj).toMatchObject({ pattern: 'pipe_to_shell', encoding: 'gzip', direction: 'inbound' });
  });

  it('reports the chaining in its status', async () => {
    const st = g.svc.status(null);
    expect(st.upstream_proxy).toBe(true);
    expect(st.counters.upstream_errors).toBe(0);
    expect(st.connect_destinations!.map((d) => d.dest)).toContain(`localhost:${upstream.httpsPort}`);
  });
});

describe('chaining with per-group credentials', () => {
  it('replaces the group credential with the forward proxy’s own, never passing the group token on', async () => {
    const home = tempHome('tg-grp-');
    const registry = GroupRegistry.load(homePaths(home).groupsFile);
    const token = registry.issue('alpha');
    registry.save();
    const grp = await startService(
      {
        https_inspection: true,
        upstream_ca_file: upstreamCaFile,
        upstream_proxy: upstreamProxyUrl(fwd.port),
        proxy_auth: 'groups',
        dedup_window_secs: 0,
      },
      {},
      home,
    );
    try {
      const groupAuth = { 'proxy-authorization': `Basic ${Buffer.from(`alpha:${token}`).toString('base64')}` };
      const before = fwd.authorizations.length;
      const secret = expandExample('npm_{{rand:alnum:36}}');
      const plain = await viaProxyHttp(grp.port, `http://localhost:${upstream.httpPort}/echo?grp_chain`, {
        method: 'POST',
        headers: groupAuth,
        body: `//registry.npmjs.org/:_authToken=${secret.text}\n`,
      });
      expect(plain.status).toBe(200);
      const inspected = await viaProxyHttps(
        grp.port,
        `https://localhost:${upstream.httpsPort}/plain`,
        grp.svc.ca!.certPem,
        {
          connectHeaders: groupAuth,
        },
      );
      expect(inspected.status).toBe(200);
      expect(inspected.body.toString()).toBe(INJECTION_TEXT);
      const seen = fwd.authorizations.slice(before);
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(new Set(seen)).toEqual(new Set([FWD_AUTH]));
      const fs = await grp.findings(2, (f) => f.path === '/echo?grp_chain' || f.path === '/plain');
      expect(new Set(fs.map((f) => `${f.pattern}/${f.protocol}/${f.group}`))).toEqual(
        new Set(['npm_token/http/alpha', 'pipe_to_shell/https/alpha']),
      );
      // And without the group credential the chain is never reached.
      const requestsBefore = fwd.requests();
      const denied = await viaProxyHttp(grp.port, `http://localhost:${upstream.httpPort}/plain`);
      expect(denied.status).toBe(407);
      expect(fwd.requests()).toBe(requestsBefore);
    } finally {
      await grp.stop();
    }
  });
});

describe('chaining a blind tunnel (inspection off)', () => {
  let blind: TestService;

  beforeAll(async () => {
    blind = await startService({ upstream_proxy: upstreamProxyUrl(fwd.port), dedup_window_secs: 0 });
  });

  afterAll(async () => {
    await blind?.stop();
  });

  it('carries a blind CONNECT through the forward proxy end to end', async () => {
    const before = { connects: fwd.connects(), auths: fwd.authorizations.length };
    const r = await viaBlindTunnel(blind.port, `https://localhost:${upstream.httpsPort}/plain`, upstreamCaPem);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(INJECTION_TEXT);
    expect(fwd.connects()).toBe(before.connects + 1);
    expect(fwd.seen.at(-1)).toBe(`localhost:${upstream.httpsPort}`);
    expect(fwd.authorizations.slice(before.auths)).toEqual([FWD_AUTH]);
    const st = blind.svc.status(null);
    expect(st.counters.tunnels).toBe(1);
    expect(st.connect_destinations).toEqual([
      expect.objectContaining({ dest: `localhost:${upstream.httpsPort}`, inspected: false }),
    ]);
    // Blind: the bytes are not seen, so the injection in the body makes no finding.
    await blind.svc.store.flush();
    expect(blind.svc.store.recent(50)).toEqual([]);
  });

  it('answers 502 to a blind CONNECT the forward proxy refuses', async () => {
    const wrong = await startService({ upstream_proxy: `http://guardian:wrong@127.0.0.1:${fwd.port}` });
    try {
      const refusedBefore = fwd.refused();
      const err = await connectTunnel(wrong.port, `localhost:${upstream.httpsPort}`).then(
        () => null,
        (e: Error & { status?: number }) => e,
      );
      expect(err?.status).toBe(502);
      expect(fwd.refused()).toBe(refusedBefore + 1);
      expect(wrong.svc.counters.upstream_errors).toBe(1);
    } finally {
      await wrong.stop();
    }
  });
});

describe('a misconfigured chain fails closed and says so', () => {
  it('answers 502, not the upstream proxy’s 407, when it refuses the guardian’s credentials', async () => {
    const wrong = await startService({
      https_inspection: true,
      upstream_ca_file: upstreamCaFile,
      upstream_proxy: `http://${FWD_USER}:wrong@127.0.0.1:${fwd.port}`,
    });
    try {
      const refusedBefore = fwd.refused();
      const plain = await viaProxyHttp(wrong.port, `http://localhost:${upstream.httpPort}/plain`);
      expect(plain.status).toBe(502);
      expect(plain.headers['proxy-authenticate']).toBeUndefined();
      expect(plain.body.toString()).toMatch(/failed: EPROXY/);
      const inspected = await viaProxyHttps(
        wrong.port,
        `https://localhost:${upstream.httpsPort}/plain`,
        wrong.svc.ca!.certPem,
      );
      expect(inspected.status).toBe(502);
      expect(inspected.body.toString()).toMatch(/failed: EPROXY/);
      expect(fwd.refused()).toBe(refusedBefore + 2);
      expect(wrong.svc.counters.upstream_errors).toBe(2);
    } finally {
      await wrong.stop();
    }
  });

  it('still verifies the destination’s TLS certificate through the tunnel', async () => {
    // No upstream_ca_file: the test upstream's CA is unknown, so the guardian must refuse it.
    const strict = await startService({ https_inspection: true, upstream_proxy: upstreamProxyUrl(fwd.port) });
    try {
      const connectsBefore = fwd.connects();
      const r = await viaProxyHttps(
        strict.port,
        `https://localhost:${upstream.httpsPort}/plain`,
        strict.svc.ca!.certPem,
      );
      expect(r.status).toBe(502);
      expect(r.body.toString()).toMatch(/UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
      expect(r.body.toString()).not.toContain(INJECTION_TEXT);
      expect(fwd.connects()).toBeGreaterThan(connectsBefore); // it did go through the chain
    } finally {
      await strict.stop();
    }
  });

  it('refuses to start with an https:// upstream proxy rather than talk to it in clear text', async () => {
    const home = tempHome();
    try {
      const err = await startService({ upstream_proxy: `https://user:pw@127.0.0.1:${fwd.port}` }, {}, home).then(
        async (s) => {
          await s.stop();
          return null;
        },
        (e: Error) => e,
      );
      // Refused by the config schema (naming the key) before the service's own guard is reached.
      expect(err?.message).toMatch(/only http:\/\/ proxies are supported|must be an http:\/\/ proxy URL/);
      const r = parseConfig({ upstream_proxy: 'https://127.0.0.1:1' });
      expect(r.ok ? [] : r.errors.map((e) => e.path)).toEqual(['upstream_proxy']);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('when the forward proxy is down', () => {
  it('answers 502 to plain, inspected and blind requests, and serves again once it is back', async () => {
    const blind = await startService({ upstream_proxy: upstreamProxyUrl(fwd.port) });
    try {
      await fwd.close();
      const errorsBefore = g.svc.counters.upstream_errors;

      const plain = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/plain`);
      expect(plain.status).toBe(502);
      expect(plain.body.toString()).toMatch(/upstream .* failed: ECONNREFUSED/);

      const inspected = await viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}/plain`, guardianCa);
      expect(inspected.status).toBe(502);
      expect(inspected.body.toString()).toMatch(/ECONNREFUSED/);
      expect(g.svc.counters.upstream_errors).toBeGreaterThanOrEqual(errorsBefore + 2);

      const err = await connectTunnel(blind.port, `localhost:${upstream.httpsPort}`).then(
        () => null,
        (e: Error & { status?: number }) => e,
      );
      expect(err?.status).toBe(502);

      await fwd.restart();
      const requestsBefore = fwd.requests();
      const again = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/plain`);
      expect(again.status).toBe(200);
      expect(again.body.toString()).toBe(INJECTION_TEXT);
      expect(fwd.requests()).toBe(requestsBefore + 1);

      const secret = expandExample('ghp_{{rand:alnum:36}}');
      const https2 = await viaProxyHttps(
        g.port,
        `https://localhost:${upstream.httpsPort}/echo?after_restart`,
        guardianCa,
        {
          method: 'POST',
          body: `token=${secret.text}`,
        },
      );
      expect(https2.status).toBe(200);
      await g.findings(1, (x) => x.path === '/echo?after_restart' && x.protocol === 'https');

      const tunnelled = await viaBlindTunnel(
        blind.port,
        `https://localhost:${upstream.httpsPort}/plain`,
        upstreamCaPem,
      );
      expect(tunnelled.status).toBe(200);
      await waitFor(
        () => blind.svc.status(null).counters.tunnels,
        (n) => n === 2,
        'two tunnels counted',
      );
    } finally {
      await blind.stop();
    }
  });
});
