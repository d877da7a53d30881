// The standard test upstream's routes behind a gate: requests are held until a given number of them
// are in flight at once (or a bounded wait passes), then all are answered. A load test uses it to
// prove that its connections were really concurrent, not served one after another.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { once } from 'node:events';
import { routes } from './upstream.js';

export interface GatedUpstream {
  httpPort: number;
  httpsPort: number;
  /** Bodies received by POST /echo, in order. */
  received: Buffer[];
  /**
   * Holds the next `n` requests until all `n` have arrived, or until `maxWaitMs` passed. Resolves with
   * how many were in flight together when the gate opened.
   */
  arm: (n: number, maxWaitMs: number) => Promise<{ together: number; timedOut: boolean }>;
  /** TCP connections accepted (HTTP and HTTPS servers together). */
  connections: () => number;
  close: () => Promise<void>;
}

export async function startGatedUpstream(
  tls: { cert: string; key: string },
  opts: { keepAliveTimeoutMs?: number } = {},
): Promise<GatedUpstream> {
  const received: Buffer[] = [];
  const inner = routes(received, { release: [] });
  let held: (() => void)[] = [];
  let want = 0;
  let opened: ((r: { together: number; timedOut: boolean }) => void) | null = null;
  let timer: NodeJS.Timeout | undefined;
  const open = (timedOut: boolean) => {
    clearTimeout(timer);
    const go = held;
    held = [];
    want = 0;
    opened?.({ together: go.length, timedOut });
    opened = null;
    for (const f of go) f();
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (want === 0) return inner(req, res);
    held.push(() => inner(req, res));
    if (held.length >= want) open(false);
  };
  let conns = 0;
  const plain = http.createServer(handler);
  const secure = https.createServer({ cert: tls.cert, key: tls.key }, handler);
  // By default the guardian's upstream connections stay alive between load rounds; a soak lowers it so
  // idle pooled connections go away soon after the load stops.
  plain.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 30_000;
  secure.keepAliveTimeout = opts.keepAliveTimeoutMs ?? 30_000;
  plain.on('connection', () => conns++);
  secure.on('connection', () => conns++);
  plain.listen({ port: 0, host: '127.0.0.1', backlog: 2048 });
  secure.listen({ port: 0, host: '127.0.0.1', backlog: 2048 });
  await Promise.all([once(plain, 'listening'), once(secure, 'listening')]);
  return {
    httpPort: (plain.address() as net.AddressInfo).port,
    httpsPort: (secure.address() as net.AddressInfo).port,
    received,
    arm: (n, maxWaitMs) =>
      new Promise((resolve) => {
        want = n;
        opened = resolve;
        timer = setTimeout(() => open(true), maxWaitMs);
      }),
    connections: () => conns,
    close: async () => {
      open(true);
      plain.closeAllConnections();
      secure.closeAllConnections();
      await Promise.all([new Promise((r) => plain.close(r)), new Promise((r) => secure.close(r))]);
    },
  };
}
