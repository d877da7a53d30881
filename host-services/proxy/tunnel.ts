// How a CONNECT tunnel is carried once its hooks let it through. Its first bytes decide: TLS is
// terminated here with a certificate from the guardian's CA when inspection is on (the decrypted socket
// goes to the proxy's inner HTTP server) and piped blind when it is off; plain HTTP goes to the proxy's
// HTTP server in either mode; anything else is piped with both directions scanned as raw streams. All
// of it works on the client socket as it came out of the HTTP server's 'connect' event: no loopback hop.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { connectThrough, type UpstreamProxy } from './upstream-proxy.js';
import type { HostPort } from './connect-target.js';
import type { BodyTap } from './forward-request.js';

export const CONNECT_OK = 'HTTP/1.1 200 Connection Established\r\n\r\n';
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
const MAX_CONTEXTS = 1000;

/** Opens the tunnel's upstream side: directly, or through the upstream proxy when chaining. */
export function openUpstream(
  target: HostPort,
  upstreamProxy: UpstreamProxy | undefined,
  track?: (s: net.Socket) => void,
): Promise<Duplex> {
  if (upstreamProxy) return connectThrough(upstreamProxy, target);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: target.host, port: target.port });
    track?.(s);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * Pipes both ways; each side's bytes go to its tap (if any) after they were passed on. Either side
 * closing closes the other; the taps end then (complete when their side ended cleanly).
 */
export function pipeTunnel(
  client: Duplex,
  upstream: Duplex,
  taps?: { outbound: BodyTap | null; inbound: BodyTap | null },
): void {
  upstream.on('error', () => client.destroy());
  client.on('error', () => upstream.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  client.pipe(upstream);
  upstream.pipe(client);
  for (const [side, tap] of [
    [client, taps?.outbound ?? null],
    [upstream, taps?.inbound ?? null],
  ] as const) {
    if (!tap) continue;
    let ended = false;
    const end = (complete: boolean) => {
      if (ended) return;
      ended = true;
      tap.end(complete);
    };
    side.on('data', (c: Buffer) => tap.write(c));
    side.once('end', () => end(true));
    side.once('close', () => end(false));
  }
}

/** What a tunnel carries, read from its first bytes: TLS (a handshake record), HTTP (a method), or else raw. */
export function sniffTunnel(first: Buffer): 'tls' | 'http' | 'raw' {
  if (first[0] === 0x16) return 'tls';
  return /^[A-Z]{1,16}( |$)/.test(first.toString('latin1', 0, 17)) ? 'http' : 'raw';
}

/**
 * Calls `then` with whichever side of an open tunnel speaks first and its bytes, put back into that
 * side; both sides are left paused. A server that speaks first (SSH, SMTP) makes the tunnel raw.
 */
export function firstSpeaker(
  client: Duplex,
  head: Buffer,
  upstream: Duplex,
  then: (who: 'client' | 'upstream', first: Buffer) => void,
): void {
  if (head.length > 0) {
    client.pause();
    client.unshift(head);
    then('client', head);
    return;
  }
  const onClient = (d: Buffer) => done('client', client, d);
  const onUpstream = (d: Buffer) => done('upstream', upstream, d);
  const done = (who: 'client' | 'upstream', side: Duplex, d: Buffer) => {
    client.off('data', onClient);
    upstream.off('data', onUpstream);
    client.pause();
    upstream.pause();
    side.unshift(d);
    then(who, d);
  };
  client.on('data', onClient);
  upstream.on('data', onUpstream);
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
  onServerName?: (name: string) => void,
): tls.TLSSocket | null {
  let tlsSocket: tls.TLSSocket;
  try {
    tlsSocket = new tls.TLSSocket(socket as net.Socket, {
      isServer: true,
      secureContext: contexts.get(defaultHost),
      ALPNProtocols: ['http/1.1'],
      SNICallback: (servername, cb) => {
        if (servername) onServerName?.(servername);
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
