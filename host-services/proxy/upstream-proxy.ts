// Chaining to another HTTP proxy (NanoClaw's OneCLI credential gateway): plain requests go to it in
// absolute form, HTTPS and blind tunnels go through a CONNECT it opens. The guardian still sees and
// scans everything; the upstream proxy only carries the bytes on.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { formatHostPort, type HostPort } from './connect-target.js';

export interface UpstreamProxy {
  host: string;
  port: number;
  /** `Proxy-Authorization` value for the upstream proxy, from user:password in its URL. */
  authorization?: string;
}

export function parseUpstreamProxy(url: string): UpstreamProxy {
  const u = new URL(url);
  // The guardian speaks plain HTTP to the upstream proxy. Accepting https:// here would send the
  // proxy's credentials and every plain request in clear text to a proxy the operator meant to reach
  // over TLS (and to port 80 by default), so it is refused instead.
  if (u.protocol !== 'http:') {
    throw new Error(`upstream_proxy: only http:// proxies are supported (got ${u.protocol}//)`);
  }
  const auth =
    u.username || u.password
      ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`
      : undefined;
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) || 80, authorization: auth };
}

/** Opens a CONNECT tunnel to `target` through the upstream proxy. Rejects with the proxy's status on refusal. */
export function connectThrough(proxy: UpstreamProxy, target: HostPort, timeoutMs = 15_000): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: formatHostPort(target) };
    if (proxy.authorization) headers['proxy-authorization'] = proxy.authorization;
    const req = http.request({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: formatHostPort(target),
      headers,
      agent: false,
      timeout: timeoutMs,
    });
    req.once('connect', (res, socket) => {
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(
        Object.assign(new Error(`upstream proxy refused CONNECT ${formatHostPort(target)}: ${res.statusCode}`), {
          code: 'EPROXY',
        }),
      );
    });
    req.once('timeout', () =>
      req.destroy(Object.assign(new Error('upstream proxy CONNECT timed out'), { code: 'ETIMEDOUT' })),
    );
    req.once('error', reject);
    req.end();
  });
}

type ConnectOptions = tls.ConnectionOptions & { host?: string; port?: number; servername?: string };
type CreateConnection = (
  options: ConnectOptions,
  callback: (err: Error | null, socket?: net.Socket) => void,
) => undefined;

/**
 * An https.Agent whose sockets are TLS over a CONNECT tunnel through the upstream proxy. Node's Agent
 * accepts an asynchronous createConnection that answers through its callback; the typings only know
 * the synchronous form, hence the assignment instead of an override.
 */
export class TunnelingHttpsAgent extends https.Agent {
  constructor(proxy: UpstreamProxy, options: https.AgentOptions) {
    super(options);
    const create: CreateConnection = (opts, callback) => {
      const target = { host: opts.host ?? 'localhost', port: Number(opts.port) || 443 };
      connectThrough(proxy, target).then(
        (raw) =>
          callback(
            null,
            tls.connect({ ...opts, socket: raw as net.Socket, servername: opts.servername ?? target.host }),
          ),
        (err: Error) => callback(err),
      );
      return undefined;
    };
    (this as unknown as { createConnection: CreateConnection }).createConnection = create;
  }
}

/** Plain-HTTP agent for the upstream proxy (keep-alive to the proxy itself). */
export function upstreamHttpAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: 1024, maxFreeSockets: 256 });
}
