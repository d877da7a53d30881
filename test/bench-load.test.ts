// The bench's load client (bench/load.ts) reading chunked answers: the model-call row counts a request
// as done when its chunked server-sent-event answer ends, so a framing slip would count the wrong thing
// (a request "done" at its first chunk) or break the connection. Driven against real local servers: a
// node:http server answering the model-call route as the bench upstream does, and a raw TCP server that
// cuts the chunk framing at awkward places (size line, extension, CRLF, trailers) in separate writes.
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { dialTcp, LoadSession, postRequest, ResponseParser, runLoad } from '../bench/load.js';
import { MODEL_EVENTS, modelEvents, modelRequestBody } from '../bench/model-answer.js';

const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    (s as http.Server).closeAllConnections?.();
    s.close();
    await once(s, 'close');
  }
});

async function listen(s: net.Server): Promise<number> {
  servers.push(s);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return (s.address() as net.AddressInfo).port;
}

/** The bench upstream's POST /model: reads the whole body, then streams the events chunked. */
async function modelServer(): Promise<{ port: number; answered: () => number; bodies: number[] }> {
  let answered = 0;
  const bodies: number[] = [];
  const port = await listen(
    http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
      let bytes = 0;
      req.on('data', (d: Buffer) => (bytes += d.length));
      req.on('end', () => {
        bodies.push(bytes);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const e of modelEvents(bytes)) res.write(e);
        res.end();
        answered++;
      });
    }),
  );
  return { port, answered: () => answered, bodies };
}

/** Collects every response on one connection: status, head and de-chunked body. */
function reader(sock: Duplex) {
  const done: { status: number; head: string; body: string }[] = [];
  let head = '';
  let status = 0;
  let body: Buffer[] = [];
  const errors: Error[] = [];
  const waiters: (() => void)[] = [];
  const parser = new ResponseParser({
    onHead: (s, h) => {
      status = s;
      head = h;
    },
    onBody: (c) => body.push(Buffer.from(c)),
    onEnd: () => {
      done.push({ status, head, body: Buffer.concat(body).toString('utf8') });
      body = [];
      waiters.splice(0).forEach((w) => w());
    },
    onError: (e) => errors.push(e),
  });
  sock.on('data', (d: Buffer) => parser.push(d));
  // Waits for `n` complete responses; a parser that never ends a response fails here, not at the test timeout.
  const next = async (n: number) => {
    while (done.length < n) {
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${done.length} of ${n} responses ended`)), 10_000);
        sock.once('close', () => reject(new Error(`connection closed after ${done.length} responses`)));
      });
      await Promise.race([new Promise<void>((r) => waiters.push(r)), stuck]).finally(() => clearTimeout(timer));
    }
  };
  return { done, errors, next };
}

describe('bench load client, chunked answers', () => {
  it('model-call route: every SSE answer is read to its end, through the bench load session', async () => {
    const srv = await modelServer();
    const body = modelRequestBody(256 * 1024);
    expect(body.length).toBe(256 * 1024);
    expect(JSON.parse(body.toString('utf8'))).toHaveProperty('messages');
    const req = postRequest('/model', `127.0.0.1:${srv.port}`, body);
    const conns = 4;
    const r = await runLoad(dialTcp(srv.port), req, conns, 400, 0);
    expect(r.errors).toBe(0);
    expect(r.requests).toBeGreaterThan(0);
    // Each answer ends the request: the server answered every request the client counted, and at most one
    // more per connection (requests that finished after the window closed are not counted).
    expect(srv.answered()).toBeGreaterThanOrEqual(r.requests);
    expect(srv.answered()).toBeLessThanOrEqual(r.requests + conns);
    // And the next request was written only after the answer ended: every body arrived whole.
    expect(srv.bodies.every((b) => b === body.length)).toBe(true);
  });

  it('reads the 30 events and keeps the connection in step over back-to-back answers', async () => {
    const srv = await modelServer();
    const body = modelRequestBody(32 * 1024);
    const sock = await dialTcp(srv.port)();
    try {
      const rd = reader(sock);
      const req = postRequest('/model', `127.0.0.1:${srv.port}`, body);
      for (let i = 1; i <= 3; i++) {
        sock.write(req);
        await rd.next(i);
      }
      expect(rd.errors).toEqual([]);
      const expected = Buffer.concat(modelEvents(body.length)).toString('utf8');
      for (const d of rd.done) {
        expect(d.status).toBe(200);
        expect(d.head).toMatch(/\r\ntransfer-encoding: chunked/i);
        expect(d.body).toBe(expected);
        expect(d.body.split('\n\n').filter(Boolean)).toHaveLength(MODEL_EVENTS);
      }
    } finally {
      sock.destroy();
    }
  });

  it('chunk framing cut at awkward places, with extensions and trailers, in separate writes', async () => {
    const events = modelEvents(1000).map((e) => e.toString('latin1'));
    // One answer, chunked by hand: size lines with an extension, then trailers; then a Content-Length
    // answer on the same connection to prove the parser is back at the start of a head.
    let chunked = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n';
    for (const [i, e] of events.entries())
      chunked += `${Buffer.byteLength(e).toString(16)}${i % 3 === 0 ? ';ext=1' : ''}\r\n${e}\r\n`;
    chunked += '0\r\nX-Trailer: a\r\nX-Other: b\r\n\r\n';
    const plain = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello';
    const wire = Buffer.from(chunked + plain, 'latin1');
    // Cut points inside size lines, between CR and LF, inside the trailer block, and in the head.
    const cuts = new Set<number>();
    for (let i = 0; i < wire.length; i += 37) cuts.add(i);
    for (const needle of ['\r\n', ';ext', '0\r\nX-', 'X-Other', 'HTTP/1.1 200 OK\r\nContent-Length'])
      for (let i = wire.indexOf(needle); i >= 0; i = wire.indexOf(needle, i + 1)) cuts.add(i + 1);
    const pieces: Buffer[] = [];
    let last = 0;
    for (const c of [...cuts].sort((a, b) => a - b).concat(wire.length))
      if (c > last) {
        pieces.push(wire.subarray(last, c));
        last = c;
      }
    expect(pieces.length).toBeGreaterThan(50);

    const port = await listen(
      net.createServer((s) => {
        s.setNoDelay(true);
        s.once('data', async () => {
          for (const p of pieces) {
            s.write(p);
            await new Promise((r) => setImmediate(r));
          }
        });
        s.on('error', () => undefined);
      }),
    );
    const sock = await dialTcp(port)();
    try {
      const rd = reader(sock);
      sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await rd.next(2);
      expect(rd.errors).toEqual([]);
      expect(rd.done[0]!.body).toBe(events.join(''));
      expect(rd.done[1]!.body).toBe('hello');
    } finally {
      sock.destroy();
    }
  });

  it('every two-piece split of a chunked answer parses the same (parser alone)', () => {
    const events = modelEvents(10).map((e) => e.toString('latin1'));
    let wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    for (const e of events.slice(0, 6)) wire += `${Buffer.byteLength(e).toString(16)}\r\n${e}\r\n`;
    wire += '0\r\n\r\n';
    const buf = Buffer.from(wire, 'latin1');
    const want = events.slice(0, 6).join('');
    for (let cut = 1; cut < buf.length; cut++) {
      let got = '';
      let ends = 0;
      const errs: Error[] = [];
      const p = new ResponseParser({
        onBody: (c) => (got += c.toString('latin1')),
        onEnd: () => ends++,
        onError: (e) => errs.push(e),
      });
      p.push(buf.subarray(0, cut));
      p.push(buf.subarray(cut));
      expect({ cut, got, ends, errs }).toEqual({ cut, got: want, ends: 1, errs: [] });
    }
  });

  it('a session counts a chunked answer once, not per chunk', async () => {
    const srv = await modelServer();
    const req = postRequest('/model', `127.0.0.1:${srv.port}`, Buffer.from('{"messages":[]}'));
    const s = await LoadSession.open(dialTcp(srv.port), req, 1);
    try {
      await s.run(200, true);
      const r = s.result();
      expect(r.errors).toBe(0);
      expect(srv.answered() - r.requests).toBeGreaterThanOrEqual(0);
      expect(srv.answered() - r.requests).toBeLessThanOrEqual(1);
    } finally {
      s.close();
    }
  });
});
