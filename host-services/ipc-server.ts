// The host's IPC server: answers status, findings and config-validation requests on a Unix socket
// (mode 0600 in a 0700 directory). Every answer is built from GuardianApi results only, findings pass
// through neutraliseFinding, and a group-scoped socket only ever sees its own group. Malformed input
// gets an error frame; nothing a client sends can stop the server or reach another client.
import net from 'node:net';
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import {
  FrameSplitter,
  IPC_PROTOCOL_VERSION,
  MAX_FRAME_BYTES,
  MAX_RESPONSE_FRAME,
  METHODS,
  describeParamsIssue,
  errorFrame,
  parseRequest,
  successFrame,
  type Method,
  type ParsedRequest,
  type SafeFinding,
} from '../lib/ipc-protocol.js';
import { neutraliseFinding } from '../lib/neutralise.js';
import type { GuardianApi } from './guardian-api.js';

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
  /** Same as `address`. */
  socketPath: string;
  connections: () => number;
  close: () => Promise<void>;
}

/** Requests queued on one connection before the server stops reading from it. */
const MAX_QUEUED_REQUESTS = 32;
/** Answer bytes a client may leave unread before the server stops answering (and reading) it. */
const MAX_UNREAD_BYTES = 1024 * 1024;

/** Resolves once the socket's unsent output is back under the bound (or the socket is gone). */
function whenWritable(socket: net.Socket): Promise<void> {
  if (socket.destroyed || socket.writableLength <= MAX_UNREAD_BYTES) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

export const IPC_DEFAULTS = {
  maxConnections: 64,
  idleTimeoutMs: 30_000,
  requestTimeoutMs: 5_000,
  watchIntervalMs: 2_000,
};

/**
 * True when something accepts connections on the socket (a live server, not a stale file). A connect
 * that neither succeeds nor fails within a second counts as alive: better to refuse than to unlink a
 * busy server's socket.
 */
function socketAlive(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(true);
    }, 1000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/**
 * Creates the socket's directory 0700 (parents too). An existing directory of ours that is group- or
 * world-accessible is tightened; a shared one (sticky, like /tmp, or owned by someone else) is left
 * alone with a warning: the socket itself is still created owner-only (see `listen`).
 */
function preparePrivateDir(dir: string, log: (msg: string) => void): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir} is not a directory; cannot place the IPC socket there`);
  if ((st.mode & 0o077) === 0) return;
  const mine = typeof process.getuid !== 'function' || st.uid === process.getuid();
  if (mine && (st.mode & 0o1000) === 0) {
    chmodSync(dir, 0o700);
  } else {
    log(`ipc socket directory ${dir} is shared (mode ${(st.mode & 0o1777).toString(8)}); the socket itself is 0600`);
  }
}

/** Sets a process umask for the synchronous bind inside `fn`; a no-op where umask cannot be set (workers). */
function withUmask<T>(mask: number, fn: () => T): T {
  let old: number | undefined;
  try {
    old = process.umask(mask);
  } catch {
    old = undefined;
  }
  try {
    return fn();
  } finally {
    if (old !== undefined) process.umask(old);
  }
}

/** Removes a socket file left by a crashed server; refuses to touch a live socket or anything else. */
async function clearStaleSocket(p: string): Promise<void> {
  let st;
  try {
    st = lstatSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${p} exists and is not a socket; refusing to remove it`);
  if (await socketAlive(p)) throw new Error(`another guardian is already answering on ${p}; refusing to replace it`);
  unlinkSync(p);
}

/**
 * Listens on `p` so the socket is never reachable by anyone but its owner: it is created in a 0700
 * directory, under umask 077 (Node binds synchronously inside `listen`, so the mask only covers the
 * bind; 077 rather than 177 so a directory created by another thread meanwhile stays usable), and
 * chmod 0600 once listening.
 */
function listen(server: net.Server, p: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    withUmask(0o077, () =>
      server.listen(p, () => {
        server.off('error', onError);
        try {
          chmodSync(p, 0o600);
          resolve();
        } catch (err) {
          server.close();
          reject(err as Error);
        }
      }),
    );
  });
}

/** Findings that fit one response frame, and whether the list was cut to fit. */
function fitFindings(findings: SafeFinding[]): { findings: SafeFinding[]; cut: boolean } {
  // Room for the envelope (id, group, flags): ids are <= 64 chars and groups <= 128.
  let budget = MAX_RESPONSE_FRAME - 4096;
  for (let i = 0; i < findings.length; i++) {
    budget -= Buffer.byteLength(JSON.stringify(findings[i])) + 1;
    if (budget < 0) return { findings: findings.slice(0, i), cut: true };
  }
  return { findings, cut: false };
}

export async function startIpcServer(opts: IpcServerOptions): Promise<IpcServer> {
  const o = { ...IPC_DEFAULTS, ...opts };
  const log = opts.log ?? (() => undefined);
  preparePrivateDir(path.dirname(o.socketPath), log);
  await clearStaleSocket(o.socketPath);

  const sockets = new Set<net.Socket>();
  let closing = false;
  const newServer = () => {
    const srv = net.createServer((socket) => serve(socket));
    // Accept failures (EMFILE, ...) are reported here; without a listener they would end the process.
    srv.on('error', (err) => log(`ipc server error on ${o.socketPath}: ${err.message}`));
    return srv;
  };
  let server = newServer();

  /** The result for a request, built only from GuardianApi answers, and checked against its schema. */
  const result = async (method: Method, params: unknown): Promise<unknown> => {
    switch (method) {
      case 'hello':
        return { protocol_version: IPC_PROTOCOL_VERSION, server_version: o.version, group: o.group };
      case 'get_status': {
        const st = o.api.status(o.group);
        // The api scopes a group's status; the filter keeps a group socket to its own findings regardless.
        const recent = o.group === null ? st.recent_findings : st.recent_findings.filter((f) => f.group === o.group);
        return { ...st, group: o.group, recent_findings: recent.map(neutraliseFinding) };
      }
      case 'list_findings': {
        const q = METHODS.list_findings.params.unwrap().parse(params ?? {});
        // A group socket is pinned to its group: `group` is not a parameter, and the query carries this
        // socket's group whatever else the client sent. One more than asked tells whether more exist.
        const found = await o.api.listFindings({
          ...q,
          limit: q.limit + 1,
          ...(o.group !== null ? { group: o.group } : {}),
        });
        const own = o.group === null ? found : found.filter((f) => f.group === o.group);
        const fit = fitFindings(own.slice(0, q.limit).map(neutraliseFinding));
        return { findings: fit.findings, truncated: fit.cut || own.length > q.limit, group: o.group };
      }
      case 'validate_config': {
        const { config } = METHODS.validate_config.params.parse(params);
        const r = o.api.validateConfig(config);
        return r.ok ? { ok: true, errors: [] } : { ok: false, errors: r.errors.slice(0, 100) };
      }
    }
  };

  const handle = async (req: Extract<ParsedRequest, { ok: true }>): Promise<string> => {
    const out = METHODS[req.method].result.safeParse(await result(req.method, req.params));
    if (!out.success) {
      // Never send what the protocol does not describe (an extra field could carry anything).
      log(`ipc ${req.method}: answer does not match the protocol: ${describeParamsIssue(out.error.issues)}`);
      return errorFrame(req.id, 'internal', 'internal error');
    }
    return successFrame(req.id, out.data);
  };

  const answer = async (socket: net.Socket, line: string): Promise<void> => {
    // Malformed JSON, a non-request, an unknown method or bad params: answered with the error, and the
    // connection stays usable.
    const req = parseRequest(line);
    if (!req.ok) {
      socket.write(errorFrame(req.id, req.code, req.message));
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve(errorFrame(req.id, 'timeout', `no answer within ${o.requestTimeoutMs} ms`)),
        o.requestTimeoutMs,
      );
    });
    const work = handle(req);
    // A late failure after the timeout answered must not become an unhandled rejection.
    work.catch(() => undefined);
    try {
      const frame = await Promise.race([work, timeout]);
      if (!socket.destroyed) socket.write(frame);
    } catch (err) {
      log(`ipc ${req.method} failed: ${(err as Error).message}`);
      if (!socket.destroyed) socket.write(errorFrame(req.id, 'internal', 'internal error'));
    } finally {
      clearTimeout(timer);
    }
  };

  function serve(socket: net.Socket): void {
    socket.on('error', (err) => {
      log(`ipc connection error: ${err.message}`);
      socket.destroy();
    });
    if (closing) return void socket.destroy();
    if (sockets.size >= o.maxConnections) {
      // Answered and closed. Not counted as a connection, so it must not linger either.
      socket.end(errorFrame(null, 'busy', `too many connections (limit ${o.maxConnections})`));
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    sockets.add(socket);
    socket.setTimeout(o.idleTimeoutMs, () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    const splitter = new FrameSplitter(MAX_FRAME_BYTES);
    // Requests on one connection are answered in order. An over-long frame is answered
    // `frame_too_large` (id null: its id was never read) and skipped up to its newline; the connection
    // stays usable, since the splitter never holds more than MAX_FRAME_BYTES of it.
    // Flow control: a client that pipelines requests but does not read the answers (an answer can be
    // ~1000x its request) would grow the write buffer without bound, so the next answer waits until the
    // unread output is back under MAX_UNREAD_BYTES, and reading stops while MAX_QUEUED_REQUESTS are
    // waiting. Such a client then goes idle and is closed by the idle timeout.
    let chain = Promise.resolve();
    let queued = 0;
    socket.on('data', (chunk: Buffer) => {
      for (const frame of splitter.push(chunk)) {
        if (frame === null) {
          socket.write(errorFrame(null, 'frame_too_large', `frame longer than ${MAX_FRAME_BYTES} bytes skipped`));
          continue;
        }
        if (frame.trim() === '') continue;
        queued++;
        if (queued >= MAX_QUEUED_REQUESTS) socket.pause();
        chain = chain
          .then(() => answer(socket, frame))
          .then(() => whenWritable(socket))
          .catch(() => undefined)
          .then(() => {
            queued--;
            if (queued < MAX_QUEUED_REQUESTS && socket.isPaused() && !socket.destroyed) socket.resume();
          });
      }
    });
  }

  await listen(server, o.socketPath);

  // If the socket file is removed under us (an over-eager cleanup), put it back. Connections already
  // open stay open; only new ones need the file.
  let relistening = false;
  const watch = setInterval(() => {
    if (closing || relistening || existsSync(o.socketPath)) return;
    log(`ipc socket ${o.socketPath} disappeared; re-creating it`);
    relistening = true;
    const old = server;
    server = newServer();
    old.close();
    try {
      // A cleanup that removed the socket may have removed its directory too: put that back (0700) first.
      preparePrivateDir(path.dirname(o.socketPath), log);
    } catch (err) {
      log(`ipc re-listen failed: ${(err as Error).message}`);
      relistening = false;
      return;
    }
    listen(server, o.socketPath)
      .catch((err: Error) => log(`ipc re-listen failed: ${err.message}`))
      .finally(() => {
        relistening = false;
      });
  }, o.watchIntervalMs);
  watch.unref();

  return {
    address: o.socketPath,
    socketPath: o.socketPath,
    connections: () => sockets.size,
    close: async () => {
      if (closing) return;
      closing = true;
      clearInterval(watch);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      try {
        unlinkSync(o.socketPath);
      } catch {
        // already gone
      }
    },
  };
}
