// The self-check of `get_status`, as an agent in a container meets it: the real MCP bundle, started
// with the environment a container would give it (proxy variables with the group credential, the
// guardian CA in NODE_EXTRA_CA_CERTS / SSL_CERT_FILE), probing real running guardians. Asserts the text
// an agent reads: the verdict (watched, partly, not watched), its reason, and no credential anywhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { loadOrCreateCa } from '../host-services/ca.js';
import { GroupRegistry } from '../host-services/group-registry.js';
import { groupSocketPath, homePaths } from '../host-services/home.js';
import { isProbeHost, probeResponse, PROBE_HOST } from '../host-services/proxy/self-probe.js';
import { StatusResultSchema } from '../lib/ipc-protocol.js';
import { parseProxy, readProxyEnv } from '../mcp-tools/proxy-env.js';
import { ProbeAnswerSchema } from '../lib/probe.js';
import { startForwardProxy, type ForwardProxy } from './support/forward-proxy.js';
import { startService, tempHome, type TestService } from './support/service.js';

const BUNDLE = path.resolve('dist/mcp-tools/traffic-guardian-mcp.mjs');

let on: TestService; // inspection on, per-group credentials
let off: TestService; // inspection off, no credentials
let otherCaHome: string;
let otherCa: string;
let token: string;
let deadPort: number;
let otherProxy: ForwardProxy;

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function proxyEnv(url: string): Record<string, string> {
  return { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url, NO_PROXY: 'localhost,127.0.0.1' };
}

/** get_status through the real bundle, started with exactly `env` (plus the SDK's PATH/HOME defaults). */
async function statusWith(
  socket: string,
  env: Record<string, string>,
): Promise<{ text: string; isError: boolean; structured: unknown }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BUNDLE, '--socket', socket],
    env,
    stderr: 'ignore',
  });
  const client = new Client({ name: 'self-check-test', version: '0.0.0' });
  await client.connect(transport);
  try {
    const r = (await client.callTool({ name: 'get_status', arguments: {} })) as {
      isError?: boolean;
      content: { type: string; text: string }[];
      structuredContent?: unknown;
    };
    return {
      text: r.content.map((c) => c.text).join('\n'),
      isError: r.isError === true,
      structured: r.structuredContent,
    };
  } finally {
    await client.close();
  }
}

function selfCheckOf(text: string): string {
  return text
    .split('\n')
    .filter((l) => l.startsWith('Self-check:') || l.startsWith('  '))
    .join('\n');
}

beforeAll(async () => {
  const home = tempHome('tg-sc-');
  const registry = GroupRegistry.load(homePaths(home).groupsFile);
  token = registry.issue('alpha');
  registry.issue('beta');
  registry.save();
  on = await startService({ https_inspection: true, proxy_auth: 'groups' }, {}, home);
  off = await startService({ https_inspection: false });
  otherCaHome = tempHome('tg-oca-');
  otherCa = loadOrCreateCa(homePaths(otherCaHome), { create: true })!.certPath;
  deadPort = await freePort();
  otherProxy = await startForwardProxy();
});

afterAll(async () => {
  await on?.stop();
  await off?.stop();
  await otherProxy?.close();
  if (otherCaHome) rmSync(otherCaHome, { recursive: true, force: true });
});

const alphaSocket = () => groupSocketPath(homePaths(on.home), 'alpha');
const alphaUrl = () => `http://alpha:${encodeURIComponent(token)}@127.0.0.1:${on.port}`;

describe('watched', () => {
  it('says WATCHED when HTTP and HTTPS reach the guardian and its CA is trusted, shows no credential, and moves no counter', async () => {
    const before = on.svc.status(null).counters;
    const ca = on.svc.ca!.certPath;
    const r = await statusWith(alphaSocket(), {
      ...proxyEnv(alphaUrl()),
      NODE_EXTRA_CA_CERTS: ca,
      SSL_CERT_FILE: ca,
    });
    expect(r.isError).toBe(false);
    const sc = selfCheckOf(r.text);
    expect(sc).toMatch(
      /^Self-check: WATCHED\. This container's HTTP and HTTPS traffic passes the traffic guardian \(group alpha\), and HTTPS is inspected\.$/m,
    );
    expect(sc).toMatch(/HTTP: http_proxy=http:\/\/\[credentials\]@127\.0\.0\.1:\d+: answered by the guardian/);
    expect(sc).toMatch(/HTTPS: https_proxy=.*HTTPS inspection on; Node .* trusts the guardian's certificate/);
    expect(sc).toMatch(/SSL_CERT_FILE \(curl, Python, git\) trusts the guardian's certificate/);
    expect(sc).toContain(`NODE_EXTRA_CA_CERTS=${ca}`);
    expect(sc).not.toMatch(/Not watched:/);
    // A group sees its own findings, not guardian-wide traffic counters (which read as zero for it).
    expect(r.text).toMatch(/^Traffic counters: kept for the whole guardian, not shown to a group/m);
    expect(r.text).not.toMatch(/^Counters: 0 requests/m);
    // The credential is used, never shown: not the token, not its URL-encoded form, not the Basic header.
    for (const secret of [token, encodeURIComponent(token), Buffer.from(`alpha:${token}`).toString('base64')]) {
      expect(r.text).not.toContain(secret);
    }
    // Structured content is the guardian's status, unchanged.
    expect(StatusResultSchema.parse(r.structured).group).toBe('alpha');
    // The probes were answered by the guardian itself: no request, CONNECT, tunnel or finding counted.
    const after = on.svc.status(null);
    expect(after.counters).toEqual(before);
    expect(JSON.stringify(after.connect_destinations ?? [])).not.toContain(PROBE_HOST);
    expect(on.logs.join('\n')).not.toContain(PROBE_HOST);
  });

  it('still runs the self-check when the status socket is missing, next to the error', async () => {
    const ca = on.svc.ca!.certPath;
    const r = await statusWith(path.join(on.home, 'no-such.sock'), {
      ...proxyEnv(alphaUrl()),
      NODE_EXTRA_CA_CERTS: ca,
    });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/^traffic-guardian: guardian not running at /);
    expect(r.text).toMatch(/^Self-check: WATCHED\./m);
    expect(r.text).not.toContain(token);
  });
});

describe('partly watched', () => {
  it('inspection on but the CA not trusted: HTTPS fails certificate checks', async () => {
    const r = await statusWith(alphaSocket(), proxyEnv(alphaUrl()));
    const sc = selfCheckOf(r.text);
    expect(sc).toMatch(/^Self-check: PARTLY WATCHED\. Only part of this container's traffic is watched/m);
    expect(sc).toMatch(
      /Not watched: HTTPS: Node \(its default trust, NODE_EXTRA_CA_CERTS unset\) rejects the guardian's certificate \([A-Z_]+\): Node clients in this container fail on HTTPS through the guardian \(set NODE_EXTRA_CA_CERTS/,
    );
    expect(sc).toMatch(/Note: SSL_CERT_FILE is not set/);
  });

  it('SSL_CERT_FILE holding another CA: curl, Python and git fail', async () => {
    const r = await statusWith(alphaSocket(), {
      ...proxyEnv(alphaUrl()),
      NODE_EXTRA_CA_CERTS: on.svc.ca!.certPath,
      SSL_CERT_FILE: otherCa,
    });
    const sc = selfCheckOf(r.text);
    expect(sc).toMatch(/^Self-check: PARTLY WATCHED/m);
    expect(sc).toMatch(/Not watched: HTTPS: SSL_CERT_FILE \(curl, Python, git\) rejects the guardian's certificate/);
    expect(sc).not.toMatch(/Not watched: HTTPS: Node/);
  });

  it('inspection off: HTTPS passes as blind tunnels', async () => {
    const r = await statusWith(off.svc.socketPath, proxyEnv(`http://127.0.0.1:${off.port}`));
    const sc = selfCheckOf(r.text);
    expect(sc).toMatch(/^Self-check: PARTLY WATCHED/m);
    expect(sc).toMatch(/HTTP: http_proxy=http:\/\/127\.0\.0\.1:\d+: answered by the guardian/);
    expect(sc).toMatch(/Not watched: HTTPS: passes the guardian as blind tunnels: HTTPS inspection is off/);
    expect(r.text).toMatch(/^HTTPS inspection: off/m);
  });

  it('only HTTPS_PROXY set, and NO_PROXY exempting a real host: each named', async () => {
    const url = `http://127.0.0.1:${off.port}`;
    const r = await statusWith(off.svc.socketPath, { HTTPS_PROXY: url, NO_PROXY: 'localhost,.example.com' });
    const sc = selfCheckOf(r.text);
    expect(sc).toMatch(/^Self-check: PARTLY WATCHED/m);
    expect(sc).toMatch(/^ {2}HTTP: no http_proxy or HTTP_PROXY is set: HTTP goes direct, unwatched\.$/m);
    expect(sc).toMatch(/Not watched: NO_PROXY sends traffic to \.example\.com around the guardian\./);
  });
});

describe('another group', () => {
  it('proxy credentials of one group, status socket of another: partly, and says why', async () => {
    const ca = on.svc.ca!.certPath;
    const r = await statusWith(groupSocketPath(homePaths(on.home), 'beta'), {
      ...proxyEnv(alphaUrl()),
      NODE_EXTRA_CA_CERTS: ca,
      SSL_CERT_FILE: ca,
    });
    const sc = selfCheckOf(r.text);
    expect(sc).toMatch(/^Self-check: PARTLY WATCHED/m);
    expect(sc).toContain(
      "Not watched: the proxy credentials are group alpha's but this status socket is group beta's: findings of this traffic are not listed here.",
    );
  });
});

describe('not watched', () => {
  it('no proxy variable', async () => {
    const r = await statusWith(off.svc.socketPath, {});
    const sc = selfCheckOf(r.text);
    expect(sc).toMatch(/^Self-check: NOT WATCHED\. This container's traffic does not pass the traffic guardian\.$/m);
    expect(sc).toMatch(/^ {2}HTTP: no http_proxy or HTTP_PROXY is set/m);
    expect(sc).toMatch(/^ {2}HTTPS: no https_proxy or HTTPS_PROXY is set/m);
    expect(sc).not.toMatch(/Not watched:/);
    expect(sc).toMatch(/Variables: no proxy or CA variable is set\./);
  });

  it('a proxy variable pointing at a dead port', async () => {
    const r = await statusWith(off.svc.socketPath, proxyEnv(`http://127.0.0.1:${deadPort}`));
    const sc = selfCheckOf(r.text);
    expect(sc).toMatch(/^Self-check: NOT WATCHED/m);
    expect(sc).toContain(
      `  HTTP: http_proxy=http://127.0.0.1:${deadPort}: nothing answers at 127.0.0.1:${deadPort} (ECONNREFUSED): HTTP requests fail.`,
    );
  });

  it('NO_PROXY=* covering everything', async () => {
    const r = await statusWith(off.svc.socketPath, { ...proxyEnv(`http://127.0.0.1:${off.port}`), NO_PROXY: '*' });
    expect(selfCheckOf(r.text)).toMatch(/^Self-check: NOT WATCHED[^]*NO_PROXY=\* sends every host around the proxy/m);
  });

  it('wrong credentials: 407, and the wrong secret is not shown either', async () => {
    const wrong = 'Wr0ngT0kenXYZ123';
    const r = await statusWith(alphaSocket(), proxyEnv(`http://alpha:${wrong}@127.0.0.1:${on.port}`));
    const sc = selfCheckOf(r.text);
    expect(sc).toMatch(/^Self-check: NOT WATCHED/m);
    expect(sc).toMatch(/asks for credentials http_proxy does not carry or gets wrong \(407\)/);
    expect(r.text).not.toContain(wrong);
  });

  it('another proxy that is not the guardian', async () => {
    const r = await statusWith(off.svc.socketPath, proxyEnv(`http://127.0.0.1:${otherProxy.port}`));
    const sc = selfCheckOf(r.text);
    expect(sc).toMatch(/^Self-check: NOT WATCHED/m);
    expect(sc).toMatch(
      new RegExp(`the proxy at 127\\.0\\.0\\.1:${otherProxy.port} is not the guardian \\(it answered \\d+\\)`),
    );
  });

  it('a value that is not a URL is reported, never echoed', async () => {
    const r = await statusWith(off.svc.socketPath, {
      HTTP_PROXY: 'http://user:s3cr3tpass@[bad',
      https_proxy: 'socks5://127.0.0.1:1080',
    });
    expect(r.text).not.toContain('s3cr3tpass');
    expect(r.text).toMatch(/HTTP_PROXY=\(set, but not a URL\)/);
    expect(r.text).toMatch(/https_proxy is a socks5:\/\/ proxy, not an http:\/\/ one/);
  });
});

describe('bounded', () => {
  it('a proxy that accepts and never answers: the answer still comes, with the timeout as the reason', async () => {
    const held: net.Socket[] = [];
    const silent = net.createServer((c) => held.push(c.on('error', () => undefined))).listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const r = await statusWith(off.svc.socketPath, proxyEnv(`http://127.0.0.1:${port}`));
      const sc = selfCheckOf(r.text);
      expect(sc).toMatch(/^Self-check: NOT WATCHED/m);
      expect(sc).toContain(`nothing answers at 127.0.0.1:${port} (no answer within 2000 ms)`);
      expect(r.isError).toBe(false);
    } finally {
      for (const c of held) c.destroy();
      silent.close();
    }
  });
});

describe('proxy variables (unit)', () => {
  it('uses credentials but shows none, reads host:port without a scheme, and unwraps IPv6', () => {
    const t = parseProxy('HTTP_PROXY', 'grp:t%40ken@proxy.internal:3128');
    expect(t).toEqual({
      ok: true,
      variable: 'HTTP_PROXY',
      host: 'proxy.internal',
      port: 3128,
      authorization: `Basic ${Buffer.from('grp:t@ken').toString('base64')}`,
      shown: 'http://[credentials]@proxy.internal:3128',
    });
    expect(parseProxy('https_proxy', 'http://[::1]:8888/path?token=abc')).toMatchObject({
      ok: true,
      host: '::1',
      port: 8888,
      shown: 'http://[::1]:8888',
    });
    expect(parseProxy('https_proxy', 'https://u:p@h:1')).toMatchObject({
      ok: false,
      shown: 'https://[credentials]@h:1',
    });
  });

  it('prefers the lower-case form, says when the two differ, and flags HTTP_PROXY alone and wide NO_PROXY', () => {
    const p = readProxyEnv({
      HTTP_PROXY: 'http://a:1',
      HTTPS_PROXY: 'http://b:2',
      https_proxy: 'http://c:3',
      NO_PROXY: '127.0.0.1,[::1],*.localhost,corp.example',
    });
    expect(p.http).toMatchObject({ variable: 'HTTP_PROXY', host: 'a' });
    expect(p.https).toMatchObject({ variable: 'https_proxy', host: 'c' });
    expect(p.notes).toEqual(['https_proxy and HTTPS_PROXY differ; most tools (curl, Node, Python) use https_proxy.']);
    expect(p.gaps).toEqual([
      'only HTTP_PROXY is set: curl ignores the upper-case form for http:// URLs, so its plain HTTP goes direct.',
      'NO_PROXY sends traffic to corp.example around the guardian.',
    ]);
  });
});

describe('self-probe module (the guardian side)', () => {
  it('knows the probe host in any case, with a trailing dot, and nothing else', () => {
    for (const h of [PROBE_HOST, 'Traffic-Guardian.INVALID', `${PROBE_HOST}.`]) expect(isProbeHost(h)).toBe(true);
    for (const h of ['traffic-guardian.invalid.evil.test', 'x.traffic-guardian.invalid', 'traffic-guardian', ''])
      expect(isProbeHost(h)).toBe(false);
  });

  it('a CONNECT to the probe host with inspection off is refused 403 "HTTPS inspection is off", not tunnelled', async () => {
    const before = off.svc.status(null).counters;
    const s = net.connect(off.port, '127.0.0.1');
    s.write(`CONNECT ${PROBE_HOST}:443 HTTP/1.1\r\nHost: ${PROBE_HOST}:443\r\n\r\n`);
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString()));
    await once(s, 'end');
    s.destroy();
    expect(answer).toMatch(/^HTTP\/1\.1 403 /);
    expect(answer.endsWith('\r\n\r\nHTTPS inspection is off')).toBe(true);
    expect(off.svc.status(null).counters).toEqual(before);
  });

  it('answers the documented JSON body', () => {
    const r = probeResponse({
      group: 'alpha',
      client: '127.0.0.1',
      protocol: 'https',
      httpsInspection: true,
      version: '1.2.3',
    });
    expect(r.status).toBe(200);
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.body));
    expect(ProbeAnswerSchema.parse(JSON.parse(r.body))).toEqual({
      guardian: 'nanoclaw-traffic-guardian',
      version: '1.2.3',
      group: 'alpha',
      protocol: 'https',
      https_inspection: true,
    });
  });
});
