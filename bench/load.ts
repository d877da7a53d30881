// A minimal keep-alive HTTP/1.1 load client on raw sockets (much cheaper than node:http, so the
// generator is not what limits the numbers). Each connection sends its next request as soon as the
// previous response is complete. Responses must carry Content-Length.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

export type Dial = () => Promise<Duplex>;

export interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
}

export function dialTcp(port: number): Dial {
  return () =>
    new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s));
      s.once('error', reject);
    });
}

export function dialTls(port: number, ca: string, servername = 'localhost'): Dial {
  return () =>
    new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: [ca], servername }, () => resolve(s));
      s.once('error', reject);
    });
}

/** CONNECT through a proxy, then (optionally) TLS over the tunnel. */
export function dialViaConnect(proxyPort: number, target: string, tlsCa?: string, servername = 'localhost'): Dial {
  return async () => {
    const raw = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port: proxyPort, noDelay: true }, () => {
        s.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`);
      });
      let buf = '';
      const onData = (d: Buffer) => {
        buf += d.toString('latin1');
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        s.off('data', onData);
        if (!/^HTTP\/1\.[01] 200/.test(buf)) return reject(new Error(`CONNECT failed: ${buf.split('\r\n')[0]}`));
        resolve(s);
      };
      s.on('data', onData);
      s.once('error', reject);
    });
    if (!tlsCa) return raw;
    return new Promise((resolve, reject) => {
      const t = tls.connect({ socket: raw, ca: [tlsCa], servername }, () => resolve(t));
      t.once('error', reject);
    });
  };
}

/** One keep-alive connection issuing requests; resolves each response's latency. */
class Conn {
  private buf: Buffer = Buffer.alloc(0);
  private resolve: ((ok: boolean) => void) | null = null;

  constructor(private readonly sock: Duplex) {
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => this.fail());
    sock.on('close', () => this.fail());
  }

  private fail(): void {
    const r = this.resolve;
    this.resolve = null;
    r?.(false);
  }

  /** Body bytes still expected for the current response; headers are buffered, bodies only counted. */
  private remaining = -1;

  private onData(d: Buffer): void {
    let chunk: Buffer = d;
    while (chunk.length > 0) {
      if (this.remaining < 0) {
        this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
        const i = this.buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        const head = this.buf.subarray(0, i).toString('latin1');
        const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        this.remaining = m ? Number(m[1]) : 0;
        chunk = this.buf.subarray(i + 4);
        this.buf = Buffer.alloc(0);
      }
      const take = Math.min(this.remaining, chunk.length);
      this.remaining -= take;
      chunk = chunk.subarray(take);
      if (this.remaining === 0) {
        this.remaining = -1;
        const r = this.resolve;
        this.resolve = null;
        r?.(true);
      }
    }
  }

  request(bytes: Buffer): Promise<boolean> {
    return new Promise((resolve) => {
      this.resolve = resolve;
      this.sock.write(bytes);
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `connections` keep-alive connections for `ms` after `warmupMs`, each sending `request` back to back. */
export async function runLoad(
  dial: Dial,
  request: Buffer,
  connections: number,
  ms: number,
  warmupMs: number,
): Promise<LoadResult> {
  const conns = await Promise.all(Array.from({ length: connections }, async () => new Conn(await dial())));
  const lat: number[] = [];
  let errors = 0;
  let measuring = false;
  let stop = false;
  const loops = conns.map(async (c) => {
    while (!stop) {
      const t0 = process.hrtime.bigint();
      const ok = await c.request(request);
      if (!ok) {
        errors++;
        return;
      }
      if (measuring) lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  });
  await new Promise((r) => setTimeout(r, warmupMs));
  measuring = true;
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, ms));
  measuring = false;
  const elapsed = (Date.now() - t0) / 1000;
  stop = true;
  await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 2000))]);
  for (const c of conns) c.close();
  lat.sort((a, b) => a - b);
  return {
    requests: lat.length,
    errors,
    rps: Math.round(lat.length / elapsed),
    p50_ms: pct(lat, 50),
    p99_ms: pct(lat, 99),
  };
}

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
