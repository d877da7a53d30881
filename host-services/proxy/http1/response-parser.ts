// An incremental HTTP/1.1 response parser for the proxy's upstream side. It reads just what a proxy
// needs: the status line and headers, the body framing (Content-Length, chunked, or until close), and
// the body bytes with any chunked framing removed. Node's own HTTP client does far more per request
// (an IncomingMessage, an agent's bookkeeping, header objects); this is what let the guardian reach
// its throughput target. It is strict: anything ambiguous is an error, answered upstream-side as 502.

export interface ResponseHead {
  /** `1.0` or `1.1`. */
  version: string;
  status: number;
  reason: string;
  /** Alternating names and values, as received. */
  rawHeaders: string[];
  /** Content-Length, or -1 when there is none. */
  contentLength: number;
  /** The body is chunked (Transfer-Encoding ends in `chunked`). */
  chunked: boolean;
  /** First Content-Type / Content-Encoding values, if any (the proxy's scanners need them). */
  contentType?: string;
  contentEncoding?: string;
}

export interface ResponseEvents {
  onHead(head: ResponseHead): void;
  /** Body bytes, chunked framing removed. */
  onBody(chunk: Buffer): void;
  /** The message is complete. */
  onEnd(): void;
}

export class ResponseParseError extends Error {
  readonly code = 'HPE_UPSTREAM_RESPONSE';
}

/** Longest response head accepted (status line and headers). */
export const MAX_RESPONSE_HEAD = 64 * 1024;
/** Longest chunk-size or trailer line accepted. */
const MAX_LINE = 4096;
/** Most interim (1xx) responses skipped before the final one. */
const MAX_INTERIM = 16;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// The reason phrase may hold visible characters, spaces, tabs and obs-text; never a control character
// (a bare LF there would hide the next header inside it).
const STATUS_LINE = /^HTTP\/(1\.[01]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;
const CONTENT_LENGTH = /^[0-9]{1,15}$/;
/** Control characters other than HTAB are not allowed in a header value. */
const CONTROL = /[\0-\x08\x0a-\x1f\x7f]/;
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,12})[ \t]*(?:;.*)?$/;
const CRLF2 = Buffer.from('\r\n\r\n');

const enum State {
  Head,
  Fixed,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

/** How many bytes at the end of `buf` are a start of `\r\n\r\n` (0 to 3). */
function partialTerminator(buf: Buffer): number {
  const n = buf.length;
  if (n >= 3 && buf[n - 3] === 0x0d && buf[n - 2] === 0x0a && buf[n - 1] === 0x0d) return 3;
  if (n >= 2 && buf[n - 2] === 0x0d && buf[n - 1] === 0x0a) return 2;
  return n >= 1 && buf[n - 1] === 0x0d ? 1 : 0;
}

function fail(msg: string): never {
  throw new ResponseParseError(msg);
}

export class ResponseParser {
  private state = State.Head;
  private pending: Buffer | null = null;
  private remaining = 0;
  private interim = 0;
  private keepAlive = false;

  /** `headRequest`: the request was HEAD, so the response has no body whatever its headers say. */
  constructor(
    private readonly ev: ResponseEvents,
    private readonly headRequest: boolean,
  ) {}

  get done(): boolean {
    return this.state === State.Done;
  }

  /** Whether the connection may carry another request once this response is done. */
  get reusable(): boolean {
    return this.state === State.Done && this.keepAlive;
  }

  /** True while no byte of the final response head has been parsed (a retry is still possible). */
  get untouched(): boolean {
    return this.state === State.Head && this.pending === null && this.interim === 0;
  }

  /**
   * Feeds bytes from the upstream. Bytes after the end of the message mean the upstream answered more
   * than was asked: the connection is then not reused. Throws ResponseParseError on a malformed response.
   */
  feed(data: Buffer): void {
    let buf = data;
    while (buf.length > 0) {
      switch (this.state) {
        case State.Head:
          buf = this.readHead(buf);
          break;
        case State.Fixed:
          buf = this.readBody(buf);
          if (this.remaining === 0) this.finish();
          break;
        case State.ChunkSize:
        case State.ChunkDataEnd:
        case State.Trailers:
          buf = this.readLine(buf);
          break;
        case State.ChunkData:
          buf = this.readBody(buf);
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          break;
        case State.UntilClose:
          this.ev.onBody(buf);
          return;
        case State.Done:
          // More than one response to one request: not a connection to use again.
          this.keepAlive = false;
          return;
      }
    }
  }

  /** The upstream closed its side. Completes a body that runs until close; anything else was cut short. */
  eof(): void {
    if (this.state === State.Done) return;
    if (this.state === State.UntilClose) {
      this.finish();
      return;
    }
    fail(this.state === State.Head ? 'upstream closed before a response' : 'upstream closed mid-body');
  }

  /** Hands on up to `remaining` body bytes (of a fixed-length body or a chunk); returns what follows them. */
  private readBody(buf: Buffer): Buffer {
    const n = Math.min(buf.length, this.remaining);
    this.remaining -= n;
    this.ev.onBody(n === buf.length ? buf : buf.subarray(0, n));
    return buf.subarray(n);
  }

  private finish(): void {
    this.state = State.Done;
    this.ev.onEnd();
  }

  private readHead(data: Buffer): Buffer {
    let buf = data;
    let from = 0;
    if (this.pending) {
      from = Math.max(0, this.pending.length - 3);
      buf = Buffer.concat([this.pending, data]);
      this.pending = null;
    }
    const end = buf.indexOf(CRLF2, from);
    if (end === -1) {
      // The limit is on where the blank line starts; its first bytes may already be here.
      if (buf.length - partialTerminator(buf) > MAX_RESPONSE_HEAD) fail('response head too large');
      this.pending = buf;
      return Buffer.alloc(0);
    }
    if (end > MAX_RESPONSE_HEAD) fail('response head too large');
    this.parseHead(buf.toString('latin1', 0, end));
    return buf.subarray(end + 4);
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const m = STATUS_LINE.exec(lines[0]!);
    if (!m) fail('malformed status line');
    const version = m[1]!;
    const status = Number(m[2]);
    if (status < 100) fail('malformed status code');
    const rawHeaders: string[] = [];
    let contentLength = -1;
    let chunked = false;
    let transferEncoding = false;
    let connection = '';
    let contentType: string | undefined;
    let contentEncoding: string | undefined;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) fail('malformed header line');
      const name = line.slice(0, colon);
      if (!TOKEN.test(name)) fail('malformed header name');
      const raw = line.slice(colon + 1);
      if (CONTROL.test(raw)) fail('malformed header value');
      // Optional whitespace around a value is spaces and tabs only (String.trim would also eat \v, \f, \xa0).
      let from = 0;
      let to = raw.length;
      while (from < to && (raw.charCodeAt(from) === 0x20 || raw.charCodeAt(from) === 0x09)) from++;
      while (to > from && (raw.charCodeAt(to - 1) === 0x20 || raw.charCodeAt(to - 1) === 0x09)) to--;
      const value = from === 0 && to === raw.length ? raw : raw.slice(from, to);
      rawHeaders.push(name, value);
      // Only the names the framing and the scanners need are compared (by length first: cheap).
      const n = name.length;
      const lower = n === 14 || n === 17 || n === 10 || n === 12 || n === 16 ? name.toLowerCase() : '';
      if (lower === 'content-length') {
        if (!CONTENT_LENGTH.test(value)) fail('malformed content-length');
        const n = Number(value);
        if (contentLength !== -1 && contentLength !== n) fail('conflicting content-length');
        contentLength = n;
      } else if (lower === 'transfer-encoding') {
        transferEncoding = true;
        const codings = value.toLowerCase().split(',');
        chunked = codings[codings.length - 1]!.trim() === 'chunked';
      } else if (lower === 'connection') {
        connection += `,${value.toLowerCase()}`;
      } else if (lower === 'content-type') {
        contentType ??= value;
      } else if (lower === 'content-encoding') {
        contentEncoding ??= value;
      }
    }
    if (status < 200) {
      // 100 Continue, 103 Early Hints: interim answers, skipped. A 101 was never asked for.
      if (status === 101) fail('unexpected 101 Switching Protocols');
      if (++this.interim > MAX_INTERIM) fail('too many interim responses');
      return;
    }
    const tokens = connection.split(',').map((t) => t.trim());
    // `close` ends the connection whatever the version; HTTP/1.0 persists only when it says keep-alive.
    this.keepAlive = !tokens.includes('close') && (version === '1.1' || tokens.includes('keep-alive'));
    // Framing is settled (and refused if ambiguous) before the head is handed on.
    let next: State;
    if (this.headRequest || status === 204 || status === 304) {
      next = State.Done;
    } else if (transferEncoding) {
      // Both framings at once is how response splitting and smuggling start: refused, like Node's parser does.
      if (contentLength !== -1) fail('both transfer-encoding and content-length');
      next = chunked ? State.ChunkSize : State.UntilClose;
    } else if (contentLength !== -1) {
      next = contentLength === 0 ? State.Done : State.Fixed;
      this.remaining = contentLength;
    } else {
      next = State.UntilClose;
    }
    if (next === State.UntilClose) this.keepAlive = false;
    this.ev.onHead({
      version,
      status,
      reason: m[3] ?? '',
      rawHeaders,
      contentLength,
      chunked: next === State.ChunkSize,
      contentType,
      contentEncoding,
    });
    if (next === State.Done) this.finish();
    else this.state = next;
  }

  /** Reads one CRLF-terminated line of chunked framing (size, data end, trailer). */
  private readLine(data: Buffer): Buffer {
    let buf = data;
    if (this.pending) {
      buf = Buffer.concat([this.pending, data]);
      this.pending = null;
    }
    const nl = buf.indexOf(0x0a);
    if (nl === -1) {
      if (buf.length > MAX_LINE) fail('chunk framing line too long');
      this.pending = buf;
      return Buffer.alloc(0);
    }
    if (nl === 0 || buf[nl - 1] !== 0x0d || nl > MAX_LINE) fail('malformed chunk framing');
    const line = buf.toString('latin1', 0, nl - 1);
    const rest = buf.subarray(nl + 1);
    if (this.state === State.ChunkDataEnd) {
      if (line !== '') fail('malformed chunk framing');
      this.state = State.ChunkSize;
    } else if (this.state === State.ChunkSize) {
      const m = CHUNK_SIZE.exec(line);
      if (!m) fail('malformed chunk size');
      const size = Number.parseInt(m[1]!, 16);
      if (size === 0) this.state = State.Trailers;
      else {
        this.remaining = size;
        this.state = State.ChunkData;
      }
    } else if (line === '') {
      // Trailers are read and dropped (the client's framing is the proxy's own).
      this.finish();
    }
    return rest;
  }
}
