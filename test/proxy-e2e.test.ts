// End to end: a real client, the real guardian and a real local upstream over HTTP and HTTPS.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { FindingSchema } from '../lib/finding-schema.js';
import type { Upstream } from './support/upstream.js';
import { startTlsUpstream, type TlsUpstream } from './support/tls-upstream.js';
import { viaProxyHttp, viaProxyHttps, connectTunnel, waitFor } from './support/proxy-client.js';
import { startService, type TestService } from './support/service.js';
import { expandExample } from './support/expand-example.js';
import { leakedRuns } from './support/leak-check.js';

let tlsUp: TlsUpstream;
let upstream: Upstream;
let upstreamCaFile: string;
let g: TestService;
let guardianCa: string;

const leaks = leakedRuns;

beforeAll(async () => {
  tlsUp = await startTlsUpstream();
  upstream = tlsUp.upstream;
  upstreamCaFile = tlsUp.caFile;
  g = await startService({ https_inspection: true, upstream_ca_file: upstreamCaFile, dedup_window_secs: 0 });
  guardianCa = g.svc.ca!.certPem;
});

afterAll(async () => {
  await g?.stop();
  await tlsUp?.close();
});

describe('plain HTTP through the guardian', () => {
  it('finds a secret in an outbound header, query and body: one redacted finding each', async () => {
    const base = `http://localhost:${upstream.httpPort}`;
    const inHeader = expandExample('ghp_{{rand:alnum:36}}');
    const inQuery = expandExample('sk-ant-api03-{{rand:b64url:93}}AA');
    const inBody = expandExample('AKIA{{rand:b32:16}}');
    const path = `/echo?tag=h1&key=${inQuery.text}`;
    const body = JSON.stringify({ note: `aws id ${inBody.text} here` });
    const r = await viaProxyHttp(g.port, `${base}${path}`, {
      method: 'POST',
      headers: { 'x-debug-token': inHeader.text, 'content-type': 'application/json' },
      body,
    });
    expect(r.status).toBe(200);
    expect(upstream.received.at(-1)!.toString()).toBe(body); // forwarded unchanged
    const fs = await g.findings(3, (f) => f.path?.startsWith('/echo?tag=') ?? false);
    const byPattern = new Map(fs.map((f) => [f.pattern, f]));
    expect([...byPattern.keys()].sort()).toEqual(['ai_api_key', 'aws_access_key', 'github_token']);
    for (const f of fs) {
      expect(FindingSchema.parse(f)).toBeTruthy();
      expect(f.direction).toBe('outbound');
      expect(f.protocol).toBe('http');
      expect(f.dest).toBe(`localhost:${upstream.httpPort}`);
      expect(f.method).toBe('POST');
    }
    expect(byPattern.get('github_token')!.location).toBe('headers');
    expect(byPattern.get('aws_access_key')!.location).toBe('body');
    expect(fs.filter((f) => f.pattern === 'ai_api_key')).toHaveLength(1);
    expect(leaks(fs, [...inHeader.randomParts, ...inQuery.randomParts, ...inBody.randomParts])).toEqual([]);
  });

  for (const route of ['plain', 'gzip', 'br', 'chunked']) {
    it(`finds an injection in an inbound ${route} body and passes the bytes unchanged`, async () => {
      const url = `http://localhost:${upstream.httpPort}/${route}`;
      const direct = await new Promise<Buffer>((resolve, reject) => {
        http
          .get(url, (res) => {
            const c: Buffer[] = [];
            res.on('data', (d: Buffer) => c.push(d));
            res.on('end', () => resolve(Buffer.concat(c)));
          })
          .on('error', reject);
      });
      const r = await viaProxyHttp(g.port, url);
      expect(r.status).toBe(200);
      expect(r.body.equals(direct)).toBe(true);
      const fs = await g.findings(1, (f) => f.path === `/${route}` && f.direction === 'inbound');
      expect(fs).toHaveLength(1);
      expect(fs[0]!.pattern).toBe('pipe_to_shell');
      expect(fs[0]!.threat_type).toBe('INJECTION');
      expect(fs[0]!.untrusted).toBe(true);
      if (route === 'gzip' || route === 'br') expect(fs[0]!.encoding).toBe(route);
    });
  }

  it('scans every request on a keep-alive connection from its first byte', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const secrets = Array.from({ length: 10 }, () => expandExample('glpat-{{rand:b64url:20}}'));
    for (let i = 0; i < secrets.length; i++) {
      const r = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/echo?ka=${i}`, {
        method: 'POST',
        body: `token=${secrets[i]!.text}`,
        agent,
      });
      expect(r.status).toBe(200);
    }
    agent.destroy();
    const fs = await g.findings(10, (f) => f.pattern === 'gitlab_token' && (f.path ?? '').startsWith('/echo?ka='));
    expect(fs).toHaveLength(10);
  });

  it('streams SSE event by event while the upstream is still sending', async () => {
    const seen: string[] = [];
    const done = viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/sse?n=3`, {
      onChunk: (c) => seen.push(c.toString()),
    });
    await waitFor(
      () => seen.join(''),
      (s) => s.includes('event 0'),
      'first event',
    );
    expect(seen.join('')).not.toContain('event 1'); // the upstream has not sent it yet
    upstream.sseNext();
    await waitFor(
      () => seen.join(''),
      (s) => s.includes('event 1'),
      'second event',
    );
    upstream.sseNext();
    const r = await done;
    expect(r.body.toString()).toContain('event 2');
  });

  it('answers 502 when the upstream refuses, and keeps serving', async () => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as net.AddressInfo).port;
    srv.close();
    const r = await viaProxyHttp(g.port, `http://127.0.0.1:${port}/x`);
    expect(r.status).toBe(502);
    expect(r.body.toString()).toMatch(/ECONNREFUSED/);
    const ok = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/plain`);
    expect(ok.status).toBe(200);
  });

  it('closes the client cleanly when the upstream resets mid-body, and keeps serving', async () => {
    await expect(viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/reset`)).rejects.toThrow();
    const ok = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/plain`);
    expect(ok.status).toBe(200);
    expect(g.svc.counters.upstream_errors).toBeGreaterThan(0);
  });

  it('answers malformed request lines with 400 and oversized headers with 431', async () => {
    const raw = async (data: string) => {
      const s = net.connect(g.port, '127.0.0.1');
      s.write(data);
      const c: Buffer[] = [];
      s.on('data', (d: Buffer) => c.push(d));
      await once(s, 'close');
      return Buffer.concat(c).toString();
    };
    expect(await raw('GARBAGE\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(`GET http://localhost/ HTTP/1.1\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`)).toMatch(
      /^HTTP\/1\.1 431/,
    );
    const ok = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/plain`);
    expect(ok.status).toBe(200);
  });

  it('survives a client that aborts mid-upload and leaks no connection', async () => {
    const before = upstream.received.length;
    const s = net.connect(g.port, '127.0.0.1');
    await once(s, 'connect');
    s.write(
      `POST http://localhost:${upstream.httpPort}/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n`,
    );
    s.write('x'.repeat(5000));
    await new Promise((r) => setTimeout(r, 50));
    s.destroy();
    const ok = await viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}/plain`);
    expect(ok.status).toBe(200);
    expect(upstream.received.length).toBe(before); // the cut upload never completed upstream
    const sockets = (g.svc.proxy as unknown as { sockets: Set<unknown> }).sockets;
    await waitFor(
      () => sockets.size,
      (n) => n === 0,
      'proxy sockets to close',
    );
  });
});

describe('HTTPS through the guardian', () => {
  it('inspects both directions with certificates from the guardian CA', async () => {
    const secret = expandExample('sk_live_{{rand:alnum:32}}');
    const url = `https://localhost:${upstream.httpsPort}/echo?tls=1`;
    const r = await viaProxyHttps(g.port, url, guardianCa, { method: 'POST', body: `stripe=${secret.text}` });
    expect(r.status).toBe(200);
    const out = await g.findings(1, (f) => f.pattern === 'stripe_key');
    expect(out[0]!.protocol).toBe('https');
    expect(out[0]!.dest).toBe(`localhost:${upstream.httpsPort}`);
    expect(leaks(out, secret.randomParts)).toEqual([]);

    const inj = await viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}/gzip`, guardianCa);
    expect(inj.status).toBe(200);
    const fs = await g.findings(1, (f) => f.protocol === 'https' && f.pattern === 'pipe_to_shell');
    expect(fs[0]!.direction).toBe('inbound');
    expect(fs[0]!.encoding).toBe('gzip');
  });

  it('answers 502 and logs when the upstream certificate is not trusted', async () => {
    const strict = await startService({ https_inspection: true }); // no upstream_ca_file
    try {
      const r = await viaProxyHttps(
        strict.port,
        `https://localhost:${upstream.httpsPort}/plain`,
        strict.svc.ca!.certPem,
      );
      expect(r.status).toBe(502);
      expect(strict.logs.join('\n')).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|unable to (verify|get)/i);
    } finally {
      await strict.stop();
    }
  });

  it('answers TLS garbage after CONNECT by closing that connection only', async () => {
    const sock = await connectTunnel(g.port, `localhost:${upstream.httpsPort}`);
    // A complete TLS record whose ClientHello body is nonsense: the server must reject it at once.
    sock.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]));
    sock.on('error', () => undefined);
    sock.resume(); // read the TLS alert, so the close can arrive
    await once(sock, 'close');
    const ok = await viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}/plain`, guardianCa);
    expect(ok.status).toBe(200);
  });
});

describe('blind tunnel mode', () => {
  it('records the CONNECT destination and inspects nothing', async () => {
    const blind = await startService({
      https_inspection: false,
      upstream_ca_file: upstreamCaFile,
      dedup_window_secs: 0,
    });
    try {
      const secret = expandExample('npm_{{rand:alnum:36}}');
      // The client trusts the upstream's own CA: the guardian is not in the TLS path.
      const upPem = (await import('node:fs')).readFileSync(upstreamCaFile, 'utf8');
      const r = await viaProxyHttps(blind.port, `https://localhost:${upstream.httpsPort}/echo`, upPem, {
        method: 'POST',
        body: `npm=${secret.text}`,
      });
      expect(r.status).toBe(200);
      const st = blind.svc.status(null);
      expect(st.https_inspection).toBe(false);
      expect(st.counters.tunnels).toBe(1);
      expect(st.connect_destinations?.[0]).toMatchObject({ dest: `localhost:${upstream.httpsPort}`, inspected: false });
      await blind.svc.store.flush();
      expect(blind.svc.store.recent(10)).toEqual([]);
    } finally {
      await blind.stop();
    }
  });
});
