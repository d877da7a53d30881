// A client that goes through the guardian the way agents do: absolute-form requests for http://,
// CONNECT then TLS (trusting only the given CA) for https://. Bodies come back raw (no decoding).
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

export interface Resp {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface ReqOpts {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  agent?: http.Agent;
  /** Called with each body chunk as it arrives. */
  onChunk?: (c: Buffer) => void;
}

function collect(req: http.ClientRequest, o: ReqOpts): Promise<Resp> {
  return new Promise((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        o.onChunk?.(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

export function viaProxyHttp(proxyPort: number, url: string, o: ReqOpts = {}): Promise<Resp> {
  const u = new URL(url);
  const req = http.request({
    host: '127.0.0.1',
    port: proxyPort,
    method: o.method ?? 'GET',
    path: u.href,
    headers: { host: u.host, ...o.headers },
    agent: o.agent ?? false,
  });
  return collect(req, o);
}

export function connectTunnel(
  proxyPort: number,
  target: string,
  headers: Record<string, string> = {},
): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port: proxyPort,
      method: 'CONNECT',
      path: target,
      headers,
      agent: false,
    });
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(Object.assign(new Error(`CONNECT ${res.statusCode}`), { status: res.statusCode }));
      } else resolve(socket);
    });
    req.on('error', reject);
    req.end();
  });
}

export async function viaProxyHttps(
  proxyPort: number,
  url: string,
  ca: string,
  o: ReqOpts & { connectHeaders?: Record<string, string> } = {},
): Promise<Resp> {
  const u = new URL(url);
  const raw = await connectTunnel(proxyPort, u.host, o.connectHeaders);
  const socket = tls.connect({ socket: raw, servername: u.hostname, ca: [ca] });
  const req = https.request({
    host: u.hostname,
    port: Number(u.port),
    method: o.method ?? 'GET',
    path: u.pathname + u.search,
    headers: o.headers,
    // No `agent` option: with agent:false Node makes a fresh Agent that ignores createConnection.
    createConnection: () => socket,
  });
  return collect(req, o);
}

export async function waitFor<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, what: string, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  let v = await fn();
  while (!ok(v)) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
    v = await fn();
  }
  return v;
}
