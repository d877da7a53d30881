// Keep-alive connections to upstream servers, for the proxy's own HTTP/1.1 client (forward-request.ts).
// Connections are opened plain, over TLS verified against the upstream trust list, or through the
// upstream proxy (a plain connection to it, or TLS inside a CONNECT tunnel it opens), and kept idle per
// destination for reuse. Each connection gets its socket listeners once, for its whole life, and passes
// events to whichever exchange holds it: adding and removing four listeners per request was a
// measurable part of the proxy's per-request cost. An idle connection that closes, errors or sends
// anything is dropped; one idle longer than IDLE_MS is closed by a periodic sweep.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { formatHostPort, type HostPort } from './connect-target.js';
import { connectThrough, type UpstreamProxy } from './upstream-proxy.js';

export interface UpstreamTarget extends HostPort {
  tls: boolean;
}

/** What a connection's socket events go to while an exchange holds it. */
export interface ConnHolder {
  onSocketData(d: Buffer): void;
  onSocketEnd(): void;
  onSocketClose(): void;
  onSocketError(err: Error): void;
}

/** Idle connections kept per destination. */
export const MAX_IDLE_PER_TARGET = 256;
/** An idle connection is closed after this long. */
export const IDLE_MS = 30_000;
/** Time allowed to open a connection (TCP, upstream proxy CONNECT and TLS handshake). */
export const CONNECT_TIMEOUT_MS = 30_000;

function keyOf(t: UpstreamTarget): string {
  return `${t.tls ? 's' : 'p'}|${formatHostPort(t)}`;
}

export class UpstreamConn {
  /** The exchange using the connection; null while it is idle in the pool. */
  holder: ConnHolder | null = null;
  /** True for a connection that carried an earlier request (the server may have closed it meanwhile). */
  reused = false;
  idleSince = 0;

  constructor(
    readonly socket: Duplex,
    readonly key: string,
    pool: UpstreamPool,
  ) {
    socket.on('data', (d: Buffer) => (this.holder ? this.holder.onSocketData(d) : pool.drop(this)));
    socket.on('end', () => (this.holder ? this.holder.onSocketEnd() : pool.drop(this)));
    socket.on('close', () => (this.holder ? this.holder.onSocketClose() : pool.drop(this)));
    socket.on('error', (err: Error) => (this.holder ? this.holder.onSocketError(err) : pool.drop(this)));
  }
}

export class UpstreamPool {
  private readonly idle = new Map<string, UpstreamConn[]>();
  private readonly open = new Set<UpstreamConn>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  private readonly idleMs: number;
  private readonly maxIdle: number;

  constructor(
    private readonly opts: {
      secureContext: tls.SecureContext;
      upstreamProxy?: UpstreamProxy;
      /** Told of every TCP connection opened directly (loop detection, own-address.ts). */
      track?: (s: net.Socket) => void;
      /** Defaults IDLE_MS and MAX_IDLE_PER_TARGET (lowered by tests). */
      idleMs?: number;
      maxIdlePerTarget?: number;
    },
  ) {
    this.idleMs = opts.idleMs ?? IDLE_MS;
    this.maxIdle = opts.maxIdlePerTarget ?? MAX_IDLE_PER_TARGET;
    this.sweeper = setInterval(() => this.sweep(), Math.min(5_000, this.idleMs));
    this.sweeper.unref();
  }

  /** The most recently used idle connection to `t`, or null (then `connect`). */
  take(t: UpstreamTarget): UpstreamConn | null {
    const list = this.idle.get(keyOf(t));
    while (list && list.length > 0) {
      const conn = list.pop()!;
      if (!conn.socket.destroyed && conn.socket.writable) {
        conn.reused = true;
        return conn;
      }
      conn.socket.destroy();
    }
    return null;
  }

  /** Opens a new connection to `t`. */
  connect(t: UpstreamTarget): Promise<UpstreamConn> {
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
      const conn = new UpstreamConn(s, keyOf(t), this);
      this.open.add(conn);
      s.once('close', () => this.open.delete(conn));
      return conn;
    });
  }

  /** Takes a connection back after a complete exchange. */
  release(conn: UpstreamConn): void {
    conn.holder = null;
    const s = conn.socket;
    if (this.closed || s.destroyed || !s.writable) {
      s.destroy();
      return;
    }
    let list = this.idle.get(conn.key);
    if (!list) {
      list = [];
      this.idle.set(conn.key, list);
    }
    if (list.length >= this.maxIdle) {
      s.destroy();
      return;
    }
    // An exchange may have paused it for backpressure; idle, it must read (to see an EOF or stray bytes).
    if (s.isPaused()) s.resume();
    conn.idleSince = Date.now();
    list.push(conn);
  }

  /** An idle connection that sent something, ended or failed: out of the pool, and closed. */
  drop(conn: UpstreamConn): void {
    const list = this.idle.get(conn.key);
    const i = list ? list.indexOf(conn) : -1;
    if (i !== -1) list!.splice(i, 1);
    conn.socket.destroy();
  }

  /** Idle connections to `t` (for status and tests). */
  idleCount(t: UpstreamTarget): number {
    return this.idle.get(keyOf(t))?.length ?? 0;
  }

  /** Closes every connection, idle or in use. */
  destroy(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const c of this.open) c.socket.destroy();
    this.open.clear();
    this.idle.clear();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, list] of this.idle) {
      const keep = list.filter((c) => {
        if (now - c.idleSince < this.idleMs) return true;
        c.socket.destroy();
        return false;
      });
      if (keep.length === 0) this.idle.delete(key);
      else this.idle.set(key, keep);
    }
  }

  private tcp(t: HostPort): Promise<net.Socket> {
    const s = net.connect({ host: t.host, port: t.port });
    this.opts.track?.(s);
    return opened(s, 'connect', 'connect');
  }

  /** TLS to `t`, directly or over an already open tunnel, verified against the upstream trust list. */
  private tlsOver(t: UpstreamTarget, socket?: net.Socket): Promise<tls.TLSSocket> {
    const s = tls.connect({
      ...(socket ? { socket } : { host: t.host, port: t.port }),
      servername: net.isIP(t.host) ? undefined : t.host,
      host: t.host,
      secureContext: this.opts.secureContext,
      ALPNProtocols: ['http/1.1'],
    });
    if (!socket) this.opts.track?.(s);
    return opened(s, 'secureConnect', 'TLS connect', socket);
  }
}

/**
 * Resolves with `s` once it emits `ready`; rejects on its error or after CONNECT_TIMEOUT_MS (then it is
 * destroyed, and the tunnel it runs over too).
 */
function opened<S extends net.Socket>(s: S, ready: string, what: string, under?: net.Socket): Promise<S> {
  s.setNoDelay(true);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => s.destroy(Object.assign(new Error(`${what} timed out`), { code: 'ETIMEDOUT' })),
      CONNECT_TIMEOUT_MS,
    );
    const onError = (err: Error) => {
      clearTimeout(timer);
      under?.destroy();
      reject(err);
    };
    s.once(ready, () => {
      clearTimeout(timer);
      s.off('error', onError);
      resolve(s);
    });
    s.once('error', onError);
  });
}
