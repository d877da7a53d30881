// A small real forward proxy, standing in for NanoClaw's OneCLI gateway in chaining tests:
// absolute-form requests are forwarded with http.request, CONNECT is answered with a net.connect pipe.
// It can require Basic credentials and records what it was sent, so tests can prove traffic went
// through it. `restart` listens again on the same port after `close`.
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';

export interface ForwardProxy {
  port: number;
  /** Absolute-form requests forwarded (and refused ones are not counted). */
  requests: () => number;
  /** CONNECT tunnels opened. */
  connects: () => number;
  /** Request URLs (absolute form) and CONNECT targets, in arrival order. */
  seen: string[];
  /** Every Proxy-Authorization header received (undefined when absent), requests and CONNECTs alike. */
  authorizations: (string | undefined)[];
  /** Requests or CONNECTs refused with 407. */
  refused: () => number;
  close: () => Promise<void>;
  restart: () => Promise<void>;
}

export interface ForwardProxyOptions {
  /** When set, `Proxy-Authorization: Basic base64(user:pass)` is required (407 otherwise). */
  auth?: { user: string; pass: string };
  port?: number;
}

const HOP = new Set(['proxy-authorization', 'proxy-connection', 'connection', 'keep-alive']);

export async function startForwardProxy(opts: ForwardProxyOptions = {}): Promise<ForwardProxy> {
  const expected = opts.auth
    ? `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.pass}`).toString('base64')}`
    : undefined;
  let requests = 0;
  let connects = 0;
  let refused = 0;
  const seen: string[] = [];
  const authorizations: (string | undefined)[] = [];
  const tunnels = new Set<net.Socket>();

  const authorized = (req: http.IncomingMessage): boolean => {
    const got = req.headers['proxy-authorization'];
    authorizations.push(got);
    if (expected === undefined || got === expected) return true;
    refused++;
    return false;
  };

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    seen.push(req.url ?? '');
    if (!authorized(req)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="fwd"', 'content-length': '0' });
      res.end();
      return;
    }
    let target: URL;
    try {
      target = new URL(req.url ?? '');
      if (target.protocol !== 'http:') throw new Error('not absolute http');
    } catch {
      res.writeHead(400, { 'content-length': '0' });
      res.end();
      return;
    }
    requests++;
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP.has(k)) headers[k] = v;
    const out = http.request(
      {
        host: target.hostname,
        port: Number(target.port) || 80,
        method: req.method,
        path: target.pathname + target.search,
        headers,
      },
      (upRes) => {
        const h: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(upRes.headers)) if (!HOP.has(k)) h[k] = v;
        res.writeHead(upRes.statusCode ?? 502, h);
        upRes.pipe(res);
      },
    );
    out.on('error', () => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-length': '0' });
        res.end();
      } else res.destroy();
    });
    req.pipe(out);
  };

  const onConnect = (req: http.IncomingMessage, socket: net.Socket, head: Buffer): void => {
    seen.push(req.url ?? '');
    socket.on('error', () => socket.destroy());
    if (!authorized(req)) {
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="fwd"\r\n\r\n');
      return;
    }
    const m = /^(.+):(\d+)$/.exec(req.url ?? '');
    if (!m) {
      socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      return;
    }
    connects++;
    const up = net.connect({ host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) });
    tunnels.add(up);
    tunnels.add(socket);
    up.once('close', () => tunnels.delete(up));
    socket.once('close', () => tunnels.delete(socket));
    let established = false;
    up.once('connect', () => {
      established = true;
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) up.write(head);
      socket.pipe(up);
      up.pipe(socket);
    });
    up.on('error', () => {
      if (socket.writable && !established) socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
      else socket.destroy();
    });
    socket.once('close', () => up.destroy());
    up.once('close', () => socket.destroy());
  };

  let server: http.Server;
  let port = opts.port ?? 0;
  const listen = async (): Promise<void> => {
    server = http.createServer(onRequest);
    server.on('connect', onConnect);
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
  };
  await listen();

  const fp: ForwardProxy = {
    port,
    requests: () => requests,
    connects: () => connects,
    refused: () => refused,
    seen,
    authorizations,
    close: async () => {
      for (const s of tunnels) s.destroy();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
    restart: listen,
  };
  return fp;
}
