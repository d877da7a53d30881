// The benchmark's non-throughput probes: certificate minting for new HTTPS hosts, SSE per-event
// pass-through delay, and guardian RSS while many large bodies stream through it. Each is bounded in
// samples and time.
import tls from 'node:tls';
import { connectTunnel, ResponseParser, runStreams, type Dial } from './load.js';
import { rssBytes } from './processes.js';

const PROBE_TIMEOUT_MS = 10_000;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const nowMs = () => performance.timeOrigin + performance.now();

/**
 * Time for `CONNECT host:port` through the guardian plus the TLS handshake with `servername` host,
 * verified against the guardian CA. With inspection on the guardian answers the handshake itself (with a
 * certificate it mints for the name, or takes from its cache) before it opens anything upstream, so
 * names like h7.localhost need no DNS.
 */
export async function handshakeMs(proxyPort: number, host: string, port: number, ca: string): Promise<number> {
  const t0 = performance.now();
  const raw = await connectTunnel(proxyPort, `${host}:${port}`);
  const t = tls.connect({ socket: raw, ca: [ca], servername: host });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`TLS handshake for ${host}: timed out`)), PROBE_TIMEOUT_MS);
      t.once('secureConnect', () => {
        clearTimeout(timer);
        resolve();
      });
      t.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    return performance.now() - t0;
  } finally {
    t.destroy();
    raw.destroy();
  }
}

export interface CertResult {
  samples: number;
  new_ms: number[];
  cached_ms: number[];
  new_median_ms: number;
  cached_median_ms: number;
}

/** `samples` handshakes each naming a host the guardian has never seen, then `samples` for one cached name. */
export async function certProbe(proxyPort: number, port: number, ca: string, samples: number): Promise<CertResult> {
  // Unmeasured: warm the handshake and minting code paths, and put the cached name in the cache.
  await handshakeMs(proxyPort, 'warm.localhost', port, ca);
  await handshakeMs(proxyPort, 'cached.localhost', port, ca);
  const fresh: number[] = [];
  const cached: number[] = [];
  for (let i = 0; i < samples; i++) fresh.push(await handshakeMs(proxyPort, `h${i}.localhost`, port, ca));
  for (let i = 0; i < samples; i++) cached.push(await handshakeMs(proxyPort, 'cached.localhost', port, ca));
  return {
    samples,
    new_ms: fresh,
    cached_ms: cached,
    new_median_ms: median(fresh),
    cached_median_ms: median(cached),
  };
}

export interface SseResult {
  events: number;
  /** Per event: receive time − send timestamp carried in the event (ms, same machine clock). */
  delays_ms: number[];
  median_ms: number;
  max_ms: number;
}

/**
 * Reads one SSE response (GET `request` over a fresh connection from `dial`) and records, for every
 * event, receive time minus the send time the upstream wrote into it.
 */
export async function sseProbe(dial: Dial, request: Buffer, timeoutMs: number): Promise<SseResult> {
  const sock = await dial();
  const delays: number[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('SSE: stream did not end in time')), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      let text = '';
      let received = 0;
      const parser = new ResponseParser({
        onHead(status) {
          if (status !== 200) fail(new Error(`SSE: status ${status}`));
        },
        onBody(chunk) {
          text += chunk.toString('utf8');
          let i: number;
          while ((i = text.indexOf('\n\n')) >= 0) {
            const ev = text.slice(0, i);
            text = text.slice(i + 2);
            const m = /"t":([0-9.]+)/.exec(ev);
            if (m) delays.push(received - Number(m[1]));
          }
        },
        onEnd() {
          clearTimeout(timer);
          resolve();
        },
        onError: fail,
      });
      sock.on('data', (d: Buffer) => {
        received = nowMs();
        parser.push(d);
      });
      sock.once('error', fail);
      sock.once('close', () => fail(new Error('SSE: connection closed before the stream ended')));
      sock.write(request);
    });
  } finally {
    sock.destroy();
  }
  return { events: delays.length, delays_ms: delays, median_ms: median(delays), max_ms: Math.max(...delays) };
}

export interface MemoryResult {
  connections: number;
  mib_per_body: number;
  complete: number;
  seconds: number;
  /** Aggregate body throughput received by the clients. */
  mib_per_s: number;
  baseline_rss_bytes: number;
  peak_rss_bytes: number;
  end_rss_bytes: number;
}

/**
 * `connections` concurrent requests, each for one `mib` MiB body, read as fast as possible, while the
 * guardian's RSS is sampled every 100 ms.
 */
export async function memoryProbe(
  pid: number,
  dial: Dial,
  request: (mib: number) => Buffer,
  connections: number,
  mib: number,
  timeoutMs: number,
): Promise<MemoryResult> {
  const baseline = rssBytes(pid);
  let peak = baseline;
  const timer = setInterval(() => {
    const r = rssBytes(pid);
    if (r > peak) peak = r;
  }, 100);
  let res;
  try {
    res = await runStreams(dial, request(mib), connections, timeoutMs);
  } finally {
    clearInterval(timer);
  }
  const end = rssBytes(pid);
  peak = Math.max(peak, end);
  return {
    connections,
    mib_per_body: mib,
    complete: res.complete,
    seconds: res.seconds,
    mib_per_s: res.bytes / (1024 * 1024) / res.seconds,
    baseline_rss_bytes: baseline,
    peak_rss_bytes: peak,
    end_rss_bytes: end,
  };
}
