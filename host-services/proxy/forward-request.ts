// Forwards one client request to its upstream and the answer back, with the proxy's own lean HTTP/1.1
// client: the request head is written in one piece on a pooled keep-alive connection, the response is
// read by lib/http1/response-parser.ts and written to the client's ServerResponse. Node's HTTP client
// (ClientRequest, agent, IncomingMessage) cost about half the proxy's CPU per request; without it the
// guardian roughly doubled its requests per second. Body bytes are handed to taps (the scanners) after
// they have been forwarded, and both directions keep backpressure: nothing is buffered beyond a socket's
// own buffers.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { ResponseParser, type ResponseHead } from '../../lib/http1/response-parser.js';
import { formatHostPort } from './connect-target.js';
import type { UpstreamPool, UpstreamTarget } from './upstream-pool.js';
import type { UpstreamProxy } from './upstream-proxy.js';

/** Receives a body's bytes after they were forwarded. */
export interface BodyTap {
  write(chunk: Buffer): void;
  /** `complete` is false when the message was cut off. */
  end(complete: boolean): void;
}

export interface ForwardRequest {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  target: UpstreamTarget;
  /** Origin-form request target (`/path?query`). */
  path: string;
  /** True when the client named the target in absolute form: its Host header is then replaced. */
  absolute: boolean;
  pool: UpstreamPool;
  upstreamProxy?: UpstreamProxy;
  requestTap?: BodyTap | null;
  /** Called with the response head; returns the tap for the response body, if any. */
  responseTap?: (head: ResponseHead) => BodyTap | null;
  /** An upstream failure (connect, TLS, reset, malformed answer). `answered` says a 502 went to the client. */
  onUpstreamError: (err: Error & { code?: string }, answered: boolean) => void;
}

/** Request headers that belong to one hop and are never forwarded. */
const HOP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);
/** Response headers that belong to one hop: the client's framing and connection are the proxy's own. */
const HOP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'trailer',
]);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Header names listed in Connection (they are hop-by-hop too). */
function connectionListed(raw: string[]): Set<string> | null {
  let out: Set<string> | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toLowerCase() === 'connection') {
      for (const t of raw[i + 1]!.split(',')) {
        const name = t.trim().toLowerCase();
        if (name && name !== 'close' && name !== 'keep-alive') (out ??= new Set()).add(name);
      }
    }
  }
  return out;
}

function requestHead(f: ForwardRequest, chunked: boolean): string {
  const { req, target, path } = f;
  const viaProxy = f.upstreamProxy && !target.tls;
  const authority = formatHostPort(target);
  const bare = target.host.includes(':') ? `[${target.host}]` : target.host;
  const hostHeader = target.port === (target.tls ? 443 : 80) ? bare : authority;
  let head = `${req.method ?? 'GET'} ${viaProxy ? `http://${authority}${path}` : path} HTTP/1.1\r\n`;
  const raw = req.rawHeaders;
  const listed = connectionListed(raw);
  let host: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'host') host ??= raw[i + 1];
    if (HOP_REQUEST.has(lower) || listed?.has(lower)) continue;
    head += `${name}: ${raw[i + 1]}\r\n`;
  }
  // In absolute form the target's authority is the host (RFC 9112 §3.2.2); otherwise the client's Host.
  head += `Host: ${f.absolute || host === undefined ? hostHeader : host}\r\n`;
  if (chunked) head += 'Transfer-Encoding: chunked\r\n';
  if (viaProxy && f.upstreamProxy!.authorization) head += `Proxy-Authorization: ${f.upstreamProxy!.authorization}\r\n`;
  return `${head}\r\n`;
}

function responseHeaders(head: ResponseHead): string[] {
  const raw = head.rawHeaders;
  const listed = connectionListed(raw);
  let chunked = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'transfer-encoding') chunked = true;
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_RESPONSE.has(lower) || listed?.has(lower)) continue;
    // With Transfer-Encoding the length is not what arrives (the body was re-framed): the client's framing is ours.
    if (chunked && lower === 'content-length') continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/**
 * Forwards `f.req` and answers `f.res`. A request without a body on a reused connection that the server
 * closed meanwhile (it gets no answer at all) is sent once more on a new connection.
 */
export function forwardRequest(f: ForwardRequest): void {
  const { req, res } = f;
  const method = req.method ?? 'GET';
  const te = req.headers['transfer-encoding'];
  const chunked = te !== undefined;
  const hasBody = chunked || Number(req.headers['content-length'] ?? 0) > 0;
  const head = requestHead(f, chunked);

  let upstream: Duplex | null = null;
  let requestSent = !hasBody;
  let requestDone = false; // the client's request body has ended (or there is none)
  let responseDone = false;
  let abandoned = false;
  let responseTap: BodyTap | null = null;
  let retried = false;
  let parser: ResponseParser;

  const requestTap = f.requestTap ?? null;
  let requestTapEnded = false;
  const endRequestTap = (complete: boolean) => {
    if (requestTapEnded || !requestTap) return;
    requestTapEnded = true;
    requestTap.end(complete);
  };

  // ---- client request body ----
  const onReqData = (chunk: Buffer) => {
    const u = upstream;
    if (u && !u.destroyed) {
      let ok: boolean;
      if (chunked) {
        u.write(`${chunk.length.toString(16)}\r\n`);
        u.write(chunk);
        ok = u.write('\r\n');
      } else {
        ok = u.write(chunk);
      }
      if (!ok) {
        req.pause();
        u.once('drain', () => req.resume());
      }
    }
    requestTap?.write(chunk);
  };
  const onReqEnd = () => {
    requestDone = true;
    if (chunked && upstream && !upstream.destroyed) upstream.write('0\r\n\r\n');
    requestSent = true;
    endRequestTap(true);
    if (responseDone && upstream) finishUpstream();
  };
  if (hasBody) {
    req.pause();
    req.on('data', onReqData);
    req.once('end', onReqEnd);
  } else {
    requestDone = true;
    endRequestTap(true);
    req.resume();
  }

  // ---- client going away ----
  res.once('close', () => {
    if (res.writableFinished && responseDone) return;
    abandoned = true;
    endRequestTap(false);
    responseTap?.end(false);
    responseTap = null;
    if (upstream) {
      detach();
      upstream.destroy();
      upstream = null;
    }
  });

  // ---- upstream ----
  const fail = (err: Error & { code?: string }) => {
    if (responseDone || abandoned) return;
    responseDone = true;
    if (upstream) {
      detach();
      upstream.destroy();
      upstream = null;
    }
    responseTap?.end(false);
    responseTap = null;
    endRequestTap(false);
    // Whatever the client still uploads is read and dropped, so its connection is not left stuck.
    if (!requestDone) req.resume();
    if (!res.headersSent) {
      const dest = formatHostPort(f.target);
      const body = `traffic-guardian: upstream ${dest} failed: ${err.code ?? err.message}\n`;
      res.writeHead(502, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        connection: 'close',
      });
      res.end(body);
      f.onUpstreamError(err, true);
    } else {
      // Mid-body failure: cut the client connection so it sees a truncated message, never a silent one.
      res.destroy();
      f.onUpstreamError(err, false);
    }
  };

  const events = {
    onHead: (h: ResponseHead) => {
      if (f.upstreamProxy && !f.target.tls && h.status === 407) {
        // The upstream proxy refusing the guardian's own credentials: relaying its 407 would tell the client
        // (with that proxy's realm) that the client's credentials are wrong.
        throw Object.assign(
          new Error(`upstream proxy ${formatHostPort(f.upstreamProxy)} refused the guardian's credentials (407)`),
          { code: 'EPROXY' },
        );
      }
      res.writeHead(h.status, h.reason || undefined, responseHeaders(h));
      responseTap = f.responseTap?.(h) ?? null;
    },
    onBody: (chunk: Buffer) => {
      const u = upstream;
      if (!res.write(chunk) && u && !u.isPaused()) {
        u.pause();
        res.once('drain', () => u.resume());
      }
      responseTap?.write(chunk);
    },
    onEnd: () => {
      responseDone = true;
      res.end();
      responseTap?.end(true);
      responseTap = null;
      if (requestDone) finishUpstream();
      // Else the server answered before the whole upload arrived; the connection cannot be reused.
      else if (upstream) {
        detach();
        upstream.destroy();
        upstream = null;
      }
    },
  };

  const onData = (d: Buffer) => {
    try {
      parser.feed(d);
    } catch (err) {
      fail(err as Error);
    }
  };
  const onEnd = () => {
    try {
      parser.eof();
    } catch (err) {
      gone(err as Error);
    }
  };
  const onClose = () => gone(Object.assign(new Error('upstream closed the connection'), { code: 'ECONNRESET' }));
  const onError = (err: Error) => gone(err);
  const gone = (err: Error & { code?: string }) => {
    if (responseDone || abandoned) return;
    // A reused connection the server had already closed: nothing was answered, so ask again once.
    if (upstreamReused && parser.untouched && !hasBody && IDEMPOTENT.has(method) && !retried) {
      retried = true;
      if (upstream) {
        detach();
        upstream.destroy();
        upstream = null;
      }
      void f.pool.fresh(f.target).then(start, fail);
      return;
    }
    fail(err);
  };
  let upstreamReused = false;

  const detach = () => {
    const u = upstream;
    if (!u) return;
    u.off('data', onData);
    u.off('end', onEnd);
    u.off('close', onClose);
    u.off('error', onError);
    u.on('error', () => undefined);
  };

  const finishUpstream = () => {
    const u = upstream;
    if (!u) return;
    detach();
    upstream = null;
    if (parser.reusable && requestSent) {
      u.removeAllListeners('error');
      if (u.isPaused()) u.resume();
      f.pool.release(f.target, u);
    } else {
      u.destroy();
    }
  };

  const start = ({ socket, reused }: { socket: Duplex; reused: boolean }) => {
    if (abandoned || responseDone) {
      f.pool.release(f.target, socket);
      return;
    }
    upstream = socket;
    upstreamReused = reused;
    parser = new ResponseParser(events, method === 'HEAD');
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onClose);
    socket.on('error', onError);
    socket.write(head);
    if (hasBody) req.resume();
  };

  f.pool.lease(f.target).then(start, (err: Error) => fail(err));
}
