// Fault injection against the running guardian: upstreams that hang, reset, speak garbage, truncate
// or bomb their bodies, and clients that stall, vanish mid-transfer or send broken framing. For every
// case the proxy must answer or close cleanly, keep serving a parallel healthy request, and let go of
// every socket it holds on both sides (its client-socket set back to empty, the upstream's open
// connections back to zero). Loopback only; every wait is bounded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { WebSocket, WebSocketServer } from 'ws';
import { loadOrCreateCa, type CertificateAuthority } from '../host-services/ca.js';
import { homePaths } from '../host-services/home.js';
import { startService, tempHome, type TestService } from './support/service.js';
import { INJECTION_TEXT, startUpstream, type Upstream } from './support/upstream.js';
import { connectTunnel, viaProxyHttp, viaProxyHttps, waitFor } from './support/proxy-client.js';
import { startBareProxy } from './support/bare-proxy.js';
import { deadPort, rawExchange, rawUpstream, writeStreamed, type RawUpstream } from './support/raw-upstream.js';

const MiB = 1024 * 1024;
// The upstreams' own CA (the guardian trusts it through upstream_ca_file); it also signs the TLS
// front some tests put before a raw upstream.
const upHome = tempHome('tg-fup-');
let upCa: CertificateAuthority;
let upstream: Upstream;
let g: TestService;
const openSockets = () => (g.svc.proxy as unknown as { sockets: Set<unknown> }).sockets.size;
const httpBase = () => `http://localhost:${upstream.httpPort}`;
const up = {
  get upstream() {
    return upstream;
  },
};

beforeAll(async () => {
  upCa = loadOrCreateCa(homePaths(upHome), { create: true })!;
  upstream = await startUpstream(upCa.certFor('localhost'));
  g = await startService({ https_inspection: true, upstream_ca_file: upCa.certPath, dedup_window_secs: 0 });
});
afterAll(async () => {
  await g?.stop();
  await upstream?.close();
  rmSync(upHome, { recursive: true, force: true });
});

/** A request through the proxy to the healthy upstream, over plain HTTP or an inspected tunnel. */
async function healthy(tlsToo = false): Promise<void> {
  const r = await viaProxyHttp(g.port, `${httpBase()}/plain`);
  expect(r.status).toBe(200);
  expect(r.body.toString()).toBe(INJECTION_TEXT);
  if (tlsToo) {
    const s = await viaProxyHttps(g.port, `https://localhost:${up.upstream.httpsPort}/plain`, g.svc.ca!.certPem);
    expect(s.status).toBe(200);
    expect(s.body.toString()).toBe(INJECTION_TEXT);
  }
}

/** The proxy holds no client socket and (when given) the faulty upstream sees no open connection. */
async function settled(...ups: RawUpstream[]): Promise<void> {
  await waitFor(openSockets, (n) => n === 0, 'proxy client sockets to close', 10_000);
  for (const u of ups) await waitFor(u.open, (n) => n === 0, 'upstream connections to close', 10_000);
}

/** A TLS server (upstream CA, `localhost`) piping each connection to a raw upstream's port. */
async function tlsFront(port: number): Promise<tls.Server> {
  const front = tls.createServer({ ...upCa.certFor('localhost'), ALPNProtocols: ['http/1.1'] }, (c) => {
    const back = net.connect(port, '127.0.0.1');
    back.on('error', () => c.destroy());
    c.on('error', () => back.destroy());
    c.pipe(back).pipe(c);
    c.on('close', () => back.destroy());
    back.on('close', () => c.destroy());
  });
  front.listen(0, '127.0.0.1');
  await once(front, 'listening');
  return front;
}

/** A raw request head sent to the proxy for `url`. */
const get = (url: string, extra = '') => `GET ${url} HTTP/1.1\r\nHost: ${new URL(url).host}\r\n${extra}\r\n`;

/** Sends a GET through the proxy and gives up (destroys the socket) after `ms`. */
async function getThenAbort(url: string, ms: number): Promise<string> {
  const r = await rawExchange(g.port, get(url), ms);
  return r.text;
}

describe('upstream faults', () => {
  it('an upstream that accepts and never answers: the client gives up and nothing is left open', async () => {
    const silent = await rawUpstream(() => undefined);
    try {
      const pending = getThenAbort(`http://127.0.0.1:${silent.port}/hang`, 500);
      await waitFor(silent.accepted, (n) => n === 1, 'the proxy to reach the upstream');
      await healthy(true); // served while the hanging request is pending
      expect(await pending).toBe('');
      // The client left: the proxy must drop its upstream request too, not keep it open forever.
      await settled(silent);
      await healthy();
    } finally {
      await silent.close();
    }
  });

  it('an upstream that resets mid-headers: 502 with the error code', async () => {
    const u = await rawUpstream((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: text/pl');
      setTimeout(() => s.resetAndDestroy(), 20);
    });
    try {
      const errorsBefore = g.svc.counters.upstream_errors;
      const [r] = await Promise.all([viaProxyHttp(g.port, `http://127.0.0.1:${u.port}/h`), healthy()]);
      expect(r.status).toBe(502);
      expect(r.body.toString()).toMatch(/ECONNRESET|socket hang up/);
      expect(g.svc.counters.upstream_errors).toBeGreaterThan(errorsBefore);
      await settled(u);
    } finally {
      await u.close();
    }
  });

  it('an upstream that resets or closes mid-body: the client sees a cut message, not a complete one', async () => {
    for (const how of ['reset', 'fin'] as const) {
      const u = await rawUpstream((s) => {
        s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\npartial body ');
        setTimeout(() => (how === 'reset' ? s.resetAndDestroy() : s.end()), 30);
      });
      try {
        const [r] = await Promise.all([
          viaProxyHttp(g.port, `http://127.0.0.1:${u.port}/b`).then(
            (x) => x,
            (e: Error) => e,
          ),
          healthy(),
        ]);
        // Either the client library reports the cut, or it saw fewer bytes than announced.
        if (!(r instanceof Error)) expect(r.body.length).toBeLessThan(100000);
        await settled(u);
      } finally {
        await u.close();
      }
    }
  });

  it('an upstream sending garbage instead of HTTP: 502', async () => {
    const cases: Buffer[] = [
      Buffer.from('this is not http\r\n\r\n'),
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0xff, 0x00, 0x13, 0x37]),
      Buffer.from('HTTP/1.1 abc Broken\r\n\r\n'),
      // Parsed fine, but no valid status for the client response: this used to crash the process.
      Buffer.from('HTTP/1.1 099 Weird\r\nContent-Length: 0\r\n\r\n'),
      Buffer.from('HTTP/1.1 000 Zero\r\n\r\n'),
      Buffer.from('HTTP/1.1 200 OK\r\nX-Bad: a\x7fb\r\n\r\n'),
      Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n'),
      Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc'),
    ];
    for (const garbage of cases) {
      const u = await rawUpstream((s) => s.end(garbage));
      try {
        const [r] = await Promise.all([viaProxyHttp(g.port, `http://127.0.0.1:${u.port}/g`), healthy()]);
        expect(r.status, garbage.toString('latin1')).toBe(502);
        await settled(u);
      } finally {
        await u.close();
      }
    }
  });

  it('an inspected HTTPS request to an upstream that does not speak TLS: 502 inside the tunnel', async () => {
    // The CONNECT target is the plain HTTP port: the guardian's upstream TLS handshake fails.
    const r = await viaProxyHttps(g.port, `https://localhost:${up.upstream.httpPort}/plain`, g.svc.ca!.certPem);
    expect(r.status).toBe(502);
    await healthy(true);
    await settled();
  });

  it('a truncated gzip body reaches the client as sent; the scan sees the part that decoded', async () => {
    // The command comes first, then incompressible filler: the cut falls well after the command.
    const filler = randomBytes(24 * 1024).toString('base64');
    const gz = zlib.gzipSync(Buffer.from(`<p>install notes</p>\n${INJECTION_TEXT}<pre>${filler}</pre>\n`));
    const cut = gz.subarray(0, Math.floor(gz.length * 0.6));
    for (const framing of ['length', 'close', 'short'] as const) {
      // length: a complete message whose body is a cut gzip stream; close: the body ends when the
      // upstream closes; short: the upstream announces more than it sends, then closes.
      const u = await rawUpstream((s) => {
        const len =
          framing === 'length'
            ? `Content-Length: ${cut.length}\r\n`
            : framing === 'short'
              ? `Content-Length: ${gz.length}\r\n`
              : '';
        s.end(
          Buffer.concat([
            Buffer.from(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n${len}Connection: close\r\n\r\n`),
            cut,
          ]),
        );
      });
      try {
        const dest = `127.0.0.1:${u.port}`;
        const [r] = await Promise.all([
          viaProxyHttp(g.port, `http://${dest}/t-${framing}`).catch((e: Error) => e),
          healthy(),
        ]);
        if (framing === 'short') {
          // Cut short by the upstream: the client must see an incomplete message.
          if (!(r instanceof Error)) expect(r.body.length).toBeLessThan(gz.length);
        } else {
          if (r instanceof Error) throw r;
          expect(r.status).toBe(200);
          expect(r.body.equals(cut)).toBe(true);
        }
        await g.findings(1, (f) => f.dest === dest && f.pattern === 'pipe_to_shell' && f.encoding === 'gzip');
        await settled(u);
      } finally {
        await u.close();
      }
    }
  });

  it('a corrupt gzip body reaches the client as sent and is counted as a decode error', async () => {
    const gz = zlib.gzipSync(Buffer.from(`${INJECTION_TEXT}${'filler '.repeat(200)}`));
    const corrupt = Buffer.concat([gz.subarray(0, 10), Buffer.alloc(64, 0xff), gz.subarray(10)]);
    const u = await rawUpstream((s) =>
      s.end(
        Buffer.concat([
          Buffer.from(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${corrupt.length}\r\n\r\n`),
          corrupt,
        ]),
      ),
    );
    try {
      const before = g.svc.counters.decode_errors;
      const [r] = await Promise.all([viaProxyHttp(g.port, `http://127.0.0.1:${u.port}/corrupt`), healthy()]);
      expect(r.status).toBe(200);
      expect(r.body.equals(corrupt)).toBe(true);
      await waitFor(
        () => g.svc.counters.decode_errors,
        (n) => n > before,
        'a decode error',
      );
      await settled(u);
    } finally {
      await u.close();
    }
  });

  it('a streamed 1 GiB gzip bomb passes through unchanged while the scan stays bounded in memory', async () => {
    // 64 gzip members of 16 MiB of zeros each: 1 GiB decoded, about 1 MiB on the wire.
    const member = zlib.gzipSync(Buffer.alloc(16 * MiB), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 64 }, () => member));
    expect(zlib.gunzipSync(Buffer.concat([member, member])).length).toBe(32 * MiB); // members really concatenate
    const u = await rawUpstream((s) => {
      s.write(
        `HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: ${bomb.length}\r\n\r\n`,
      );
      void writeStreamed(s, bomb, 16 * 1024).then(() => s.end());
    });
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const truncatedBefore = g.svc.counters.truncated_scans;
      const [r] = await Promise.all([viaProxyHttp(g.port, `http://127.0.0.1:${u.port}/bomb`), healthy()]);
      expect(r.status).toBe(200);
      expect(r.body.length).toBe(bomb.length);
      expect(r.body.equals(bomb)).toBe(true);
      await waitFor(
        () => g.svc.counters.truncated_scans,
        (n) => n > truncatedBefore,
        'the bomb scan to be truncated',
      );
      expect(peak - rssBefore).toBeLessThan(200 * MiB);
      await settled(u);
    } finally {
      clearInterval(sampler);
      await u.close();
    }
  });

  it('a gzip bomb uploaded by the client reaches the upstream unchanged, scanned within bounds', async () => {
    const member = zlib.gzipSync(Buffer.alloc(16 * MiB), { level: 9 });
    const bomb = Buffer.concat(Array.from({ length: 32 }, () => member));
    const truncatedBefore = g.svc.counters.truncated_scans;
    const receivedBefore = up.upstream.received.length;
    const r = await viaProxyHttp(g.port, `${httpBase()}/echo?bomb=1`, {
      method: 'POST',
      headers: { 'content-encoding': 'gzip', 'content-type': 'text/plain' },
      body: bomb,
    });
    expect(r.status).toBe(200);
    expect(up.upstream.received.length).toBe(receivedBefore + 1);
    expect(up.upstream.received.at(-1)!.equals(bomb)).toBe(true);
    await waitFor(
      () => g.svc.counters.truncated_scans,
      (n) => n > truncatedBefore,
      'the upload scan to be truncated',
    );
    await settled();
  });
});

describe('client faults', () => {
  it('a slowloris client does not hold up others, and leaves nothing behind once gone', async () => {
    const slow = net.connect(g.port, '127.0.0.1');
    slow.on('error', () => undefined);
    await once(slow, 'connect');
    const head = get(`${httpBase()}/plain`, 'X-Slow: 1\r\n');
    // A few header bytes at a time, with healthy requests served in between, then it stalls.
    for (let i = 0; i < 6; i++) {
      slow.write(head.slice(i * 4, i * 4 + 4));
      await healthy(i % 3 === 0);
    }
    expect(openSockets()).toBeGreaterThanOrEqual(1);
    expect(slow.destroyed).toBe(false);
    slow.destroy();
    await settled();
  });

  it('a client disconnecting mid-upload: the upstream request is dropped, nothing leaks', async () => {
    const u = await rawUpstream(() => undefined); // reads the body, never answers
    try {
      const s = net.connect(g.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.write(
        `POST http://127.0.0.1:${u.port}/up HTTP/1.1\r\nHost: 127.0.0.1:${u.port}\r\n` +
          `Content-Type: text/plain\r\nContent-Length: ${64 * MiB}\r\n\r\n`,
      );
      await writeStreamed(s, Buffer.alloc(MiB, 0x61));
      await waitFor(u.accepted, (n) => n === 1, 'the upload to reach the upstream');
      s.destroy();
      await healthy();
      await settled(u);
    } finally {
      await u.close();
    }
  });

  for (const via of ['http', 'https'] as const) {
    it(`a client disconnecting mid-download (${via}): the upstream side is released, nothing leaks`, async () => {
      const total = 256 * MiB;
      let written = 0;
      const u = await rawUpstream((s) => {
        s.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${total}\r\n\r\n`);
        const block = Buffer.alloc(64 * 1024, 0x62);
        const pump = () => {
          while (written < total && !s.destroyed) {
            written += block.length;
            if (!s.write(block)) return void s.once('drain', pump);
          }
        };
        pump();
      });
      try {
        if (via === 'http') {
          const s = net.connect(g.port, '127.0.0.1');
          s.on('error', () => undefined);
          s.write(get(`http://127.0.0.1:${u.port}/down`));
          await once(s, 'data');
          s.destroy();
        } else {
          // The tunnel target is the raw upstream's port, but inspected HTTPS needs a TLS upstream:
          // put a TLS front on it.
          const front = await tlsFront(u.port);
          try {
            const port = (front.address() as net.AddressInfo).port;
            const raw = await connectTunnel(g.port, `localhost:${port}`);
            const t = tls.connect({ socket: raw, servername: 'localhost', ca: [g.svc.ca!.certPem] });
            t.on('error', () => undefined);
            await once(t, 'secureConnect');
            t.write(`GET /down HTTP/1.1\r\nHost: localhost:${port}\r\n\r\n`);
            await once(t, 'data');
            t.destroy();
            raw.destroy();
            await healthy(true);
            await settled(u);
          } finally {
            await new Promise((r) => front.close(r));
          }
        }
        await healthy();
        await settled(u);
        expect(written).toBeLessThan(total); // the proxy stopped pulling the body, it did not drain it all
      } finally {
        await u.close();
      }
    });
  }

  it('a slow reader of a large body: backpressure holds, no buffering and no listener build-up', async () => {
    const total = 48 * MiB;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const s = net.connect(g.port, '127.0.0.1');
    s.on('error', () => undefined);
    try {
      s.write(get(`${httpBase()}/big?n=${total}`));
      // Reads in bursts: after every ~1 MiB the reader stops for 15 ms, so the proxy has to pause the
      // upstream response again and again.
      let got = 0;
      let sinceStop = 0;
      await new Promise<void>((resolve, reject) => {
        s.on('data', (d: Buffer) => {
          got += d.length;
          sinceStop += d.length;
          peak = Math.max(peak, process.memoryUsage().rss);
          if (got >= total) return resolve();
          if (sinceStop >= MiB) {
            sinceStop = 0;
            s.pause();
            setTimeout(() => s.resume(), 15);
          }
        });
        s.once('close', () => reject(new Error(`closed after ${got} bytes`)));
      });
      expect(got).toBeGreaterThanOrEqual(total);
      // Let a warning emitted on the last pause reach the listener.
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
      expect(peak - rssBefore).toBeLessThan(100 * MiB);
    } finally {
      process.off('warning', onWarning);
      s.destroy();
    }
    await settled();
  });

  it('a response of many one-byte chunks arriving at once: relayed byte for byte (batches written out early)', async () => {
    // 20,000 chunks in one write from the upstream: each is a write on the client socket, far more than
    // one batch may hold, so the batch is written out early and goes on; order and bytes must survive.
    const n = 20_000;
    const body = Buffer.from(Array.from({ length: n }, (_, i) => String.fromCharCode(97 + (i % 26))).join(''));
    const wire = Buffer.concat([...body].map((b) => Buffer.from(`1\r\n${String.fromCharCode(b)}\r\n`)));
    const u = await rawUpstream((s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n');
      s.end(Buffer.concat([wire, Buffer.from('0\r\n\r\n')]));
    });
    try {
      const r = await viaProxyHttp(g.port, `http://127.0.0.1:${u.port}/tiny`);
      expect(r.status).toBe(200);
      expect(r.body.equals(body)).toBe(true);
      await healthy();
      await settled(u);
    } finally {
      await u.close();
    }
  });

  for (const via of ['http', 'http chunked', 'https'] as const) {
    it(`an upstream that stops reading an upload (${via}): the guardian stops pulling it too`, async () => {
      // Body writes of one turn are batched (corked) before they go upstream; backpressure must still
      // reach the client. Without it the guardian would read the whole upload into memory and the
      // client's writes would never stall.
      const total = 160 * MiB;
      const u = await rawUpstream((s) => s.pause());
      const front = await tlsFront(u.port);
      const sockets: { destroy(): void }[] = [];
      try {
        let client: net.Socket;
        const chunked = via === 'http chunked';
        const framing = chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${total}`;
        if (via === 'https') {
          const port = (front.address() as net.AddressInfo).port;
          const raw = await connectTunnel(g.port, `localhost:${port}`);
          sockets.push(raw);
          client = tls.connect({ socket: raw, servername: 'localhost', ca: [g.svc.ca!.certPem] });
          client.on('error', () => undefined);
          await once(client, 'secureConnect');
          client.write(`POST /up HTTP/1.1\r\nHost: localhost:${port}\r\n${framing}\r\n\r\n`);
        } else {
          client = net.connect(g.port, '127.0.0.1');
          client.on('error', () => undefined);
          client.write(
            `POST http://127.0.0.1:${u.port}/up HTTP/1.1\r\nHost: 127.0.0.1:${u.port}\r\n${framing}\r\n\r\n`,
          );
        }
        sockets.push(client);
        const block = Buffer.alloc(64 * 1024, 0x61);
        const piece = chunked ? Buffer.concat([Buffer.from('10000\r\n'), block, Buffer.from('\r\n')]) : block;
        let written = 0;
        while (written < total && !client.destroyed) {
          written += block.length;
          if (!client.write(piece)) {
            const drained = await Promise.race([
              once(client, 'drain').then(() => true),
              new Promise<boolean>((r) => setTimeout(() => r(false), 1000)),
            ]);
            if (!drained) break;
          }
        }
        // Kernel socket buffers on four hops hold some tens of MiB at most; the rest must wait.
        expect(written).toBeLessThan(80 * MiB);
        expect(u.accepted()).toBe(1);
      } finally {
        for (const s of sockets) s.destroy();
        await u.close();
        await new Promise((r) => front.close(r));
      }
      await healthy(true);
      await settled();
    });
  }

  it('invalid chunked framing from the client: 400 and the connection is closed', async () => {
    const bodies = ['ZZZ\r\nabc\r\n0\r\n\r\n', '5\r\nabc\r\n0\r\n\r\n', '3\r\nabcXY0\r\n\r\n', '-1\r\nx\r\n'];
    for (const body of bodies) {
      const [r] = await Promise.all([
        rawExchange(
          g.port,
          `POST ${httpBase()}/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
        ),
        healthy(),
      ]);
      // A framing error in the head of the body is answered 400; one found after the request went
      // upstream can only cut the connection. Either way the proxy closes it.
      expect(r.closedByPeer, JSON.stringify(body)).toBe(true);
      if (r.text !== '') expect(r.text, JSON.stringify(body)).toMatch(/^HTTP\/1\.1 (400|502)/);
    }
    const bad = await rawExchange(
      g.port,
      `POST ${httpBase()}/echo HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\nabc\r\n0\r\n\r\n`,
    );
    expect(bad.text).toMatch(/^HTTP\/1\.1 400/);
    await settled();
  });

  it('request targets no one can reach (bad port, empty host): 400, and the process survives', async () => {
    // A port out of range used to make http.request throw out of the request event: the whole
    // guardian went down for one bad request line.
    const heads = [
      `GET http://127.0.0.1:99999/x HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET http://127.0.0.1:65536/x HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET http://127.0.0.1:-1/x HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET http://127.0.0.1:abc/x HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET http://:80/x HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /relative HTTP/1.1\r\nHost: 127.0.0.1:99999\r\n\r\n`,
      `POST http://127.0.0.1:70000/x HTTP/1.1\r\nHost: 127.0.0.1:70000\r\nContent-Length: 5\r\n\r\nhello`,
    ];
    for (const head of heads) {
      const [r] = await Promise.all([rawExchange(g.port, head), healthy()]);
      expect(r.text, head.split('\r\n')[0]).toMatch(/^HTTP\/1\.1 400 /);
      expect(r.closedByPeer).toBe(true);
    }
    await settled();
  });

  it('oversized and malformed request heads: 431 / 400 and close', async () => {
    const big = await rawExchange(g.port, get(`${httpBase()}/plain`, `X-Big: ${'a'.repeat(20 * 1024)}\r\n`));
    expect(big.text).toMatch(/^HTTP\/1\.1 431/);
    expect(big.closedByPeer).toBe(true);
    for (const junk of ['\x00\x01\x02garbage\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'G E T\r\n\r\n']) {
      const r = await rawExchange(g.port, junk);
      expect(r.text, JSON.stringify(junk)).toMatch(/^HTTP\/1\.1 400/);
      expect(r.closedByPeer).toBe(true);
    }
    await healthy();
    await settled();
  });

  it('garbage instead of a TLS handshake after CONNECT: the tunnel is closed, others unaffected', async () => {
    const target = `localhost:${up.upstream.httpsPort}`;
    // Each is refused at once by the TLS stack (or, not starting like TLS, by the HTTP parser). Input that
    // merely stalls a handshake is the handshake timeout's business (next test).
    const garbage = [
      Buffer.from([0x16, 0xff, 0xff, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00]), // bad record version
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x08, 0xee, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00]), // unknown handshake type
      Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01]), // record longer than TLS allows
      Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00]), // empty ClientHello
      Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c]), randomBytes(60)]),
      Buffer.from('\x00\xff\x00\xffnot tls at all\r\n\r\n', 'latin1'),
    ];
    for (const junk of garbage) {
      const raw = await connectTunnel(g.port, target);
      raw.on('error', () => undefined);
      raw.resume(); // read the alert (or 400), so the close is seen
      raw.write(junk);
      const closed = Promise.race([
        once(raw, 'close').then(() => true),
        new Promise((r) => setTimeout(() => r(false), 5000)),
      ]);
      await healthy(true);
      expect(await closed, junk.toString('hex')).toBe(true);
      raw.destroy();
    }
    await settled();
  });

  it('a client that stops mid-TLS-handshake is cut off by the handshake timeout, others unaffected', async () => {
    const raw = await connectTunnel(g.port, `localhost:${up.upstream.httpsPort}`);
    raw.on('error', () => undefined);
    // The first 5 bytes of a ClientHello record announcing 512 bytes, then silence.
    raw.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
    await healthy(true);
    expect(openSockets()).toBeGreaterThanOrEqual(1);
    raw.destroy();
    await settled();
  });
});

describe('headers timeout (the real proxy on its own, timeout lowered to 600 ms)', () => {
  /** Sends a partial head on `sock`, keeps trickling a byte every 100 ms, and waits (bounded) for the close. */
  async function trickleUntilClosed(sock: net.Socket | tls.TLSSocket, head: string): Promise<string> {
    const got: Buffer[] = [];
    sock.on('data', (d: Buffer) => got.push(d));
    sock.write(head);
    let closed = false;
    sock.once('close', () => (closed = true));
    const trickle = setInterval(() => {
      if (!sock.destroyed) sock.write('a');
    }, 100);
    try {
      await waitFor(
        () => closed,
        (c) => c,
        'the stalled client to be closed',
        8000,
      );
    } finally {
      clearInterval(trickle);
      sock.destroy();
    }
    return Buffer.concat(got).toString('latin1');
  }

  it('a trickling request head is cut off, on a plain connection and inside an inspected tunnel', async () => {
    const bare = await startBareProxy({ headersTimeoutMs: 600, upstreamTrust: [upCa.certPem] });
    const plainUrl = `${httpBase()}/plain`;
    const healthyBare = async () => {
      const r = await viaProxyHttp(bare.port, plainUrl);
      expect(r.body.toString()).toBe(INJECTION_TEXT);
      const t = await viaProxyHttps(bare.port, `https://localhost:${upstream.httpsPort}/plain`, bare.ca.certPem);
      expect(t.body.toString()).toBe(INJECTION_TEXT);
    };
    try {
      // Plain: the outer server's sweep.
      const plain = net.connect(bare.port, '127.0.0.1');
      plain.on('error', () => undefined);
      await once(plain, 'connect');
      const [plainAnswer] = await Promise.all([
        trickleUntilClosed(plain, `GET ${plainUrl} HTTP/1.1\r\nX-Slow: `),
        healthyBare(),
      ]);
      expect(plainAnswer).toMatch(/^(HTTP\/1\.1 408|$)/);

      // Inside a TLS tunnel: the inner server never listens, yet must sweep too.
      const raw = await connectTunnel(bare.port, `localhost:${upstream.httpsPort}`);
      const t = tls.connect({ socket: raw, servername: 'localhost', ca: [bare.ca.certPem] });
      t.on('error', () => undefined);
      await once(t, 'secureConnect');
      const [tlsAnswer] = await Promise.all([trickleUntilClosed(t, 'GET /plain HTTP/1.1\r\nX-Slow: '), healthyBare()]);
      expect(tlsAnswer).toMatch(/^(HTTP\/1\.1 408|$)/);
      raw.destroy();

      // A keep-alive connection whose second request head stalls after a complete first exchange.
      const ka = net.connect(bare.port, '127.0.0.1');
      ka.on('error', () => undefined);
      await once(ka, 'connect');
      ka.write(`GET ${plainUrl} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      await waitFor(
        () => ka.bytesRead,
        (n) => n > INJECTION_TEXT.length,
        'the first response',
      );
      await trickleUntilClosed(ka, `GET ${plainUrl} HTTP/1.1\r\nX-Slow: `);

      await healthyBare();
      await waitFor(bare.openSockets, (n) => n === 0, 'bare proxy sockets to close');
    } finally {
      await bare.stop();
    }
  });
});

describe('WebSocket faults', () => {
  /**
   * Opens a WebSocket to `port` through the proxy and waits (bounded) until it is closed, whatever the
   * way: refused upgrade, error, or close. `onOpen` runs once the client side is open.
   */
  function wsThroughProxy(port: number, onOpen: (ws: WebSocket) => void = () => undefined) {
    return new Promise<{ opened: boolean; status?: number; code?: number }>((resolve, reject) => {
      const ws = new WebSocket(`ws://localhost:${port}/ws`, {
        createConnection: () => net.connect(g.port, '127.0.0.1'),
      } as ConstructorParameters<typeof WebSocket>[2] & { createConnection: () => net.Socket });
      let opened = false;
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`websocket to ${port} still ${opened ? 'open' : 'opening'} after 5 s`));
      }, 5000);
      ws.on('open', () => {
        opened = true;
        onOpen(ws);
      });
      ws.on('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        res.resume();
        ws.terminate();
        resolve({ opened, status: res.statusCode });
      });
      ws.on('error', () => undefined);
      ws.on('close', (code) => {
        clearTimeout(timer);
        resolve({ opened, code });
      });
    });
  }

  async function wsUpstream(onConnection: (ws: WebSocket) => void) {
    const server = http.createServer((_req, res) => res.end('not a websocket'));
    const wss = new WebSocketServer({ server });
    wss.on('connection', onConnection);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return {
      port: (server.address() as net.AddressInfo).port,
      wss,
      close: async () => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      },
    };
  }

  it('an upgrade to a dead port or to an upstream that is no WebSocket server ends, nothing leaks', async () => {
    const dead = await deadPort();
    // The proxy accepts the upgrade before it reaches the upstream: a failure there is a 1014 (bad gateway) close.
    const [r] = await Promise.all([wsThroughProxy(dead), healthy()]);
    expect(r.code).toBe(1014);
    const u = await rawUpstream((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno'));
    try {
      const [r2] = await Promise.all([wsThroughProxy(u.port), healthy()]);
      expect(r2.code).toBe(1014);
      await settled(u);
    } finally {
      await u.close();
    }
  });

  for (const how of ['close without a code', 'close with 1000', 'terminate'] as const) {
    it(`the upstream WebSocket ends first (${how}): the client side is closed too`, async () => {
      const u = await wsUpstream((ws) => {
        setTimeout(
          () => (how === 'terminate' ? ws.terminate() : how === 'close with 1000' ? ws.close(1000) : ws.close()),
          50,
        );
      });
      try {
        const [r] = await Promise.all([wsThroughProxy(u.port), healthy()]);
        expect(r.opened).toBe(true);
        expect(r.code).toBe(how === 'terminate' ? 1014 : how === 'close with 1000' ? 1000 : 1005);
        await settled();
      } finally {
        await u.close();
      }
    });
  }

  it('upgrade requests aimed at nothing reachable (no Host, bad port, bad host): 400, and the process survives', async () => {
    // Each of these made the library throw out of the upgrade handler and took the process down.
    const upgrade =
      'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
      'Sec-WebSocket-Version: 13\r\n';
    const heads = [
      `GET http://127.0.0.1:99999/ HTTP/1.1\r\nHost: x\r\n${upgrade}\r\n`,
      `GET / HTTP/1.1\r\nHost: 127.0.0.1:99999\r\n${upgrade}\r\n`,
      `GET / HTTP/1.1\r\n${upgrade}\r\n`,
      `GET / HTTP/1.0\r\n${upgrade}\r\n`,
      `GET /x HTTP/1.1\r\nHost: a\x80b:9\r\n${upgrade}\r\n`,
      `GET ftp://127.0.0.1:9/ HTTP/1.1\r\nHost: x\r\n${upgrade}\r\n`,
    ];
    for (const head of heads) {
      const [r] = await Promise.all([rawExchange(g.port, head), healthy()]);
      expect(r.text, JSON.stringify(head.split('\r\n').slice(0, 2))).toMatch(/^HTTP\/1\.1 400 /);
    }
    // Inside a tunnel there is always a target (the CONNECT one), Host header or not.
    const raw = await connectTunnel(g.port, `127.0.0.1:${await deadPort()}`);
    raw.on('error', () => undefined);
    const got: Buffer[] = [];
    raw.on('data', (d: Buffer) => got.push(d));
    raw.write(`GET /ws HTTP/1.1\r\n${upgrade}\r\n`);
    // Accepted, then closed with 1014 (bad gateway) once the dead target refuses: a close frame follows the 101.
    const text = await waitFor(
      () => Buffer.concat(got).toString('latin1'),
      (t) => /^HTTP\/1\.1 101[^]*\r\n\r\n\x88\x02\x03\xf6/.test(t),
      'the in-tunnel upgrade and its 1014 close',
    );
    expect(text).toMatch(/^HTTP\/1\.1 101/);
    raw.destroy();
    await settled();
  });

  it('a WebSocket inside an inspected tunnel goes to the CONNECT target, not to its Host header', async () => {
    const server = https.createServer(upCa.certFor('localhost'));
    const wss = new WebSocketServer({ server });
    const hosts: string[] = [];
    wss.on('connection', (ws, req) => {
      hosts.push(String(req.headers.host));
      ws.on('message', (m: Buffer) => ws.send(`echo ${m.toString()}`));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    try {
      const raw = await connectTunnel(g.port, `localhost:${port}`);
      const t = tls.connect({ socket: raw, servername: 'localhost', ca: [g.svc.ca!.certPem] });
      await once(t, 'secureConnect');
      const reply = await new Promise<string>((resolve, reject) => {
        const ws = new WebSocket(`wss://localhost:${port}/ws`, {
          // Same name (the upstream certificate is checked against it), another port: where nothing listens.
          headers: { host: 'localhost:1' },
          createConnection: () => t,
        } as ConstructorParameters<typeof WebSocket>[2] & { createConnection: () => tls.TLSSocket });
        ws.on('open', () => ws.send('hi'));
        ws.on('message', (m: Buffer) => {
          resolve(m.toString());
          ws.close();
        });
        ws.on('error', reject);
        ws.on('unexpected-response', (_q, res) => reject(new Error(`status ${res.statusCode}`)));
        setTimeout(() => reject(new Error(`no reply; ${g.logs.slice(-3).join(' | ')}`)), 5000);
      });
      expect(reply).toBe('echo hi');
      expect(hosts).toEqual(['localhost:1']); // the header travels as sent; the connection does not follow it
      await settled();

      // ws:// in a plain CONNECT tunnel: any Host header at all.
      const plain = await wsUpstream((ws) => ws.on('message', (m: Buffer) => ws.send(`plain ${m.toString()}`)));
      try {
        const tunnel = await connectTunnel(g.port, `127.0.0.1:${plain.port}`);
        const reply2 = await new Promise<string>((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${plain.port}/ws`, {
            headers: { host: 'elsewhere.invalid:1' },
            createConnection: () => tunnel,
          } as ConstructorParameters<typeof WebSocket>[2] & { createConnection: () => unknown });
          ws.on('open', () => ws.send('there'));
          ws.on('message', (m: Buffer) => {
            resolve(m.toString());
            ws.close();
          });
          ws.on('error', reject);
          setTimeout(() => reject(new Error(`no reply; ${g.logs.slice(-3).join(' | ')}`)), 5000);
        });
        expect(reply2).toBe('plain there');
        await settled();
      } finally {
        await plain.close();
      }
    } finally {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('the client WebSocket ends first: the upstream side is closed too', async () => {
    const u = await wsUpstream(() => undefined);
    try {
      const [r] = await Promise.all([wsThroughProxy(u.port, (ws) => setTimeout(() => ws.close(), 50)), healthy()]);
      expect(r.opened).toBe(true);
      await waitFor(
        () => u.wss.clients.size,
        (n) => n === 0,
        'the upstream WebSocket to close',
      );
      await settled();
    } finally {
      await u.close();
    }
  });
});

describe('CONNECT faults', () => {
  it('CONNECT to a port where nothing listens: 502 (blind), 502 inside the tunnel (inspected)', async () => {
    const port = await deadPort();
    const blind = await startService({ https_inspection: false });
    try {
      const r = await rawExchange(blind.port, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      expect(r.text).toMatch(/^HTTP\/1\.1 502/);
      expect(r.closedByPeer).toBe(true);
      expect(blind.svc.counters.upstream_errors).toBe(1);
      await waitFor(
        () => (blind.svc.proxy as unknown as { sockets: Set<unknown> }).sockets.size,
        (n) => n === 0,
        'blind proxy sockets to close',
      );
    } finally {
      await blind.stop();
    }
    const [r] = await Promise.all([viaProxyHttps(g.port, `https://localhost:${port}/x`, g.svc.ca!.certPem), healthy()]);
    expect(r.status).toBe(502);
    expect(r.body.toString()).toMatch(/ECONNREFUSED/);
    await settled();
  });

  it('a CONNECT sent inside an inspected tunnel is refused: what is in a tunnel goes to its target', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const raw = await connectTunnel(g.port, `localhost:${upstream.httpPort}`);
      raw.on('error', () => undefined);
      const got: Buffer[] = [];
      raw.on('data', (d: Buffer) => got.push(d));
      const closed = once(raw, 'close');
      // Plain HTTP in the tunnel first (it works), then a nested CONNECT, repeated.
      raw.write(`GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      await waitFor(
        () => Buffer.concat(got).toString('latin1'),
        (t) => t.includes(INJECTION_TEXT),
        'the in-tunnel GET',
      );
      for (let i = 0; i < 20; i++) raw.write(`CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n`);
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
      const text = Buffer.concat(got).toString('latin1');
      expect(text).toMatch(/HTTP\/1\.1 400 Bad Request\r\n/);
      expect(text).not.toMatch(/HTTP\/1\.1 200 OK\r\n\r\n/);
      expect(raw.destroyed).toBe(true);
      await healthy();
      await settled();
      expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a refused client is disconnected even if it keeps its side of the connection open', async () => {
    const blind = await startService({ https_inspection: false });
    const dead = await deadPort();
    const cases: [number, string, RegExp][] = [
      [g.port, 'GARBAGE\r\n\r\n', /^HTTP\/1\.1 400/],
      [g.port, get(`${httpBase()}/plain`, `X-Big: ${'a'.repeat(20 * 1024)}\r\n`), /^HTTP\/1\.1 431/],
      [g.port, 'CONNECT host:99999 HTTP/1.1\r\nHost: host:99999\r\n\r\n', /^HTTP\/1\.1 400/],
      [blind.port, `CONNECT 127.0.0.1:${dead} HTTP/1.1\r\nHost: 127.0.0.1:${dead}\r\n\r\n`, /^HTTP\/1\.1 502/],
    ];
    const clients: net.Socket[] = [];
    try {
      // Concurrently: a refused client may linger for a moment before it is cut off.
      await Promise.all(
        cases.map(async ([port, data, answer]) => {
          // allowHalfOpen: the client reads the answer and the proxy's FIN but never closes its own side.
          const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
          clients.push(s);
          s.on('error', () => undefined);
          const got: Buffer[] = [];
          s.on('data', (d: Buffer) => got.push(d));
          s.write(data);
          const ended = await Promise.race([
            once(s, 'end').then(() => true),
            new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
          ]);
          expect(ended, data.slice(0, 40)).toBe(true);
          expect(Buffer.concat(got).toString('latin1')).toMatch(answer);
        }),
      );
      // Every client still holds its side open; the proxies must have closed theirs for good.
      expect(clients.every((c) => !c.destroyed)).toBe(true);
      await waitFor(
        () => (blind.svc.proxy as unknown as { sockets: Set<unknown> }).sockets.size + openSockets(),
        (n) => n === 0,
        'the proxies to drop the half-open connections',
        8000,
      );
    } finally {
      for (const c of clients) c.destroy();
      await blind.stop();
    }
  });

  it('malformed CONNECT targets: 400 and close', async () => {
    for (const target of ['host:99999', 'host:0', ':443', 'a:b:c', '[::1', 'ho$t:443']) {
      const r = await rawExchange(g.port, `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      expect(r.text, target).toMatch(/^HTTP\/1\.1 400/);
    }
    await healthy();
    await settled();
  });
});
