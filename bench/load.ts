// A minimal HTTP/1.1 keep-alive load client on raw sockets (much cheaper than node:http, so the
// generator is not what limits the numbers). Each connection writes its next request as soon as the
// previous response is complete; responses are parsed just enough to find their end (Content-Length,
// or chunked framing if a hop re-frames them). Every wait is bounded: dials, requests and whole runs.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

export type Dial = () => Promise<Duplex>;

export interface LoadResult {
  connections: number;
  requests: number;
  /** Non-2xx responses, broken connections and timeouts. */
  errors: number;
  rps: number;
  /** Time measured (sum of the measured windows). */
  measured_ms: number;
  p50_ms: number;
  p99_ms: number;
}

const DIAL_TIMEOUT_MS = 10_000;
const MAX_HEAD_BYTES = 64 * 1024;

/** Rejects if `p` has not settled within `ms`, calling `onTimeout` (e.g. to destroy a socket). */
function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new Error(`${what}: no answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export function dialTcp(port: number): Dial {
  return () => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const ready = new Promise<Duplex>((resolve, reject) => {
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });
    return withTimeout(ready, DIAL_TIMEOUT_MS, `connect 127.0.0.1:${port}`, () => s.destroy());
  };
}

export function dialTls(port: number, ca: string, servername = 'localhost'): Dial {
  return () => {
    const s = tls.connect({ host: '127.0.0.1', port, ca: [ca], servername });
    s.setNoDelay(true);
    const ready = new Promise<Duplex>((resolve, reject) => {
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
    return withTimeout(ready, DIAL_TIMEOUT_MS, `TLS to 127.0.0.1:${port}`, () => s.destroy());
  };
}

/** Opens a CONNECT tunnel through the proxy at 127.0.0.1:`proxyPort` to `target` (host:port). */
export function connectTunnel(proxyPort: number, target: string): Promise<net.Socket> {
  const s = net.connect({ host: '127.0.0.1', port: proxyPort, noDelay: true });
  const ready = new Promise<net.Socket>((resolve, reject) => {
    s.once('connect', () => s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`));
    let head = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) {
        if (head.length > MAX_HEAD_BYTES) reject(new Error('CONNECT: answer head too long'));
        return;
      }
      s.off('data', onData);
      const status = head.subarray(0, head.indexOf('\r\n')).toString('latin1');
      if (!/^HTTP\/1\.[01] 200/.test(status)) return reject(new Error(`CONNECT ${target} failed: ${status}`));
      // Bytes after the CONNECT answer belong to the tunnel (none are expected before we speak).
      const rest = head.subarray(end + 4);
      if (rest.length) s.unshift(rest);
      resolve(s);
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('close', () => reject(new Error(`CONNECT ${target}: closed before answering`)));
  });
  return withTimeout(ready, DIAL_TIMEOUT_MS, `CONNECT ${target}`, () => s.destroy());
}

/** CONNECT through a proxy, then (when `tlsCa` is given) TLS over the tunnel trusting `tlsCa`. */
export function dialViaConnect(proxyPort: number, target: string, tlsCa?: string, servername = 'localhost'): Dial {
  return async () => {
    const raw = await connectTunnel(proxyPort, target);
    if (!tlsCa) return raw;
    const t = tls.connect({ socket: raw, ca: [tlsCa], servername });
    const ready = new Promise<Duplex>((resolve, reject) => {
      t.once('secureConnect', () => resolve(t));
      t.once('error', reject);
    });
    return withTimeout(ready, DIAL_TIMEOUT_MS, `TLS to ${servername} via CONNECT`, () => t.destroy());
  };
}

// ---- response parsing ----

type State = 'head' | 'body' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailer' | 'until-close';

export interface ResponseEvents {
  /** Status line and header block parsed. */
  onHead?(status: number, head: string): void;
  /** Body bytes as they arrive (chunk framing removed). */
  onBody?(chunk: Buffer): void;
  /** The response is complete (never called for a body that ends only with the connection). */
  onEnd(status: number): void;
  onError(err: Error): void;
}

/**
 * Incremental HTTP/1.1 response parser for one connection (responses in sequence). Heads and chunk-size
 * lines are buffered; bodies are handed on without copying.
 */
export class ResponseParser {
  private state: State = 'head';
  private pending: Buffer | null = null;
  private remaining = 0;
  private status = 0;

  constructor(private readonly ev: ResponseEvents) {}

  push(d: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, d]) : d;
    this.pending = null;
    let off = 0;
    while (off < buf.length) {
      switch (this.state) {
        case 'head': {
          const i = buf.indexOf('\r\n\r\n', off);
          if (i < 0) return this.keep(buf, off);
          const head = buf.subarray(off, i).toString('latin1');
          off = i + 4;
          const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
          if (!m) return this.ev.onError(new Error(`bad status line: ${head.slice(0, 80)}`));
          this.status = Number(m[1]);
          if (this.status >= 100 && this.status < 200) break; // interim (100 Continue): next head follows
          this.ev.onHead?.(this.status, head);
          if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) this.state = 'chunk-size';
          else {
            const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
            if (cl) {
              this.remaining = Number(cl[1]);
              this.state = 'body';
              if (this.remaining === 0) this.end();
            } else if (this.status === 204 || this.status === 304) this.end();
            else this.state = 'until-close';
          }
          break;
        }
        case 'body':
        case 'chunk-data': {
          const take = Math.min(this.remaining, buf.length - off);
          this.ev.onBody?.(buf.subarray(off, off + take));
          this.remaining -= take;
          off += take;
          if (this.remaining === 0) {
            if (this.state === 'body') this.end();
            else {
              this.state = 'chunk-crlf';
              this.remaining = 2;
            }
          }
          break;
        }
        case 'chunk-crlf': {
          const take = Math.min(this.remaining, buf.length - off);
          this.remaining -= take;
          off += take;
          if (this.remaining === 0) this.state = 'chunk-size';
          break;
        }
        case 'chunk-size':
        case 'trailer': {
          const i = buf.indexOf('\r\n', off);
          if (i < 0) return this.keep(buf, off);
          const line = buf.subarray(off, i).toString('latin1');
          off = i + 2;
          if (this.state === 'trailer') {
            if (line === '') this.end();
            break;
          }
          const size = parseInt(line.split(';')[0]!.trim(), 16);
          if (!Number.isFinite(size)) return this.ev.onError(new Error(`bad chunk size line: ${line.slice(0, 40)}`));
          if (size === 0) this.state = 'trailer';
          else {
            this.remaining = size;
            this.state = 'chunk-data';
          }
          break;
        }
        case 'until-close':
          this.ev.onBody?.(buf.subarray(off));
          off = buf.length;
          break;
      }
    }
  }

  private keep(buf: Buffer, off: number): void {
    this.pending = buf.subarray(off);
    if (this.pending.length > MAX_HEAD_BYTES) this.ev.onError(new Error('response head or chunk line too long'));
  }

  private end(): void {
    this.state = 'head';
    this.ev.onEnd(this.status);
  }
}

// ---- keep-alive load ----

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * `connections` open keep-alive connections that can be driven in windows: during `run(ms)` each writes
 * `request` back to back; between windows they sit idle (so two sessions can take turns, and a slow
 * phase of the machine hits both sides of a comparison alike).
 */
export class LoadSession {
  private running = false;
  private record = false;
  private inFlight = 0;
  private onDrained: (() => void) | null = null;
  private readonly kick: (() => void)[] = [];
  private lat: number[] = [];
  private errors = 0;
  private measuredMs = 0;
  private closing = false;

  private constructor(
    private readonly socks: Duplex[],
    private readonly request: Buffer,
  ) {
    for (const sock of socks) this.attach(sock);
  }

  /** Dials every connection (all or nothing). */
  static async open(dial: Dial, request: Buffer, connections: number): Promise<LoadSession> {
    const settled = await Promise.allSettled(Array.from({ length: connections }, () => dial()));
    const socks = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      for (const s of socks) s.destroy();
      throw failed.reason;
    }
    return new LoadSession(socks, request);
  }

  private attach(sock: Duplex): void {
    let t0 = 0n;
    let busy = false;
    let dead = false;
    const finish = () => {
      if (!busy) return;
      busy = false;
      if (--this.inFlight === 0 && !this.running) this.onDrained?.();
    };
    // A connection lost before close() (reset, closed by a hop, even while idle between windows, or a
    // non-2xx response) is an error: the session runs on with one connection fewer.
    const kill = () => {
      if (dead) return;
      dead = true;
      if (!this.closing) this.errors++;
      finish();
      sock.destroy();
    };
    const send = () => {
      if (!this.running || dead || busy) return;
      busy = true;
      this.inFlight++;
      t0 = process.hrtime.bigint();
      sock.write(this.request);
    };
    const parser = new ResponseParser({
      onEnd: (status) => {
        const t = Number(process.hrtime.bigint() - t0) / 1e6;
        finish();
        if (status < 200 || status > 299) return kill();
        if (this.record && this.running) this.lat.push(t);
        send();
      },
      onError: kill,
    });
    sock.on('data', (d: Buffer) => parser.push(d));
    sock.on('error', kill);
    sock.on('close', kill);
    this.kick.push(send);
  }

  /** Drives all connections for `ms`, recording latencies if `measure`; then lets requests in flight finish (≤ 2 s). */
  async run(ms: number, measure: boolean): Promise<void> {
    this.running = true;
    this.record = measure;
    const start = process.hrtime.bigint();
    for (const k of this.kick) k();
    await sleep(ms);
    this.running = false;
    if (measure) this.measuredMs += Number(process.hrtime.bigint() - start) / 1e6;
    if (this.inFlight > 0) {
      await Promise.race([new Promise<void>((r) => (this.onDrained = r)), sleep(2000)]);
      this.onDrained = null;
    }
  }

  /** Everything measured so far. */
  result(): LoadResult {
    const lat = [...this.lat].sort((a, b) => a - b);
    return {
      connections: this.socks.length,
      requests: lat.length,
      errors: this.errors,
      rps: this.measuredMs > 0 ? Math.round(lat.length / (this.measuredMs / 1000)) : 0,
      measured_ms: Math.round(this.measuredMs),
      p50_ms: pct(lat, 50),
      p99_ms: pct(lat, 99),
    };
  }

  close(): void {
    this.closing = true;
    this.running = false;
    for (const s of this.socks) s.destroy();
  }
}

/**
 * Runs `connections` keep-alive connections for `ms` after `warmupMs`, each writing `request` back to
 * back; latency per request and requests completed in the window. Stops by itself.
 */
export async function runLoad(
  dial: Dial,
  request: Buffer,
  connections: number,
  ms: number,
  warmupMs: number,
): Promise<LoadResult> {
  const s = await LoadSession.open(dial, request, connections);
  try {
    if (warmupMs > 0) await s.run(warmupMs, false);
    await s.run(ms, true);
    return s.result();
  } finally {
    s.close();
  }
}

/**
 * The same load against two targets, taking turns: both warm up, then `slices` alternating windows of
 * `ms / slices` each (A, B, A, B, ...), so background noise on a shared machine falls on both sides.
 */
export async function runPair(
  a: { dial: Dial; request: Buffer },
  b: { dial: Dial; request: Buffer },
  connections: number,
  ms: number,
  warmupMs: number,
  slices: number,
): Promise<{ a: LoadResult; b: LoadResult }> {
  const sa = await LoadSession.open(a.dial, a.request, connections);
  let sb: LoadSession | null = null;
  try {
    sb = await LoadSession.open(b.dial, b.request, connections);
    await sa.run(warmupMs, false);
    await sb.run(warmupMs, false);
    for (let i = 0; i < slices; i++) {
      await sa.run(ms / slices, true);
      await sb.run(ms / slices, true);
    }
    return { a: sa.result(), b: sb.result() };
  } finally {
    sa.close();
    sb?.close();
  }
}

export interface StreamResult {
  connections: number;
  complete: number;
  bytes: number;
  seconds: number;
}

/**
 * Opens `connections` connections at once, sends `request` once on each and reads every body as fast as
 * it comes (counted, never kept). Gives up after `timeoutMs`, destroying whatever is still open.
 */
export async function runStreams(
  dial: Dial,
  request: Buffer,
  connections: number,
  timeoutMs: number,
): Promise<StreamResult> {
  const t0 = process.hrtime.bigint();
  let bytes = 0;
  const socks: Duplex[] = [];
  let closed = false;
  const one = async (): Promise<boolean> => {
    const s = await dial();
    socks.push(s);
    if (closed) {
      s.destroy();
      return false;
    }
    return new Promise<boolean>((resolve) => {
      const parser = new ResponseParser({
        onBody: (c) => (bytes += c.length),
        onEnd: (status) => {
          s.destroy();
          resolve(status >= 200 && status <= 299);
        },
        onError: () => {
          s.destroy();
          resolve(false);
        },
      });
      s.on('data', (d: Buffer) => parser.push(d));
      s.on('error', () => resolve(false));
      s.on('close', () => resolve(false));
      s.write(request);
    });
  };
  const all = Promise.allSettled(Array.from({ length: connections }, one));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
  const first = await Promise.race([all, timedOut]);
  clearTimeout(timer);
  closed = true;
  for (const s of socks) s.destroy();
  const results = first === 'timeout' ? await all : first;
  return {
    connections,
    complete: results.filter((r) => r.status === 'fulfilled' && r.value).length,
    bytes,
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
  };
}

// ---- requests ----

export function getRequest(path: string, host: string, absolute?: string): Buffer {
  return Buffer.from(`GET ${absolute ?? path} HTTP/1.1\r\nHost: ${host}\r\nAccept-Encoding: gzip\r\n\r\n`);
}

export function postRequest(path: string, host: string, body: Buffer, absolute?: string): Buffer {
  return Buffer.concat([
    Buffer.from(
      `POST ${absolute ?? path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    ),
    body,
  ]);
}
