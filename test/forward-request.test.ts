// The guardian's own HTTP/1.1 client (forward-request.ts, upstream-pool.ts) against a raw keep-alive
// upstream that records exactly what arrives on the wire: connection reuse, hop-by-hop headers, request
// and response framing, interim answers, and the one retry it allows itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import http from 'node:http';
import { once } from 'node:events';
import { startService, type TestService } from './support/service.js';
import { viaProxyHttp, waitFor } from './support/proxy-client.js';
import { expandExample } from './support/expand-example.js';

interface Received {
  head: string;
  body: Buffer;
  /** 1-based connection number and request number on that connection. */
  conn: number;
  nth: number;
}

interface KeepAliveUpstream {
  port: number;
  received: Received[];
  accepted: () => number;
  close: () => Promise<void>;
}

/** Reads one request (head, then a Content-Length or chunked body) from `buf`; null if incomplete. */
function takeRequest(buf: Buffer): { head: string; body: Buffer; rest: Buffer } | null {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const head = buf.toString('latin1', 0, end);
  let rest = buf.subarray(end + 4);
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
    const parts: Buffer[] = [];
    for (;;) {
      const nl = rest.indexOf('\r\n');
      if (nl === -1) return null;
      const size = Number.parseInt(rest.toString('latin1', 0, nl), 16);
      if (rest.length < nl + 2 + size + 2) return null;
      if (size === 0) return { head, body: Buffer.concat(parts), rest: rest.subarray(nl + 4) };
      parts.push(rest.subarray(nl + 2, nl + 2 + size));
      rest = rest.subarray(nl + 2 + size + 2);
    }
  }
  const n = cl ? Number(cl[1]) : 0;
  if (rest.length < n) return null;
  return { head, body: rest.subarray(0, n), rest: rest.subarray(n) };
}

/** A keep-alive upstream on loopback; `respond` answers each request (or not) on its socket. */
async function keepAliveUpstream(respond: (r: Received, s: net.Socket) => void): Promise<KeepAliveUpstream> {
  const received: Received[] = [];
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const srv = net.createServer((s) => {
    const conn = ++accepted;
    let nth = 0;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (let r = takeRequest(buf); r; r = takeRequest(buf)) {
        buf = r.rest;
        const rec = { head: r.head, body: r.body, conn, nth: ++nth };
        received.push(rec);
        respond(rec, s);
      }
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    port: (srv.address() as net.AddressInfo).port,
    received,
    accepted: () => accepted,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => srv.close(r));
    },
  };
}

const ok = (s: net.Socket, body = 'ok') =>
  s.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);

let g: TestService;
beforeAll(async () => {
  g = await startService({});
});
afterAll(async () => {
  await g.stop();
});

describe('upstream connections', () => {
  it('reuses one keep-alive upstream connection for requests from different clients', async () => {
    const up = await keepAliveUpstream((_r, s) => ok(s));
    try {
      for (let i = 0; i < 5; i++) {
        const r = await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/n${i}`);
        expect(r.status).toBe(200);
        expect(r.body.toString()).toBe('ok');
      }
      expect(up.accepted()).toBe(1);
      expect(up.received.map((r) => r.nth)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await up.close();
    }
  });

  it('retries a GET once on a new connection when a reused one was closed without an answer', async () => {
    // The second request on the first connection meets a server that closed it (as when an idle timeout
    // races the request): no byte of an answer, so the guardian may ask again.
    const up = await keepAliveUpstream((r, s) => (r.conn === 1 && r.nth === 2 ? s.destroy() : ok(s, `c${r.conn}`)));
    try {
      expect((await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/a`)).body.toString()).toBe('c1');
      const r = await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/b`);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('c2');
      expect(up.accepted()).toBe(2);
      expect(up.received.filter((x) => x.head.startsWith('GET /b '))).toHaveLength(2);
    } finally {
      await up.close();
    }
  });

  it('never retries a request with a body: the client gets 502 and the upstream saw it once', async () => {
    const up = await keepAliveUpstream((r, s) => (r.conn === 1 && r.nth === 2 ? s.destroy() : ok(s)));
    try {
      await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/a`);
      const errorsBefore = g.svc.counters.upstream_errors;
      const r = await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/post`, { method: 'POST', body: 'x=1' });
      expect(r.status).toBe(502);
      expect(up.received.filter((x) => x.head.startsWith('POST /post '))).toHaveLength(1);
      expect(g.svc.counters.upstream_errors).toBe(errorsBefore + 1);
    } finally {
      await up.close();
    }
  });

  it('still scans the body of a request whose upstream refused the connection', async () => {
    // The body waits paused until the upstream connection is up; a refused connection used to drop it unscanned.
    const closed = net.createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const key = expandExample('ghp_{{rand:alnum:36}}').text;
    const r = await viaProxyHttp(g.port, `http://127.0.0.1:${port}/refused`, {
      method: 'POST',
      body: `{"note":"x","token":"${key}"}`,
    });
    expect(r.status).toBe(502);
    const [f] = await g.findings(1, (x) => x.path === '/refused' && x.pattern === 'github_token');
    expect(f!.direction).toBe('outbound');
    expect(JSON.stringify(f)).not.toContain(key);
  });

  it('drops an idle connection the upstream closed, and opens a new one for the next request', async () => {
    const up = await keepAliveUpstream((_r, s) => {
      ok(s);
      setTimeout(() => s.end(), 30); // an upstream with a very short idle timeout
    });
    try {
      expect((await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/1`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 200));
      expect((await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/2`)).status).toBe(200);
      expect(up.accepted()).toBe(2);
      expect(up.received.map((r) => r.nth)).toEqual([1, 1]);
    } finally {
      await up.close();
    }
  });
});

describe('what goes upstream', () => {
  it('drops hop-by-hop headers and sets Host to the absolute-form authority', async () => {
    const up = await keepAliveUpstream((_r, s) => ok(s));
    try {
      const r = await new Promise<number>((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port: g.port,
          path: `http://127.0.0.1:${up.port}/h?q=1`,
          agent: false,
          headers: {
            host: 'somewhere-else.example',
            connection: 'keep-alive, X-Hop',
            'x-hop': 'gone',
            'keep-alive': 'timeout=5',
            'proxy-connection': 'keep-alive',
            te: 'trailers',
            'x-end-to-end': 'kept',
          },
        });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
      expect(r).toBe(200);
      const head = up.received[0]!.head;
      expect(head.split('\r\n')[0]).toBe('GET /h?q=1 HTTP/1.1');
      expect(head).toMatch(new RegExp(`\\r\\nHost: 127\\.0\\.0\\.1:${up.port}(\\r\\n|$)`));
      expect(head).toMatch(/\r\nx-end-to-end: kept/i);
      for (const hop of ['x-hop', 'keep-alive', 'proxy-connection', 'te', 'connection', 'somewhere-else']) {
        expect(head.toLowerCase()).not.toContain(`\r\n${hop}`);
      }
      expect(head).not.toContain('somewhere-else.example');
    } finally {
      await up.close();
    }
  });

  it('re-chunks a chunked upload: the upstream gets every byte, and the scanner sees them', async () => {
    const up = await keepAliveUpstream((r, s) => ok(s, String(r.body.length)));
    const key = expandExample('ghp_{{rand:alnum:36}}');
    try {
      const pieces = ['{"a":"', 'x'.repeat(70_000), `","token":"${key.text}`, '"}'];
      const total = pieces.reduce((n, p) => n + p.length, 0);
      const status = await new Promise<string>((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port: g.port,
          method: 'POST',
          path: `http://127.0.0.1:${up.port}/upload`,
          agent: false,
          headers: { 'transfer-encoding': 'chunked', 'content-type': 'application/json' },
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        for (const p of pieces) req.write(p);
        req.end();
      });
      expect(status).toBe(String(total));
      expect(up.received[0]!.head).toMatch(/\r\nTransfer-Encoding: chunked/i);
      expect(up.received[0]!.body.toString()).toBe(pieces.join(''));
      const f = await g.findings(1, (x) => x.pattern === 'github_token' && x.dest === `127.0.0.1:${up.port}`);
      expect(f[0]!.direction).toBe('outbound');
    } finally {
      await up.close();
    }
  });
});

describe('uploads the upstream answered early', () => {
  it('an upload cut off after an early answer is scanned as far as it was forwarded', async () => {
    // The upstream answers as soon as the request starts (like a 413 or an early 200), never reading on.
    const srv = net.createServer((s) => {
      s.on('error', () => undefined);
      s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as net.AddressInfo).port;
    const key = expandExample('ghp_{{rand:alnum:36}}');
    const client = net.connect(g.port, '127.0.0.1');
    client.on('error', () => undefined);
    try {
      let answer = '';
      client.on('data', (d: Buffer) => (answer += d.toString('latin1')));
      // The secret goes upstream with the first part; the rest of the announced 100 000 bytes never comes.
      client.write(
        `POST http://127.0.0.1:${port}/up HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 100000\r\n\r\n` +
          `{"token":"${key.text}",`,
      );
      await waitFor(
        () => answer,
        (a) => a.includes('\r\n\r\nok'),
        'the early answer',
      );
      await new Promise((r) => setTimeout(r, 50));
      client.destroy();
      const f = await g.findings(1, (x) => x.pattern === 'github_token' && x.dest === `127.0.0.1:${port}`);
      expect(f[0]!.direction).toBe('outbound');
    } finally {
      client.destroy();
      srv.close();
    }
  });
});

describe('what comes back', () => {
  it('skips interim 1xx answers and forwards the final one', async () => {
    const up = await keepAliveUpstream((_r, s) =>
      s.write(
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' +
          'HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone',
      ),
    );
    try {
      const r = await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/i`);
      expect(r.status).toBe(201);
      expect(r.body.toString()).toBe('done');
    } finally {
      await up.close();
    }
  });

  it('removes chunk framing and trailers, keeps duplicate headers, and reuses the connection', async () => {
    const up = await keepAliveUpstream((_r, s) =>
      s.write(
        'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n' +
          '5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n',
      ),
    );
    try {
      for (let i = 0; i < 2; i++) {
        const r = await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/c${i}`);
        expect(r.status).toBe(200);
        expect(r.body.toString()).toBe('hello world');
        expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
        expect(r.headers['x-sum']).toBeUndefined();
      }
      expect(up.accepted()).toBe(1);
    } finally {
      await up.close();
    }
  });

  it('forwards a body that runs until close, and does not reuse that connection', async () => {
    const big = 'z'.repeat(200_000);
    const up = await keepAliveUpstream((_r, s) => s.end(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n${big}`));
    try {
      for (let i = 0; i < 2; i++) {
        const r = await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/u${i}`);
        expect(r.status).toBe(200);
        expect(r.body.toString()).toBe(big);
      }
      expect(up.accepted()).toBe(2);
    } finally {
      await up.close();
    }
  });

  it('answers HEAD without a body although the upstream names a length, and reuses the connection', async () => {
    const up = await keepAliveUpstream((r, s) =>
      r.head.startsWith('HEAD') ? s.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n') : ok(s),
    );
    try {
      const h = await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/x`, { method: 'HEAD' });
      expect(h.status).toBe(200);
      expect(h.headers['content-length']).toBe('1234');
      expect(h.body.length).toBe(0);
      expect((await viaProxyHttp(g.port, `http://127.0.0.1:${up.port}/y`)).body.toString()).toBe('ok');
      expect(up.accepted()).toBe(1);
    } finally {
      await up.close();
    }
  });
});
