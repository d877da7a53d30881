// `group_upstreams`: each group's traffic reaches its own upstream proxy (NanoClaw's OneCLI gateway) with
// that group's own agent credential, as the NanoClaw helper recorded it at spawn, over plain HTTP, blind and
// inspected CONNECT; OneCLI's CA from the record is trusted for inspected HTTPS; a group without a record
// goes direct; a new token takes effect at once; the tokens never show in logs or status.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GroupRegistry } from '../host-services/group-registry.js';
import { homePaths, type HomePaths } from '../host-services/home.js';
import { loadOrCreateCa } from '../host-services/ca.js';
import { nanoclawPaths } from '../host-services/nanoclaw/paths.js';
import { startForwardProxy, type ForwardProxy } from './support/forward-proxy.js';
import { startService, tempHome, type TestService } from './support/service.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { connectTunnel, viaProxyHttp, viaProxyHttps } from './support/proxy-client.js';

let upstream: Upstream;
let upCaHome: string;
let upCaPem: string;
let onecli: ForwardProxy;
let g: TestService;
let paths: HomePaths;
const creds: Record<string, string> = {};
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

function record(group: string, token: string): void {
  const dir = nanoclawPaths(paths).upstreams;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const rec = { version: 1, group, proxy_url: `http://x:${token}@127.0.0.1:${onecli.port}/`, ca_pem: upCaPem };
  // Written the way the helper writes it: a new file renamed over the old one.
  writeFileSync(path.join(dir, `${group}.json.tmp`), JSON.stringify(rec), { mode: 0o600 });
  rmSync(path.join(dir, `${group}.json`), { force: true });
  writeFileSync(path.join(dir, `${group}.json`), JSON.stringify(rec), { mode: 0o600 });
}

beforeAll(async () => {
  upCaHome = tempHome('tg-up-');
  const upCa = loadOrCreateCa(homePaths(upCaHome), { create: true })!;
  upCaPem = upCa.certPem;
  upstream = await startUpstream(upCa.certFor('localhost'));
  onecli = await startForwardProxy();
  const home = tempHome('tg-gu-');
  paths = homePaths(home);
  const registry = GroupRegistry.load(paths.groupsFile);
  for (const grp of ['alpha', 'beta', 'gamma']) creds[grp] = basic(grp, registry.issue(grp));
  registry.save();
  record('alpha', 'aoc_alpha_token_1');
  record('beta', 'aoc_beta_token_1');
  // No upstream_ca_file: OneCLI's CA (here the upstream's) is trusted only through the group's record.
  g = await startService(
    { https_inspection: true, proxy_auth: 'groups', group_upstreams: true, dedup_window_secs: 0 },
    {},
    home,
  );
});

afterAll(async () => {
  await g?.stop();
  await onecli?.close();
  await upstream?.close();
  rmSync(upCaHome, { recursive: true, force: true });
});

describe('group_upstreams: each group chained to its own OneCLI gateway', () => {
  it('plain HTTP reaches the gateway with the sending group’s own credential', async () => {
    for (const [grp, tok] of [
      ['alpha', 'aoc_alpha_token_1'],
      ['beta', 'aoc_beta_token_1'],
      ['alpha', 'aoc_alpha_token_1'],
    ] as const) {
      const before = onecli.authorizations.length;
      const r = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/plain`, {
        headers: { 'proxy-authorization': creds[grp]! },
      });
      expect(r.status).toBe(200);
      expect(onecli.authorizations.slice(before)).toEqual([basic('x', tok)]);
    }
  });

  it('inspected HTTPS goes through a CONNECT with the group’s credential and trusts the CA it recorded', async () => {
    const before = onecli.authorizations.length;
    const r = await viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}/plain`, g.svc.ca!.certPem, {
      connectHeaders: { 'proxy-authorization': creds.beta! },
    });
    expect(r.status).toBe(200);
    expect(onecli.authorizations.slice(before)).toContain(basic('x', 'aoc_beta_token_1'));
    expect(onecli.authorizations.slice(before)).not.toContain(basic('x', 'aoc_alpha_token_1'));
  });

  it('a group without a record goes direct', async () => {
    const before = onecli.authorizations.length;
    const r = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/plain`, {
      headers: { 'proxy-authorization': creds.gamma! },
    });
    expect(r.status).toBe(200);
    const s = await connectTunnel(g.port, `localhost:${upstream.httpPort}`, { 'proxy-authorization': creds.gamma! });
    s.destroy();
    expect(onecli.authorizations.length).toBe(before);
  });

  it('a token recorded at a later spawn takes effect at once, never reusing a connection of the old one', async () => {
    record('alpha', 'aoc_alpha_token_2');
    const before = onecli.authorizations.length;
    const r = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/plain`, {
      headers: { 'proxy-authorization': creds.alpha! },
    });
    expect(r.status).toBe(200);
    expect(onecli.authorizations.slice(before)).toEqual([basic('x', 'aoc_alpha_token_2')]);
  });

  it('never writes a gateway token to the log or the status', async () => {
    const status = JSON.stringify(await g.svc.status(null));
    for (const t of ['aoc_alpha_token_1', 'aoc_alpha_token_2', 'aoc_beta_token_1']) {
      expect(g.logs.join('\n')).not.toContain(t);
      expect(status).not.toContain(t);
    }
  });
});
