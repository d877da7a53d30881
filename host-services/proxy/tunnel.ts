// The two ways a CONNECT tunnel is carried once its hooks let it through: blind (bytes piped to the
// target, through the upstream proxy when chaining) or terminated here with a certificate from the
// guardian's CA (the decrypted socket is then handed to the proxy's inner HTTP server). Both take the
// client socket as it came out of the HTTP server's 'connect' event: no loopback hop, no extra server.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { connectThrough, type UpstreamProxy } from './upstream-proxy.js';
import type { HostPort } from './connect-target.js';

export const CONNECT_OK = 'HTTP/1.1 200 Connection Established\r\n\r\n';
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
const MAX_CONTEXTS = 1000;

/** Opens the upstream side, then answers 200 and pipes both ways; `onFailed` when it cannot be opened. */
export function blindTunnel(
  socket: Duplex,
  head: Buffer,
  target: HostPort,
  upstreamProxy: UpstreamProxy | undefined,
  onFailed: (err: Error & { code?: string }) => void,
  track?: (s: net.Socket) => void,
): void {
  const opened: Promise<Duplex> = upstreamProxy
    ? connectThrough(upstreamProxy, target)
    : new Promise((resolve, reject) => {
        const s = net.connect({ host: target.host, port: target.port });
        track?.(s);
        s.once('connect', () => {
          s.off('error', reject);
          resolve(s);
        });
        s.once('error', reject);
      });
  opened.then((upstream) => {
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    upstream.on('error', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
    upstream.on('close', () => socket.destroy());
    socket.write(CONNECT_OK);
    if (head.length > 0) upstream.write(head);
    socket.pipe(upstream);
    upstream.pipe(socket);
  }, onFailed);
}

/** Calls `then` with the tunnel's first bytes (already there, or the first chunk to arrive). */
export function firstBytes(socket: Duplex, head: Buffer, then: (head: Buffer) => void): void {
  if (head.length > 0) then(head);
  else socket.once('data', then);
}

/** TLS server contexts per host name, most recently used kept (a minted certificate costs milliseconds). */
export class ServerContexts {
  private readonly contexts = new Map<string, tls.SecureContext>();

  constructor(private readonly certFor: (hostname: string) => { cert: string; key: string }) {}

  get(hostname: string): tls.SecureContext {
    const key = hostname.toLowerCase();
    let ctx = this.contexts.get(key);
    if (ctx) {
      this.contexts.delete(key);
      this.contexts.set(key, ctx);
      return ctx;
    }
    const pair = this.certFor(key);
    ctx = tls.createSecureContext({ key: pair.key, cert: pair.cert });
    this.contexts.set(key, ctx);
    if (this.contexts.size > MAX_CONTEXTS) this.contexts.delete(this.contexts.keys().next().value!);
    return ctx;
  }
}

/**
 * Terminates TLS on the tunnel socket with a certificate for the client's SNI (else the CONNECT host).
 * Returns null (socket destroyed) when no context could be made.
 */
export function terminateTls(
  socket: Duplex,
  defaultHost: string,
  contexts: ServerContexts,
  onError: (err: Error & { code?: string }) => void,
): tls.TLSSocket | null {
  let tlsSocket: tls.TLSSocket;
  try {
    tlsSocket = new tls.TLSSocket(socket as net.Socket, {
      isServer: true,
      secureContext: contexts.get(defaultHost),
      ALPNProtocols: ['http/1.1'],
      SNICallback: (servername, cb) => {
        try {
          cb(null, contexts.get(servername || defaultHost));
        } catch (err) {
          cb(err as Error);
        }
      },
    });
  } catch (err) {
    onError(err as Error);
    socket.destroy();
    return null;
  }
  // A TLSSocket made by hand has no handshake timeout: a client that stalls mid-handshake would hold
  // the connection forever. Idle time after the handshake is the HTTP server's business.
  tlsSocket.setTimeout(TLS_HANDSHAKE_TIMEOUT_MS, () => tlsSocket.destroy());
  tlsSocket.once('secure', () => tlsSocket.setTimeout(0));
  tlsSocket.on('error', (err: Error & { code?: string }) => {
    onError(err);
    tlsSocket.destroy();
  });
  return tlsSocket;
}
