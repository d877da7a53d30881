// Load: 500 concurrent keep-alive client connections through the guardian at once (plain GETs of
// plain and gzip bodies, POSTs carrying planted secrets, HTTPS through inspected CONNECT tunnels),
// held together by a gated upstream so they really are concurrent, then a second round on the same
// pooled connections. Every response must match a direct fetch byte for byte, every planted secret
// must be found exactly once (by its fingerprint, rule and path), and afterwards the service must be
// healthy and let go of every client socket. LOAD_CONNS lowers the count on a machine whose
// descriptor limit is too small (each connection costs four descriptors here: client, proxy side,
// proxy-to-upstream, upstream side, all in this one process).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import https from 'node:https';
import { readFileSync, rmSync } from 'node:fs';
import { loadOrCreateCa, type CertificateAuthority } from '../host-services/ca.js';
import { homePaths } from '../host-services/home.js';
import { fingerprint } from '../lib/redact.js';
import { startService, tempHome, type TestService } from './support/service.js';
import { startGatedUpstream, type GatedUpstream } from './support/gated-upstream.js';
import { viaProxyHttp, waitFor, type Resp } from './support/proxy-client.js';
import { TunnelAgent } from './support/tunnel-agent.js';
import { expandExample } from './support/expand-example.js';
import { leakedRuns } from './support/leak-check.js';
import { INJECTION_TEXT } from './support/upstream.js';

const N = Number(process.env.LOAD_CONNS ?? 500);
const upHome = tempHome('tg-lup-');
let upCa: CertificateAuthority;
let up: GatedUpstream;
let g: TestService;
const openSockets = () => (g.svc.proxy as unknown as { sockets: Set<unknown> }).sockets.size;

beforeAll(async () => {
  upCa = loadOrCreateCa(homePaths(upHome), { create: true })!;
  up = await startGatedUpstream(upCa.certFor('localhost'));
  g = await startService({ https_inspection: true, upstream_ca_file: upCa.certPath, dedup_window_secs: 0 });
});
afterAll(async () => {
  await g?.stop();
  await up?.close();
  rmSync(upHome, { recursive: true, force: true });
});

/** A GET straight to the upstream (no proxy), body raw: the reference every proxied answer must equal. */
function direct(path: string, secure = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const get = secure ? https.get : http.get;
    const req = get(
      {
        host: '127.0.0.1',
        port: secure ? up.httpsPort : up.httpPort,
        path,
        servername: 'localhost',
        ca: [upCa.certPem],
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
}

/** One HTTPS request on the tunnel agent's pooled (keep-alive, inspected) connections. */
function viaTunnel(agent: TunnelAgent, path: string, o: { method?: string; body?: string } = {}): Promise<Resp> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: 'localhost', port: up.httpsPort, path, method: o.method ?? 'GET', agent },
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
    req.end(o.body);
  });
}

interface Planted {
  path: string;
  protocol: 'http' | 'https';
  body: string;
  secret: string;
  randomParts: string[];
}

describe('load', () => {
  it(`serves ${N} concurrent keep-alive connections with mixed traffic, twice, and finds every planted secret once`, async () => {
    const reference = {
      plain: await direct('/plain'),
      gzip: await direct('/gzip'),
      securePlain: await direct('/plain', true),
    };
    expect(reference.plain.toString()).toBe(INJECTION_TEXT);
    expect(reference.securePlain.equals(reference.plain)).toBe(true);

    const agent = new http.Agent({ keepAlive: true, maxSockets: N, maxFreeSockets: N });
    const tunnels = new TunnelAgent(g.port, g.svc.ca!.certPem, { maxSockets: N, maxFreeSockets: N });
    let accepted = 0;
    const onConnection = () => accepted++;
    g.svc.proxy.httpServer!.on('connection', onConnection);
    const planted: Planted[] = [];
    const failures: string[] = [];

    /** Job i of a round: which request it makes and what its answer must be. */
    const job = async (round: number, i: number): Promise<void> => {
      const tag = `${round}-${i}`;
      const secure = i % 10 === 0; // one in ten goes through an inspected CONNECT tunnel
      let r: Resp;
      let want: Buffer;
      if (i % 20 === 1 || i % 40 === 0) {
        // A distinct secret in a JSON body (i % 40 === 0 ones travel inside a tunnel).
        const { text: secret, randomParts } = expandExample('ghp_{{rand:alnum:36}}');
        const path = `/echo?load=${tag}`;
        const body = JSON.stringify({ note: `load ${tag}`, token: secret });
        planted.push({ path, protocol: secure ? 'https' : 'http', body, secret, randomParts });
        r = secure
          ? await viaTunnel(tunnels, path, { method: 'POST', body })
          : await viaProxyHttp(g.port, `http://localhost:${up.httpPort}${path}`, {
              method: 'POST',
              body,
              headers: { 'content-type': 'application/json' },
              agent,
            });
        want = Buffer.from('ok');
      } else if (secure) {
        r = await viaTunnel(tunnels, `/plain?load=${tag}`);
        want = reference.securePlain;
      } else {
        const route = i % 2 ? 'plain' : 'gzip';
        r = await viaProxyHttp(g.port, `http://localhost:${up.httpPort}/${route}?load=${tag}`, { agent });
        want = reference[route];
      }
      if (r.status !== 200 || !r.body.equals(want)) failures.push(`${tag}: ${r.status} ${r.body.length} bytes`);
    };

    const errors: string[] = [];
    const acceptedPerRound: number[] = [];
    for (const round of [1, 2]) {
      const before = accepted;
      // The gate holds every request at the upstream until all N are in flight together.
      const gate = up.arm(N, 20_000);
      let peakSockets = 0;
      const runs = Array.from({ length: N }, (_, i) =>
        job(round, i).catch(
          (e: Error & { code?: string }) => void errors.push(`${round}-${i}: ${e.code ?? e.message}`),
        ),
      );
      const opened = await gate;
      peakSockets = openSockets();
      await Promise.all(runs);
      acceptedPerRound.push(accepted - before);
      console.log(
        `load round ${round}: ${opened.together} requests in flight together, ${peakSockets} proxy sockets open, ` +
          `${accepted - before} new client connections`,
      );
      if (errors.some((e) => e.includes('EMFILE') || e.includes('ENFILE'))) {
        const limits = readFileSync('/proc/self/limits', 'utf8').match(/Max open files.*/)?.[0];
        throw new Error(`out of file descriptors at ${N} connections (${limits}); lower LOAD_CONNS`);
      }
      expect(errors).toEqual([]);
      expect(failures).toEqual([]);
      expect(opened.timedOut).toBe(false);
      expect(opened.together).toBe(N);
      expect(peakSockets).toBeGreaterThanOrEqual(N);
    }
    g.svc.proxy.httpServer!.off('connection', onConnection);
    // Round 1 opened a connection per request; round 2 ran on the pooled keep-alive connections.
    expect(acceptedPerRound[0]).toBeGreaterThanOrEqual(N);
    expect(acceptedPerRound[1]).toBeLessThan(N / 10);

    // The upstream got every planted body intact.
    const got = new Set(up.received.map((b) => b.toString()));
    for (const p of planted) expect(got.has(p.body), p.path).toBe(true);

    // Every planted secret is in the findings log exactly once, under its own path, and nothing leaked.
    await g.svc.store.flush();
    const found = await g.svc.store.query({ limit: 500, pattern: 'github_token' });
    const salt = readFileSync(homePaths(g.home).salt);
    expect(found.length).toBe(planted.length);
    for (const p of planted) {
      const fp = fingerprint(salt, p.secret);
      const mine = found.filter((f) => f.fingerprint === fp);
      expect(mine.length, p.path).toBe(1);
      expect(mine[0]).toMatchObject({
        pattern: 'github_token',
        direction: 'outbound',
        threat_type: 'EXFIL',
        method: 'POST',
        path: '/echo?load=…', // query values never reach the log
        protocol: p.protocol,
      });
      expect(mine[0]!.dest).toBe(`localhost:${p.protocol === 'https' ? up.httpsPort : up.httpPort}`);
    }
    expect(
      leakedRuns(
        found,
        planted.flatMap((p) => p.randomParts),
      ),
    ).toEqual([]);
    expect(g.svc.counters.dropped_writes).toBe(0);

    // Healthy afterwards: running, a fresh request works, and the client sockets drain once closed.
    expect(g.svc.status(null).state).toBe('running');
    const fresh = await viaProxyHttp(g.port, `http://localhost:${up.httpPort}/plain`);
    expect(fresh.status).toBe(200);
    expect(fresh.body.equals(reference.plain)).toBe(true);
    agent.destroy();
    tunnels.destroy();
    await waitFor(openSockets, (n) => n === 0, 'proxy client sockets to drain', 20_000);
  }, 90_000);
});
