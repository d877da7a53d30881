// Requests aimed back at the guardian's own listener would loop: each hop opens one more connection to
// itself until descriptors run out. Two checks stop that. Statically, a target whose port is the
// listener's and whose host is one of its addresses (every local address and the host name when it
// listens on a wildcard address; loopback names when it listens on loopback) is the guardian itself.
// Dynamically, connections the guardian opens upstream are remembered by their local address and port,
// so a request arriving on one of them (a name that resolves to us, say) is recognised at the first hop.
import net from 'node:net';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import type { HostPort } from './connect-target.js';

function normalise(host: string): string {
  let h = host.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.startsWith('::ffff:') && net.isIPv4(h.slice(7))) h = h.slice(7);
  return h;
}

function isLoopback(h: string): boolean {
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\./.test(h);
}

export class OwnAddress {
  private hosts = new Set<string>();
  private port = -1;
  private loopback = false;
  /** Both ends (`from>to`) of the guardian's own upstream connections. */
  private readonly outgoing = new Set<string>();

  /** Called once the listener is bound. */
  listening(host: string, port: number): void {
    this.port = port;
    const h = normalise(host);
    const wildcard = h === '0.0.0.0' || h === '::' || h === '';
    this.hosts = new Set([h]);
    this.loopback = wildcard || isLoopback(h);
    if (wildcard) {
      for (const list of Object.values(os.networkInterfaces())) {
        for (const a of list ?? []) this.hosts.add(normalise(a.address));
      }
      this.hosts.add(normalise(os.hostname()));
      this.hosts.add('0.0.0.0').add('::');
    }
  }

  /** True when `t` names the guardian's own listener. */
  isSelf(t: HostPort): boolean {
    if (t.port !== this.port) return false;
    const h = normalise(t.host);
    return this.hosts.has(h) || (this.loopback && (isLoopback(h) || h === '0.0.0.0' || h === '::'));
  }

  /** Remembers an upstream connection's two ends, from its connect until its close. */
  track(socket: net.Socket): void {
    socket.once('connect', () => {
      const key = connectionKey(socket.localAddress, socket.localPort, socket.remoteAddress, socket.remotePort);
      this.outgoing.add(key);
      socket.once('close', () => this.outgoing.delete(key));
    });
  }

  /**
   * True when the client connection is one of the guardian's own upstream connections: the same two ends,
   * seen from the other side. Both ends count: one local port may serve several connections at once, to
   * different destinations (Linux picks ephemeral ports per destination).
   */
  isOwnConnection(socket: Duplex): boolean {
    if (this.outgoing.size === 0) return false;
    const s = socket as net.Socket;
    return this.outgoing.has(connectionKey(s.remoteAddress, s.remotePort, s.localAddress, s.localPort));
  }
}

function connectionKey(
  fromAddress: string | undefined,
  fromPort: number | undefined,
  toAddress: string | undefined,
  toPort: number | undefined,
): string {
  return `${normalise(fromAddress ?? '')}:${fromPort}>${normalise(toAddress ?? '')}:${toPort}`;
}

export const LOOP_ANSWER = {
  status: 508,
  headers: { 'content-type': 'text/plain; charset=utf-8' },
  body: 'traffic-guardian: this request is aimed at the guardian itself (a loop)\n',
};
