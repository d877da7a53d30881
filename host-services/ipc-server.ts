// The host's IPC server: answers status, findings and config-validation requests on a Unix socket
// (mode 0600 in a 0700 directory). What each method answers is ipc-handlers.ts; how one connection is
// read and answered is ipc-connection.ts; the socket file's safety is ipc-socket-file.ts. Malformed
// input gets an error frame; nothing a client sends can stop the server or reach another client.
import net from 'node:net';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { errorFrame } from '../lib/ipc-protocol.js';
import type { GuardianApi } from './guardian-api.js';
import { serveConnection, type ConnectionOptions } from './ipc-connection.js';
import { clearStaleSocket, listenPrivate, preparePrivateDir, removeSocketFile } from './ipc-socket-file.js';

export interface IpcServerOptions {
  socketPath: string;
  api: GuardianApi;
  /** Non-null: this socket belongs to one agent group and answers only about it. */
  group: string | null;
  version: string;
  maxConnections?: number;
  idleTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** How often to check that the socket file still exists (re-created if removed). */
  watchIntervalMs?: number;
  log?: (msg: string) => void;
}

export interface IpcServer {
  /** The socket path the server listens on. */
  address: string;
  connections: () => number;
  close: () => Promise<void>;
}

export const IPC_DEFAULTS = {
  maxConnections: 64,
  idleTimeoutMs: 30_000,
  requestTimeoutMs: 5_000,
  watchIntervalMs: 2_000,
};

type Settings = typeof IPC_DEFAULTS & IpcServerOptions & { log: (msg: string) => void };

/** Live connections of one server, admitted up to the limit; closing ends them all. */
class Connections {
  readonly sockets = new Set<net.Socket>();
  closing = false;

  constructor(
    private readonly o: Settings,
    private readonly conn: ConnectionOptions,
  ) {}

  accept(socket: net.Socket): void {
    const o = this.o;
    socket.on('error', (err) => {
      o.log(`ipc connection error: ${err.message}`);
      socket.destroy();
    });
    if (this.closing) return void socket.destroy();
    if (this.sockets.size >= o.maxConnections) {
      // Answered and closed. Not counted as a connection, so it must not linger either.
      socket.end(errorFrame(null, 'busy', `too many connections (limit ${o.maxConnections})`));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.sockets.add(socket);
    socket.setTimeout(o.idleTimeoutMs, () => socket.destroy());
    socket.on('close', () => this.sockets.delete(socket));
    serveConnection(socket, this.conn);
  }
}

/**
 * Puts the socket file back if it is removed under us (an over-eager cleanup): a new server listens on
 * the path again. Connections already open stay open; only new ones need the file.
 */
function watchSocketFile(o: Settings, isClosing: () => boolean, relisten: () => Promise<void>): NodeJS.Timeout {
  let relistening = false;
  const watch = setInterval(() => {
    if (isClosing() || relistening || existsSync(o.socketPath)) return;
    o.log(`ipc socket ${o.socketPath} disappeared; re-creating it`);
    relistening = true;
    relisten()
      .catch((err: Error) => o.log(`ipc re-listen failed: ${err.message}`))
      .finally(() => {
        relistening = false;
      });
  }, o.watchIntervalMs);
  watch.unref();
  return watch;
}

export async function startIpcServer(opts: IpcServerOptions): Promise<IpcServer> {
  const o: Settings = { ...IPC_DEFAULTS, ...opts, log: opts.log ?? (() => undefined) };
  preparePrivateDir(path.dirname(o.socketPath), o.log);
  await clearStaleSocket(o.socketPath);

  const conns = new Connections(o, {
    api: o.api,
    group: o.group,
    version: o.version,
    requestTimeoutMs: o.requestTimeoutMs,
    log: o.log,
  });
  const newServer = () => {
    const srv = net.createServer((socket) => conns.accept(socket));
    // Accept failures (EMFILE, ...) are reported here; without a listener they would end the process.
    srv.on('error', (err) => o.log(`ipc server error on ${o.socketPath}: ${err.message}`));
    return srv;
  };
  let server = newServer();
  await listenPrivate(server, o.socketPath);

  const watch = watchSocketFile(
    o,
    () => conns.closing,
    async () => {
      const old = server;
      server = newServer();
      old.close();
      // A cleanup that removed the socket may have removed its directory too: put that back (0700) first.
      preparePrivateDir(path.dirname(o.socketPath), o.log);
      await listenPrivate(server, o.socketPath);
    },
  );

  return {
    address: o.socketPath,
    connections: () => conns.sockets.size,
    close: async () => {
      if (conns.closing) return;
      conns.closing = true;
      clearInterval(watch);
      for (const s of conns.sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      removeSocketFile(o.socketPath);
    },
  };
}
