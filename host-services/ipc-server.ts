// The host's IPC server: answers status, findings and config-validation requests on a Unix socket
// (mode 0600 in a 0700 directory). Every answer is built from GuardianApi results only, findings pass
// through neutraliseFinding, and a group-scoped socket only ever sees its own group. Malformed input
// gets an error frame; nothing a client sends can stop the server or reach another client.
import net from 'node:net';
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import {
  FrameSplitter,
  IPC_PROTOCOL_VERSION,
  MAX_CONFIG_BYTES,
  MAX_REQUEST_FRAME,
  METHODS,
  RequestSchema,
  errorFrame,
  isMethod,
  successFrame,
  type Request,
} from '../lib/ipc-protocol.js';
import { neutraliseFinding } from '../lib/neutralise.js';
import { formatPath } from '../lib/config-schema.js';
import type { GuardianApi } from './guardian-api.js';
import { ensurePrivateDir } from './home.js';

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

/** True when something answers on the socket (a live server, not a stale file). */
function socketAlive(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function clearStaleSocket(p: string): Promise<void> {
  if (!existsSync(p)) return;
  if (!lstatSync(p).isSocket()) throw new Error(`${p} exists and is not a socket; refusing to remove it`);
  if (await socketAlive(p)) throw new Error(`another guardian is already answering on ${p}`);
  unlinkSync(p);
}

function listen(server: net.Server, p: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(p, () => {
      server.off('error', reject);
      // The directory is 0700 already; 0600 on the socket keeps it owner-only even if the directory is shared.
      chmodSync(p, 0o600);
      resolve();
    });
  });
}

export async function startIpcServer(opts: IpcServerOptions): Promise<IpcServer> {
  const o = { ...IPC_DEFAULTS, ...opts };
  const log = opts.log ?? (() => undefined);
  ensurePrivateDir(path.dirname(o.socketPath));
  await clearStaleSocket(o.socketPath);

  const sockets = new Set<net.Socket>();
  let server = net.createServer((socket) => serve(socket));
  let closing = false;

  const handle = async (req: Request): Promise<string> => {
    if (!isMethod(req.method)) return errorFrame(req.id, 'unknown_method', `unknown method "${req.method}"`);
    const spec = METHODS[req.method];
    const params = spec.params.safeParse(req.params);
    if (!params.success) {
      const issue = params.error.issues[0]!;
      const where =
        issue.code === 'unrecognized_keys' ? formatPath([...issue.path, issue.keys[0]!]) : formatPath(issue.path);
      return errorFrame(
        req.id,
        'invalid_params',
        `params.${where}: ${issue.code === 'unrecognized_keys' ? 'unknown parameter' : issue.message}`,
      );
    }
    switch (req.method) {
      case 'hello':
        return successFrame(req.id, {
          protocol_version: IPC_PROTOCOL_VERSION,
          server_version: o.version,
          group: o.group,
        });
      case 'get_status': {
        const st = o.api.status(o.group);
        return successFrame(req.id, { ...st, recent_findings: st.recent_findings.map(neutraliseFinding) });
      }
      case 'list_findings': {
        const q = METHODS.list_findings.params.unwrap().parse(req.params ?? {});
        // A group socket is pinned to its group: the client has no way to ask about another.
        const findings = await o.api.listFindings({ ...q, ...(o.group !== null ? { group: o.group } : {}) });
        return successFrame(req.id, { findings: findings.map(neutraliseFinding), group: o.group });
      }
      case 'validate_config': {
        const { config } = METHODS.validate_config.params.parse(req.params);
        const size = Buffer.byteLength(JSON.stringify(config ?? null));
        if (size > MAX_CONFIG_BYTES) {
          return errorFrame(req.id, 'invalid_params', `params.config: larger than ${MAX_CONFIG_BYTES} bytes`);
        }
        const r = o.api.validateConfig(config);
        return successFrame(req.id, r.ok ? { ok: true, errors: [] } : { ok: false, errors: r.errors.slice(0, 100) });
      }
    }
  };

  const answer = async (socket: net.Socket, line: string): Promise<void> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      socket.write(errorFrame(null, 'parse_error', 'frame is not valid JSON'));
      return;
    }
    const req = RequestSchema.safeParse(parsed);
    if (!req.success) {
      // Echo the id when it is one the client could have meant (a number stays a number, so a client
      // matching answers by id still finds this one); anything else is answered with id null.
      const id = (parsed as { id?: unknown })?.id;
      const safeId =
        typeof id === 'string' ? id.slice(0, 64) : typeof id === 'number' && Number.isSafeInteger(id) ? id : null;
      socket.write(errorFrame(safeId, 'invalid_request', 'a request is {"id", "method", "params"}'));
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<string>((resolve) => {
      timer = setTimeout(
        () => resolve(errorFrame(req.data.id, 'timeout', `no answer within ${o.requestTimeoutMs} ms`)),
        o.requestTimeoutMs,
      );
    });
    try {
      const frame = await Promise.race([handle(req.data), timeout]);
      if (!socket.destroyed) socket.write(frame);
    } catch (err) {
      log(`ipc ${req.data.method} failed: ${(err as Error).message}`);
      if (!socket.destroyed) socket.write(errorFrame(req.data.id, 'internal', 'internal error'));
    } finally {
      clearTimeout(timer);
    }
  };

  function serve(socket: net.Socket): void {
    if (closing) return void socket.destroy();
    if (sockets.size >= o.maxConnections) {
      socket.end(errorFrame(null, 'busy', `too many connections (limit ${o.maxConnections})`));
      return;
    }
    sockets.add(socket);
    socket.setTimeout(o.idleTimeoutMs, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => sockets.delete(socket));
    const splitter = new FrameSplitter(MAX_REQUEST_FRAME);
    // Requests on one connection are answered in order. Flow control: a client that pipelines
    // requests but does not read the answers (an answer can be ~1000x its request) would grow the
    // write buffer without bound, so the next answer waits until the unread output is back under
    // MAX_UNREAD_BYTES, and reading stops while MAX_QUEUED_REQUESTS are waiting. Such a client then
    // goes idle and is closed by the idle timeout.
    let chain = Promise.resolve();
    let queued = 0;
    socket.on('data', (chunk: Buffer) => {
      for (const frame of splitter.push(chunk)) {
        if (frame === null) {
          socket.write(errorFrame(null, 'frame_too_large', `frame longer than ${MAX_REQUEST_FRAME} bytes skipped`));
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

  // If the socket file is removed under us (an over-eager cleanup), put it back.
  const watch = setInterval(() => {
    if (closing || existsSync(o.socketPath)) return;
    log(`ipc socket ${o.socketPath} disappeared; re-creating it`);
    const old = server;
    server = net.createServer((socket) => serve(socket));
    old.close();
    // A cleanup that removed the socket may have removed its directory too: put that back (0700) first.
    try {
      ensurePrivateDir(path.dirname(o.socketPath));
    } catch (err) {
      log(`ipc re-listen failed: ${(err as Error).message}`);
      return;
    }
    listen(server, o.socketPath).catch((err: Error) => log(`ipc re-listen failed: ${err.message}`));
  }, o.watchIntervalMs);
  watch.unref();

  return {
    socketPath: o.socketPath,
    connections: () => sockets.size,
    close: async () => {
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
