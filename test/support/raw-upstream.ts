// Raw TCP upstreams for the fault tests. Unlike faulty-upstream.ts, this one reads the whole request
// head first (so a handler can answer "after the request"), and counts the connections it accepted
// and those still open: a test can prove that the proxy let go of its upstream side too.
import net from 'node:net';
import { once } from 'node:events';

export interface RawUpstream {
  port: number;
  /** Connections accepted so far. */
  accepted: () => number;
  /** Connections still open on the upstream side. */
  open: () => number;
  /** Request heads received (first request of each connection), in arrival order. */
  heads: string[];
  close: () => Promise<void>;
}

/** Largest request head read before the handler is called anyway. */
const MAX_HEAD = 64 * 1024;

/**
 * Starts a TCP server on loopback. For each connection, once the request head (up to the blank line)
 * has arrived, `onRequest` is called with the socket and the head; what it writes is the "response".
 */
export async function rawUpstream(onRequest: (s: net.Socket, head: string) => void): Promise<RawUpstream> {
  const sockets = new Set<net.Socket>();
  const heads: string[] = [];
  let accepted = 0;
  const srv = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let called = false;
    s.on('data', (d: Buffer) => {
      if (called) return;
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1 && buf.length < MAX_HEAD) return;
      called = true;
      const head = buf.subarray(0, end === -1 ? buf.length : end).toString('latin1');
      heads.push(head);
      onRequest(s, head);
    });
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    port: (srv.address() as net.AddressInfo).port,
    accepted: () => accepted,
    open: () => sockets.size,
    heads,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => srv.close(r));
    },
  };
}

/** Writes `data` in `chunk`-sized pieces, honouring backpressure; resolves when all is written or the socket is gone. */
export async function writeStreamed(s: net.Socket, data: Buffer, chunk = 64 * 1024): Promise<void> {
  for (let i = 0; i < data.length && !s.destroyed; i += chunk) {
    if (!s.write(data.subarray(i, i + chunk))) {
      await Promise.race([once(s, 'drain'), once(s, 'close')]);
    }
  }
}

/** A port on loopback where nothing listens (bound once, then closed). */
export async function deadPort(): Promise<number> {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/**
 * Opens a raw connection to the proxy, sends `data`, and returns what came back until the proxy closed
 * the connection or `waitMs` passed (then the connection is destroyed), and whether the proxy closed it.
 */
export async function rawExchange(
  port: number,
  data: Buffer | string,
  waitMs = 3000,
): Promise<{ text: string; closedByPeer: boolean }> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  s.write(data);
  let timer: NodeJS.Timeout | undefined;
  const closedByPeer = await Promise.race([
    once(s, 'close').then(() => true),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(false), waitMs))),
  ]);
  clearTimeout(timer);
  s.destroy();
  return { text: Buffer.concat(chunks).toString('latin1'), closedByPeer };
}

/** Node's count of active handles (sockets, servers, timers with ref): a leak shows up here. */
export function activeHandles(): number {
  return (process as unknown as { _getActiveHandles: () => unknown[] })._getActiveHandles().length;
}
