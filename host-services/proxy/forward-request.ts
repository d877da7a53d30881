// Forwards one client request to its upstream and the answer back, with the proxy's own lean HTTP/1.1
// client: the request head is written in one piece on a pooled keep-alive connection, the response is
// read by host-services/proxy/http1/response-parser.ts and written to the client's ServerResponse. Node's HTTP client
// (ClientRequest, agent, IncomingMessage) cost about half the proxy's CPU per request; without it the
// guardian roughly doubled its requests per second. One Exchange object per request holds the state and
// receives the socket, parser and client events as method calls (few closures, no listener churn on the
// upstream socket). Body bytes go to taps (the scanners) after they have been forwarded, and both
// directions keep backpressure: nothing is buffered beyond a socket's own buffers and one batch of the
// writes of one event-loop turn (at most BATCH_BYTES and BATCH_WRITES, see `batchRequest`).
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { ResponseParser, type ResponseEvents, type ResponseHead } from './http1/response-parser.js';
import { formatHostPort } from './connect-target.js';
import type { ConnHolder, UpstreamConn, UpstreamPool, UpstreamTarget } from './upstream-pool.js';
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
  /** The request's body framing (requestFraming of its raw headers). */
  framing: { chunked: boolean; hasBody: boolean };
  pool: UpstreamPool;
  upstreamProxy?: UpstreamProxy;
  requestTap?: BodyTap | null;
  /** Called with the response head; returns the tap for the response body, if any. */
  responseTap?: ((head: ResponseHead) => BodyTap | null) | null;
  /** An upstream failure (connect, TLS, reset, malformed answer). `answered` says a 502 went to the client. */
  onUpstreamError: (err: Error & { code?: string }, answered: boolean) => void;
}

/** Request headers that belong to one hop and are never forwarded (Host is written separately). */
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

/**
 * Whether a request has a body and whether it is chunked, read from its raw headers: `req.headers` is
 * built lazily by Node from all of them on first use, work a plain GET does not need.
 */
export function requestFraming(raw: readonly string[]): { chunked: boolean; hasBody: boolean } {
  let chunked = false;
  let length = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!.length;
    if (n === 17 && raw[i]!.toLowerCase() === 'transfer-encoding') chunked = true;
    else if (n === 14 && raw[i]!.toLowerCase() === 'content-length') length = Number(raw[i + 1]) || 0;
  }
  return { chunked, hasBody: chunked || length > 0 };
}

/** Header names listed in Connection (they are hop-by-hop too); null when there are none. */
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
    if (HOP_REQUEST.has(lower) || listed?.has(lower)) {
      if (lower === 'host') host ??= raw[i + 1];
      continue;
    }
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
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_RESPONSE.has(lower) || listed?.has(lower)) continue;
    // A chunked body's length is the proxy's own framing (the parser refuses a length next to it anyway).
    if (head.chunked && lower === 'content-length') continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/**
 * Bytes a batch of body writes may hold before backpressure applies without waiting for the flush: the
 * writes of one turn can otherwise add up to what the kernel hands over in one poll (32 reads of 64 KiB).
 * One 64 KiB read's worth (four TLS records) is what batching is for; 256 KiB measured the same speed
 * and a few MB more peak RSS with 200 connections streaming 10 MiB each.
 */
const BATCH_BYTES = 64 * 1024;
/**
 * Writes a batch may hold before it is written out early (the batch goes on): each held write is an entry
 * in the socket's queue, and tiny chunks (`1\r\nX\r\n` over and over) would otherwise pile up entries
 * far larger than their bytes before BATCH_BYTES is reached.
 */
const BATCH_WRITES = 64;

/** Writes out what a corked socket holds now; it stays corked once, for its batch's flush. */
function writeOutCorked(s: Duplex): void {
  s.uncork();
  s.cork();
}

/**
 * Forwards `f.req` and answers `f.res`. A request without a body on a reused connection that the server
 * closed meanwhile (it gets no answer at all) is sent once more on a new connection.
 */
export function forwardRequest(f: ForwardRequest): void {
  new Exchange(f).begin();
}

class Exchange implements ConnHolder, ResponseEvents {
  private readonly method: string;
  private readonly chunked: boolean;
  private readonly hasBody: boolean;
  private readonly head: string;
  private conn: UpstreamConn | null = null;
  private parser: ResponseParser | null = null;
  /** The client's request body has ended (or there is none). */
  private requestDone: boolean;
  private responseDone = false;
  private abandoned = false;
  private retried = false;
  private requestTap: BodyTap | null;
  private responseTap: BodyTap | null = null;
  /** Request body writes held (corked) until this turn's check phase; see `batchRequest`. */
  private requestBatched = false;
  private requestBatchWrites = 0;
  private requestPaused = false;
  /** Request bodies that come as TLS records or chunked are batched; see `batchRequest`. */
  private readonly batchesRequest: boolean;
  private responseBatched = false;
  private responseBatchWrites = 0;

  constructor(private readonly f: ForwardRequest) {
    const { req } = f;
    this.method = req.method ?? 'GET';
    this.chunked = f.framing.chunked;
    this.hasBody = f.framing.hasBody;
    this.requestDone = !this.hasBody;
    this.head = requestHead(f, this.chunked);
    this.requestTap = f.requestTap ?? null;
    this.batchesRequest = this.chunked || (req.socket as { encrypted?: boolean } | null)?.encrypted === true;
  }

  begin(): void {
    const { req, res } = this.f;
    if (this.hasBody) {
      req.pause();
      req.on('data', (chunk: Buffer) => this.onRequestData(chunk));
      req.once('end', () => this.onRequestEnd());
    } else {
      this.endRequestTap(true);
      req.resume();
    }
    res.once('close', () => this.onClientClose());
    const idle = this.f.pool.take(this.f.target);
    if (idle) this.start(idle);
    else this.open();
  }

  private open(): void {
    this.f.pool.connect(this.f.target).then(
      (conn) => this.start(conn),
      (err: Error) => this.fail(err),
    );
  }

  private start(conn: UpstreamConn): void {
    if (this.abandoned || this.responseDone) {
      this.f.pool.release(conn);
      return;
    }
    this.conn = conn;
    conn.holder = this;
    this.parser = new ResponseParser(this, this.method === 'HEAD');
    // The head and the body bytes already read leave together (they come on the next tick, on resume).
    if (this.hasBody) this.batchRequest(conn.socket);
    conn.socket.write(this.head);
    if (this.hasBody) this.f.req.resume();
  }

  // ---- the client's request body ----

  private onRequestData(chunk: Buffer): void {
    const u = this.conn?.socket;
    if (u && !u.destroyed) {
      if (this.batchesRequest) this.batchRequest(u);
      if (this.chunked) {
        u.write(`${chunk.length.toString(16)}\r\n`);
        u.write(chunk);
        u.write('\r\n');
      } else {
        u.write(chunk);
      }
      if (this.requestBatched && ++this.requestBatchWrites >= BATCH_WRITES) {
        this.requestBatchWrites = 0;
        writeOutCorked(u);
      }
      // Unbatched, each write is judged; a batch when it is flushed, or at once when it grew this large.
      if (this.requestBatched ? u.writableLength >= BATCH_BYTES : u.writableNeedDrain) this.pauseRequest(u);
    }
    this.requestTap?.write(chunk);
  }

  /**
   * The body chunks that arrive in one turn of the event loop leave together: the upstream socket is
   * corked at the first and uncorked in that turn's check phase (setImmediate, same loop iteration, no
   * timer). A 64 KiB read over TLS comes as four 16 KiB records, and a chunked body as three writes per
   * chunk; batched, they are one writev (over TLS one SSL_write) instead of one syscall each. A plain-HTTP
   * body with a length arrives in 64 KiB reads, one write each: batching those measured 4-5% slower at 32
   * connections, so they are written at once.
   */
  private batchRequest(u: Duplex): void {
    if (this.requestBatched) return;
    this.requestBatched = true;
    u.cork();
    setImmediate(() => {
      this.requestBatched = false;
      this.requestBatchWrites = 0;
      u.uncork();
      // Only while this exchange still holds the connection (it may have been pooled meanwhile).
      if (u.writableNeedDrain && !u.destroyed && this.conn?.socket === u) this.pauseRequest(u);
    });
  }

  /** Backpressure: the client's upload waits until the upstream socket has written what it holds. */
  private pauseRequest(u: Duplex): void {
    if (this.requestPaused) return;
    this.requestPaused = true;
    const req = this.f.req;
    req.pause();
    u.once('drain', () => {
      this.requestPaused = false;
      req.resume();
    });
  }

  private onRequestEnd(): void {
    this.requestDone = true;
    const u = this.conn?.socket;
    if (u && !u.destroyed) {
      if (this.chunked) u.write('0\r\n\r\n');
      // The body's last bytes leave before its scan at the end (a small body is scanned on this thread).
      if (this.requestBatched) writeOutCorked(u);
    }
    this.endRequestTap(true);
    if (this.responseDone) this.finishUpstream();
  }

  private endRequestTap(complete: boolean): void {
    const tap = this.requestTap;
    this.requestTap = null;
    tap?.end(complete);
  }

  private endResponseTap(complete: boolean): void {
    const tap = this.responseTap;
    this.responseTap = null;
    tap?.end(complete);
  }

  // ---- the client going away ----

  private onClientClose(): void {
    // An upload still running when the connection closes (even after the answer) is scanned as far as it came.
    this.endRequestTap(false);
    const { res } = this.f;
    if (res.writableFinished && this.responseDone) return;
    this.abandoned = true;
    this.endResponseTap(false);
    this.dropUpstream();
  }

  // ---- upstream socket events (ConnHolder) ----

  onSocketData(d: Buffer): void {
    try {
      this.parser!.feed(d);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  onSocketEnd(): void {
    try {
      this.parser!.eof();
    } catch (err) {
      this.gone(err as Error);
    }
  }

  onSocketClose(): void {
    this.gone(Object.assign(new Error('upstream closed the connection'), { code: 'ECONNRESET' }));
  }

  onSocketError(err: Error): void {
    this.gone(err);
  }

  private gone(err: Error & { code?: string }): void {
    if (this.responseDone || this.abandoned) return;
    // A reused connection the server had already closed: nothing was answered, so ask again once.
    if (this.conn?.reused && this.parser?.untouched && !this.hasBody && IDEMPOTENT.has(this.method) && !this.retried) {
      this.retried = true;
      this.dropUpstream();
      this.open();
      return;
    }
    this.fail(err);
  }

  // ---- the response (ResponseEvents) ----

  onHead(h: ResponseHead): void {
    const f = this.f;
    if (f.upstreamProxy && !f.target.tls && h.status === 407) {
      // The upstream proxy refusing the guardian's own credentials: relaying its 407 would tell the client
      // (with that proxy's realm) that the client's credentials are wrong.
      throw Object.assign(
        new Error(`upstream proxy ${formatHostPort(f.upstreamProxy)} refused the guardian's credentials (407)`),
        { code: 'EPROXY' },
      );
    }
    f.res.writeHead(h.status, h.reason || undefined, responseHeaders(h));
    this.responseTap = f.responseTap?.(h) ?? null;
  }

  onBody(chunk: Buffer): void {
    const res = this.f.res;
    const sock = res.socket;
    this.batchResponse(sock);
    res.write(chunk);
    if (this.responseBatched && ++this.responseBatchWrites >= BATCH_WRITES && sock) {
      this.responseBatchWrites = 0;
      writeOutCorked(sock);
    }
    if (this.responseBatched ? res.writableLength >= BATCH_BYTES : res.writableNeedDrain) this.pauseUpstream();
    this.responseTap?.write(chunk);
  }

  /**
   * The response's chunks of one turn leave together, as the request's do (`batchRequest`): over TLS the
   * upstream's records come 16 KiB at a time. The client's socket itself is corked, so the uncork matches
   * the cork even if the response lets go of its socket meanwhile.
   */
  private batchResponse(sock: Duplex | null): void {
    if (this.responseBatched || !sock || sock.destroyed) return;
    this.responseBatched = true;
    sock.cork();
    setImmediate(() => {
      this.responseBatched = false;
      this.responseBatchWrites = 0;
      sock.uncork();
      if (this.f.res.writableNeedDrain) this.pauseUpstream();
    });
  }

  /** Backpressure: the upstream's answer waits until the client has taken what the guardian holds. */
  private pauseUpstream(): void {
    const u = this.conn?.socket;
    if (!u || u.isPaused()) return;
    u.pause();
    // Only while this exchange still holds the connection: once pooled, it may be paused by another.
    this.f.res.once('drain', () => {
      if (this.conn?.socket === u) u.resume();
    });
  }

  onEnd(): void {
    this.responseDone = true;
    this.f.res.end();
    this.endResponseTap(true);
    // The server may answer before the whole upload arrived; then the connection cannot be reused.
    if (this.requestDone) this.finishUpstream();
    else this.dropUpstream();
  }

  // ---- endings ----

  private finishUpstream(): void {
    const conn = this.conn;
    if (!conn) return;
    this.conn = null;
    if (this.parser!.reusable) this.f.pool.release(conn);
    else {
      conn.holder = null;
      conn.socket.destroy();
    }
  }

  private dropUpstream(): void {
    const conn = this.conn;
    if (!conn) return;
    this.conn = null;
    conn.holder = null;
    conn.socket.destroy();
  }

  private fail(err: Error & { code?: string }): void {
    if (this.responseDone || this.abandoned) return;
    this.responseDone = true;
    this.dropUpstream();
    this.endResponseTap(false);
    const { req, res } = this.f;
    // Whatever the client still uploads is read and dropped, so its connection is not left stuck; it is
    // still scanned (the request tap ends with the upload, or when the client goes): a secret posted to a
    // host that refused the connection is an attempt worth a finding. A body waits paused until the
    // upstream connection is up, so without this a refused connection meant an unscanned body.
    if (!this.requestDone) req.resume();
    else this.endRequestTap(true);
    if (!res.headersSent) {
      const body = `traffic-guardian: upstream ${formatHostPort(this.f.target)} failed: ${err.code ?? err.message}\n`;
      res.writeHead(502, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        connection: 'close',
      });
      res.end(body);
      this.f.onUpstreamError(err, true);
    } else {
      // Mid-body failure: cut the client connection so it sees a truncated message, never a silent one.
      res.destroy();
      this.f.onUpstreamError(err, false);
    }
  }
}
