// Keep-alive connections to upstream servers, for the proxy's own HTTP/1.1 client (forward-request.ts).
// Connections are opened plain, over TLS verified against the upstream trust list, or through the
// upstream proxy (a plain connection to it, or TLS inside a CONNECT tunnel it opens), and kept idle per
// destination for reuse. An idle connection that closes, errors or sends anything is dropped; one idle
// longer than IDLE_MS is closed by a periodic sweep.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { formatHostPort, type HostPort } from './connect-target.js';
import { connectThrough, type UpstreamProxy } from './upstream-proxy.js';

export interface UpstreamTarget extends HostPort {
  tls: boolean;
}

export interface Leased {
  socket: Duplex;
  /** True for a connection that carried an earlier request (it may have been closed by the server meanwhile). */
  reused: boolean;
}

/** Idle connections kept per destination. */
export const MAX_IDLE_PER_TARGET = 256;
/** An idle connection is closed after this long. */
export const IDLE_MS = 30_000;
/** Time allowed to open a connection (TCP, upstream proxy CONNECT and TLS handshake). */
export const CONNECT_TIMEOUT_MS = 30_000;

interface Idle {
  socket: Duplex;
  since: number;
  drop: () => void;
}

function keyOf(t: UpstreamTarget): string {
  return `${t.tls ? 's' : 'p'}|${formatHostPort(t)}`;
}

export class UpstreamPool {
  private readonly idle = new Map<string, Idle[]>();
  private readonly open = new Set<Duplex>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly opts: {
      secureContext: tls.SecureContext;
      upstreamProxy?: UpstreamProxy;
    },
  ) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(5_000, IDLE_MS));
    this.sweeper.unref();
  }

  /** An idle connection to `t` if there is one, else a new one. */
  async lease(t: UpstreamTarget): Promise<Leased> {
    const list = this.idle.get(keyOf(t));
    while (list && list.length > 0) {
      const entry = list.pop()!;
      entry.drop();
      if (!entry.socket.destroyed && entry.socket.writable) return { socket: entry.socket, reused: true };
    }
    return { socket: await this.connect(t), reused: false };
  }

  /** Opens a new connection to `t`, never an idle one. */
  async fresh(t: UpstreamTarget): Promise<Leased> {
    return { socket: await this.connect(t), reused: false };
  }

  /** Takes a connection back after a complete exchange; it must have no listeners of the lease left. */
  release(t: UpstreamTarget, socket: Duplex): void {
    if (this.closed || socket.destroyed || !socket.writable) {
      socket.destroy();
      return;
    }
    const key = keyOf(t);
    let list = this.idle.get(key);
    if (!list) {
      list = [];
      this.idle.set(key, list);
    }
    if (list.length >= MAX_IDLE_PER_TARGET) {
      socket.destroy();
      return;
    }
    const entry: Idle = {
      socket,
      since: Date.now(),
      drop: () => {
        socket.off('data', gone);
        socket.off('end', gone);
        socket.off('close', gone);
        socket.off('error', gone);
      },
    };
    // Anything from an idle connection (data, EOF, an error) ends it.
    const gone = () => {
      entry.drop();
      const l = this.idle.get(key);
      const i = l ? l.indexOf(entry) : -1;
      if (i !== -1) l!.splice(i, 1);
      socket.destroy();
    };
    socket.on('data', gone);
    socket.on('end', gone);
    socket.on('close', gone);
    socket.on('error', gone);
    list.push(entry);
  }

  /** Closes every connection, idle or leased. */
  destroy(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const s of this.open) s.destroy();
    this.open.clear();
    this.idle.clear();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, list] of this.idle) {
      const keep = list.filter((e) => {
        if (now - e.since < IDLE_MS) return true;
        e.drop();
        e.socket.destroy();
        return false;
      });
      if (keep.length === 0) this.idle.delete(key);
      else this.idle.set(key, keep);
    }
  }

  private connect(t: UpstreamTarget): Promise<Duplex> {
    if (this.closed) return Promise.reject(Object.assign(new Error('proxy stopping'), { code: 'ESTOPPING' }));
    const up = this.opts.upstreamProxy;
    let opening: Promise<Duplex>;
    if (!t.tls) {
      // Plain requests through an upstream proxy go to the proxy itself, in absolute form.
      opening = this.tcp(up ? { host: up.host, port: up.port } : t);
    } else if (up) {
      opening = connectThrough(up, t, CONNECT_TIMEOUT_MS).then((raw) => this.tlsOver(t, raw as net.Socket));
    } else {
      opening = this.tlsOver(t);
    }
    return opening.then((s) => {
      if (this.closed) {
        s.destroy();
        throw Object.assign(new Error('proxy stopping'), { code: 'ESTOPPING' });
      }
      this.open.add(s);
      s.once('close', () => this.open.delete(s));
      return s;
    });
  }

  private tcp(t: HostPort): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: t.host, port: t.port });
      s.setNoDelay(true);
      const timer = setTimeout(
        () => s.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })),
        CONNECT_TIMEOUT_MS,
      );
      s.once('connect', () => {
        clearTimeout(timer);
        s.off('error', onError);
        resolve(s);
      });
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      s.once('error', onError);
    });
  }

  /** TLS to `t`, directly or over an already open tunnel, verified against the upstream trust list. */
  private tlsOver(t: UpstreamTarget, socket?: net.Socket): Promise<tls.TLSSocket> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({
        ...(socket ? { socket } : { host: t.host, port: t.port }),
        servername: net.isIP(t.host) ? undefined : t.host,
        host: t.host,
        secureContext: this.opts.secureContext,
        ALPNProtocols: ['http/1.1'],
      });
      s.setNoDelay(true);
      const timer = setTimeout(
        () => s.destroy(Object.assign(new Error('TLS connect timed out'), { code: 'ETIMEDOUT' })),
        CONNECT_TIMEOUT_MS,
      );
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.off('error', onError);
        resolve(s);
      });
      const onError = (err: Error) => {
        clearTimeout(timer);
        socket?.destroy();
        reject(err);
      };
      s.once('error', onError);
    });
  }
}
