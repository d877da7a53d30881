// One IPC client connection: frames split and bounded, requests answered in order, each within the
// request timeout, and flow control against a client that sends faster than it reads.
import type net from 'node:net';
import {
  FrameSplitter,
  MAX_FRAME_BYTES,
  METHODS,
  describeParamsIssue,
  errorFrame,
  parseRequest,
  successFrame,
  type Method,
  type ParsedRequest,
} from '../lib/ipc-protocol.js';
import { HANDLERS, type HandlerContext } from './ipc-handlers.js';

/** Requests queued on one connection before the server stops reading from it. */
const MAX_QUEUED_REQUESTS = 32;
/** Answer bytes a client may leave unread before the server stops answering (and reading) it. */
const MAX_UNREAD_BYTES = 1024 * 1024;

export interface ConnectionOptions extends HandlerContext {
  requestTimeoutMs: number;
  log: (msg: string) => void;
}

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

/** Runs a method's handler; the params were validated against the same method's schema. */
function runHandler<M extends Method>(method: M, params: unknown, ctx: HandlerContext): unknown {
  const handler = HANDLERS[method] as (p: unknown, c: HandlerContext) => unknown;
  return handler(params, ctx);
}

/** The answer frame for a valid request: the handler's result, checked against its schema. */
async function handle(req: Extract<ParsedRequest, { ok: true }>, o: ConnectionOptions): Promise<string> {
  const out = METHODS[req.method].result.safeParse(await runHandler(req.method, req.params, o));
  if (!out.success) {
    // Never send what the protocol does not describe (an extra field could carry anything).
    o.log(`ipc ${req.method}: answer does not match the protocol: ${describeParamsIssue(out.error.issues)}`);
    return errorFrame(req.id, 'internal', 'internal error');
  }
  return successFrame(req.id, out.data);
}

/** Answers one request line: an error frame for anything malformed, a timeout frame for a slow answer. */
async function answer(socket: net.Socket, line: string, o: ConnectionOptions): Promise<void> {
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
  const work = handle(req, o);
  // A late failure after the timeout answered must not become an unhandled rejection.
  work.catch(() => undefined);
  try {
    const frame = await Promise.race([work, timeout]);
    if (!socket.destroyed) socket.write(frame);
  } catch (err) {
    o.log(`ipc ${req.method} failed: ${(err as Error).message}`);
    if (!socket.destroyed) socket.write(errorFrame(req.id, 'internal', 'internal error'));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Serves one accepted connection until it closes. Requests on it are answered in order. An over-long
 * frame is answered `frame_too_large` (id null: its id was never read) and skipped up to its newline;
 * the connection stays usable, since the splitter never holds more than MAX_FRAME_BYTES of it.
 * Flow control: a client that pipelines requests but does not read the answers (an answer can be ~1000x
 * its request) would grow the write buffer without bound, so the next answer waits until the unread
 * output is back under MAX_UNREAD_BYTES, and reading stops while MAX_QUEUED_REQUESTS are waiting. Such a
 * client then goes idle and is closed by the idle timeout.
 */
export function serveConnection(socket: net.Socket, o: ConnectionOptions): void {
  const splitter = new FrameSplitter(MAX_FRAME_BYTES);
  let chain = Promise.resolve();
  let queued = 0;
  // Every answer, an over-long frame's included, goes through the one chain, so answers keep request order.
  const enqueue = (work: () => Promise<void> | void) => {
    queued++;
    if (queued >= MAX_QUEUED_REQUESTS) socket.pause();
    chain = chain
      .then(work)
      .then(() => whenWritable(socket))
      .catch(() => undefined)
      .then(() => {
        queued--;
        if (queued < MAX_QUEUED_REQUESTS && socket.isPaused() && !socket.destroyed) socket.resume();
      });
  };
  socket.on('data', (chunk: Buffer) => {
    for (const frame of splitter.push(chunk)) {
      if (frame === null) {
        enqueue(() => {
          if (!socket.destroyed) {
            socket.write(errorFrame(null, 'frame_too_large', `frame longer than ${MAX_FRAME_BYTES} bytes skipped`));
          }
        });
      } else if (frame.trim() !== '') {
        enqueue(() => answer(socket, frame, o));
      }
    }
  });
}
