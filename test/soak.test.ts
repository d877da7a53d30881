// Soak: a bounded steady load of mixed requests through the guardian at a fixed concurrency (plain,
// gzip, brotli, chunked, SSE, large bodies, POSTs with secrets, HTTPS on pooled inspected tunnels and
// on fresh ones, and clients that walk away mid-download). Every second it samples the process RSS,
// the proxy's open client sockets and Node's active handles. After a warm-up third, memory must not
// keep growing, and once the load stops the sockets and handles must return to their baseline.
// SOAK_SECS sets the duration (default 20, at most 60).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { rmSync } from 'node:fs';
import { once } from 'node:events';
import { loadOrCreateCa, type CertificateAuthority } from '../host-services/ca.js';
import { homePaths } from '../host-services/home.js';
import { startService, tempHome, type TestService } from './support/service.js';
import { startGatedUpstream, type GatedUpstream } from './support/gated-upstream.js';
import { viaProxyHttp, viaProxyHttps, waitFor } from './support/proxy-client.js';
import { TunnelAgent } from './support/tunnel-agent.js';
import { expandExample } from './support/expand-example.js';
import { activeHandles } from './support/raw-upstream.js';

const SECS = Math.min(60, Math.max(6, Number(process.env.SOAK_SECS ?? 20)));
const CONCURRENCY = 16;
const MiB = 1024 * 1024;
const upHome = tempHome('tg-sup-');
let upCa: CertificateAuthority;
let up: GatedUpstream;
let g: TestService;
const openSockets = () => (g.svc.proxy as unknown as { sockets: Set<unknown> }).sockets.size;

beforeAll(async () => {
  upCa = loadOrCreateCa(homePaths(upHome), { create: true })!;
  // Idle upstream keep-alive connections (the guardian's pool) close 1 s after the load stops.
  up = await startGatedUpstream(upCa.certFor('localhost'), { keepAliveTimeoutMs: 1000 });
  g = await startService({ https_inspection: true, upstream_ca_file: upCa.certPath, dedup_window_secs: 0 });
});
afterAll(async () => {
  await g?.stop();
  await up?.close();
  rmSync(upHome, { recursive: true, force: true });
});

/** GETs a large body through the proxy and walks away after the first chunk. */
async function abandonDownload(): Promise<void> {
  const s = net.connect(g.port, '127.0.0.1');
  s.on('error', () => undefined);
  s.write(`GET http://localhost:${up.httpPort}/big?n=${8 * MiB} HTTP/1.1\r\nHost: localhost:${up.httpPort}\r\n\r\n`);
  await Promise.race([once(s, 'data'), once(s, 'close')]);
  s.destroy();
}

interface Sample {
  t: number;
  rss: number;
  heap: number;
  sockets: number;
  handles: number;
  requests: number;
}

describe('soak', () => {
  it(`steady mixed load for ${SECS} s at concurrency ${CONCURRENCY}: no growth in memory, sockets or handles`, async () => {
    const base = `http://localhost:${up.httpPort}`;
    const ca = g.svc.ca!.certPem;
    // Baseline with the service idle, before any client connection exists.
    await waitFor(openSockets, (n) => n === 0, 'an idle proxy');
    const baselineHandles = activeHandles();

    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const tunnels = new TunnelAgent(g.port, ca, { maxSockets: 4 });
    const failures: string[] = [];
    let stop = false;
    let done = 0;
    const step = async (w: number, i: number): Promise<void> => {
      const kind = (w * 7 + i) % 20;
      const check = (ok: boolean, what: string) => {
        if (!ok && failures.length < 20) failures.push(`${what} (worker ${w}, request ${i})`);
      };
      if (kind === 0) {
        const { text } = expandExample('ghp_{{rand:alnum:36}}');
        const r = await viaProxyHttp(g.port, `${base}/echo?soak=${w}`, { method: 'POST', body: `t=${text}`, agent });
        check(r.status === 200, 'POST /echo');
      } else if (kind === 1) {
        await abandonDownload();
      } else if (kind === 2) {
        // A fresh CONNECT tunnel and TLS handshake each time.
        const r = await viaProxyHttps(g.port, `https://localhost:${up.httpsPort}/plain`, ca);
        check(r.status === 200, 'fresh HTTPS');
      } else if (kind < 6) {
        const r = await new Promise<number>((resolve, reject) => {
          const req = https.request({ host: 'localhost', port: up.httpsPort, path: '/gzip', agent: tunnels }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('error', reject);
          req.end();
        }).catch(() => 0);
        check(r === 200, 'pooled HTTPS');
      } else {
        const route = ['/plain', '/gzip', '/br', '/chunked', '/sse?n=1', '/big?n=262144'][kind % 6]!;
        const r = await viaProxyHttp(g.port, `${base}${route}`, { agent });
        check(r.status === 200 && r.body.length > 0, route);
      }
      done++;
    };
    const workers = Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let i = 0; !stop; i++) await step(w, i).catch((e: Error) => void failures.push(`${w}/${i}: ${e.message}`));
    });

    const samples: Sample[] = [];
    const t0 = Date.now();
    for (let s = 0; s < SECS; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      const m = process.memoryUsage();
      samples.push({
        t: Math.round((Date.now() - t0) / 100) / 10,
        rss: m.rss / MiB,
        heap: m.heapUsed / MiB,
        sockets: openSockets(),
        handles: activeHandles(),
        requests: done,
      });
    }
    stop = true;
    await Promise.all(workers);
    agent.destroy();
    tunnels.destroy();

    console.log(
      `soak ${SECS} s x ${CONCURRENCY}: t(s) rss(MiB) heap(MiB) proxy-sockets handles requests\n` +
        samples
          .map((x) => `  ${x.t} ${x.rss.toFixed(0)} ${x.heap.toFixed(0)} ${x.sockets} ${x.handles} ${x.requests}`)
          .join('\n'),
    );
    expect(failures).toEqual([]);
    expect(done).toBeGreaterThan(SECS * 10); // the load was real

    const third = Math.floor(samples.length / 3);
    const avg = (xs: Sample[]) => xs.reduce((a, b) => a + b.rss, 0) / xs.length;
    const first = avg(samples.slice(0, third));
    const middle = avg(samples.slice(third, 2 * third));
    const last = avg(samples.slice(-third));
    expect(last).toBeLessThanOrEqual(first + 64);
    expect(last).toBeLessThanOrEqual(middle + 64);
    // Open client sockets stay within what the load itself holds (16 workers; a tunnel counts twice).
    expect(Math.max(...samples.map((x) => x.sockets))).toBeLessThanOrEqual(CONCURRENCY * 2 + 8);

    // After the load: every client socket closed, and the handle count back to the idle baseline
    // (pooled upstream connections expire after the upstream's 1 s keep-alive).
    await waitFor(openSockets, (n) => n === 0, 'proxy sockets to drain after the soak', 10_000);
    const after = await waitFor(activeHandles, (n) => n <= baselineHandles + 4, 'handles back to baseline', 10_000);
    console.log(`soak handles: baseline ${baselineHandles}, after ${after}`);
    expect(g.svc.status(null).state).toBe('running');
  }, 120_000);
});
