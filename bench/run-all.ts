// `npm run bench`: the same load directly and through the guardian (inspection on), ratios from one
// run, plus certificate minting, SSE pass-through delay, memory under 200 streaming connections and
// scanner MB/s. Prints a table, then one `BENCH_JSON {...}` line. BENCH_QUICK=1 shortens every window.
import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
import {
  runLoad,
  dialTcp,
  dialTls,
  dialViaConnect,
  getRequest,
  postRequest,
  type Dial,
  type LoadResult,
} from './load.js';
import { startGuardianProcess, startUpstreamProcess, rssMiB, type Child } from './processes.js';
import { runScanBench, printScanTable } from './scan-bench.js';

const QUICK = process.env.BENCH_QUICK === '1';
const WINDOW_MS = QUICK ? 600 : 2500;
const WARMUP_MS = QUICK ? 200 : 500;

interface Row {
  workload: string;
  scheme: 'http' | 'https' | 'https-blind';
  conns: number;
  direct: LoadResult;
  guardian: LoadResult;
  ratio: number;
  added_p50_ms: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
};
const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');

async function handshakeMs(proxyPort: number, host: string, upstreamPort: number, ca: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const raw = await dialViaConnect(proxyPort, `${host}:${upstreamPort}`)();
  await new Promise<void>((resolve, reject) => {
    const t = tls.connect({ socket: raw as net.Socket, ca: [ca], servername: host }, () => {
      t.destroy();
      resolve();
    });
    t.once('error', reject);
  });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Per-event delay (receive time - send timestamp) of /sse through a plain or proxied connection. */
function sseDelays(port: number, absolute: boolean, upstreamPort: number, n: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const url = `http://127.0.0.1:${upstreamPort}/sse?n=${n}&gap=20`;
    const req = http.request({
      host: '127.0.0.1',
      port,
      path: absolute ? url : new URL(url).pathname + new URL(url).search,
      agent: false,
    });
    req.on('response', (res) => {
      const delays: number[] = [];
      let buf = '';
      res.on('data', (d: Buffer) => {
        const now = performance.timeOrigin + performance.now();
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const ev = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const m = /"t":([0-9.]+)/.exec(ev);
          if (m) delays.push(now - Number(m[1]));
        }
      });
      res.on('end', () => resolve(delays));
    });
    req.on('error', reject);
    req.end();
  });
}

async function memoryRun(g: Child & { port: number }, upstreamPort: number, conns: number, mib: number) {
  const base = rssMiB(g.proc.pid!);
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, rssMiB(g.proc.pid!))), 100);
  const t0 = Date.now();
  const req = getRequest('', `127.0.0.1:${upstreamPort}`, `http://127.0.0.1:${upstreamPort}/stream?mib=${mib}`);
  const dial = dialTcp(g.port);
  // One request per connection: open them all, then wait for every body.
  const { runOnce } = await import('./load-once.js');
  const ok = await runOnce(dial, req, conns);
  clearInterval(timer);
  return { conns, mib, ok, base_mib: Math.round(base), peak_mib: Math.round(peak), seconds: (Date.now() - t0) / 1000 };
}

async function main() {
  const children: Child[] = [];
  const cleanup = async () => {
    for (const c of children.reverse()) await c.stop().catch(() => undefined);
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const up = await startUpstreamProcess();
    children.push(up);
    const g = await startGuardianProcess({ https_inspection: true, upstream_ca_file: up.caFile });
    children.push(g);
    const blind = await startGuardianProcess({ https_inspection: false, upstream_ca_file: up.caFile });
    children.push(blind);
    const gCa = g.caPem!;
    const hostH = `127.0.0.1:${up.httpPort}`;
    const hostS = `localhost:${up.httpsPort}`;
    const body = Buffer.from(JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(64 * 1024 - 40) }] }));
    const workloads: { name: string; http: (abs: boolean) => Buffer; https: Buffer }[] = [
      {
        name: 'small JSON',
        http: (a) => getRequest('/small', hostH, a ? `http://${hostH}/small` : undefined),
        https: getRequest('/small', hostS),
      },
      {
        name: '64 KiB JSON',
        http: (a) => getRequest('/json64k', hostH, a ? `http://${hostH}/json64k` : undefined),
        https: getRequest('/json64k', hostS),
      },
      {
        name: 'gzip JSON',
        http: (a) => getRequest('/gzip', hostH, a ? `http://${hostH}/gzip` : undefined),
        https: getRequest('/gzip', hostS),
      },
      {
        name: 'POST 64 KiB',
        http: (a) => postRequest('/upload', hostH, body, a ? `http://${hostH}/upload` : undefined),
        https: postRequest('/upload', hostS, body),
      },
    ];
    const rows: Row[] = [];
    const pair = async (
      workload: string,
      scheme: Row['scheme'],
      conns: number,
      d: Dial,
      dReq: Buffer,
      p: Dial,
      pReq: Buffer,
    ) => {
      const direct = await runLoad(d, dReq, conns, WINDOW_MS, WARMUP_MS);
      const guardian = await runLoad(p, pReq, conns, WINDOW_MS, WARMUP_MS);
      rows.push({
        workload,
        scheme,
        conns,
        direct,
        guardian,
        ratio: guardian.rps / Math.max(1, direct.rps),
        added_p50_ms: guardian.p50_ms - direct.p50_ms,
      });
      process.stderr.write('.');
    };
    for (const w of workloads) {
      for (const conns of [1, 32]) {
        await pair(w.name, 'http', conns, dialTcp(up.httpPort), w.http(false), dialTcp(g.port), w.http(true));
        await pair(
          w.name,
          'https',
          conns,
          dialTls(up.httpsPort, up.caPem),
          w.https,
          dialViaConnect(g.port, hostS, gCa),
          w.https,
        );
      }
    }
    for (const conns of [1, 32]) {
      await pair(
        'small JSON',
        'https-blind',
        conns,
        dialTls(up.httpsPort, up.caPem),
        workloads[0]!.https,
        dialViaConnect(blind.port, hostS, up.caPem),
        workloads[0]!.https,
      );
    }
    process.stderr.write('\n');

    // Certificate minting: a new SNI name each time vs one name repeated (names resolve without DNS: the
    // handshake happens before the guardian opens any upstream connection).
    const samples = QUICK ? 5 : 20;
    const fresh: number[] = [];
    const cached: number[] = [];
    await handshakeMs(g.port, 'warm.localhost', up.httpsPort, gCa);
    for (let i = 0; i < samples; i++)
      fresh.push(await handshakeMs(g.port, `h${i}-${Date.now()}.localhost`, up.httpsPort, gCa));
    for (let i = 0; i < samples; i++) cached.push(await handshakeMs(g.port, 'warm.localhost', up.httpsPort, gCa));

    // SSE: per-event delay direct and through the guardian.
    const n = QUICK ? 10 : 30;
    const sseDirect = await sseDelays(up.httpPort, false, up.httpPort, n);
    const sseProxy = await sseDelays(g.port, true, up.httpPort, n);

    // Memory: many connections streaming large bodies; RSS must not grow with body size.
    const memSmall = await memoryRun(g, up.httpPort, QUICK ? 50 : 200, 1);
    const memBig = await memoryRun(g, up.httpPort, QUICK ? 50 : 200, QUICK ? 2 : 10);

    const scanner = await runScanBench(QUICK ? 2 : 8);

    // ---- report ----
    const line = (cells: (string | number)[], widths: number[]) =>
      cells.map((c, i) => String(c).padStart(widths[i]!)).join(' ');
    const W = [12, 12, 5, 9, 9, 6, 8, 8, 8, 8, 9];
    console.log('\nthroughput and latency, direct vs through the guardian (inspection on; https-blind = tunnel mode)');
    console.log(
      line(
        [
          'workload',
          'scheme',
          'conns',
          'rps dir',
          'rps grd',
          'ratio',
          'p50 dir',
          'p50 grd',
          'p99 dir',
          'p99 grd',
          '+p50 ms',
        ],
        W,
      ),
    );
    for (const r of rows) {
      console.log(
        line(
          [
            r.workload,
            r.scheme,
            r.conns,
            r.direct.rps,
            r.guardian.rps,
            `${Math.round(r.ratio * 100)}%`,
            f2(r.direct.p50_ms),
            f2(r.guardian.p50_ms),
            f2(r.direct.p99_ms),
            f2(r.guardian.p99_ms),
            f2(r.added_p50_ms),
          ],
          W,
        ),
      );
    }
    const certNew = median(fresh);
    const certCached = median(cached);
    const sseAdded = median(sseProxy) - median(sseDirect);
    const sseMaxAdded = Math.max(...sseProxy) - median(sseDirect);
    console.log(
      `\nnew HTTPS host (CONNECT + TLS, cert minted): median ${f2(certNew)} ms; cached host ${f2(certCached)} ms`,
    );
    console.log(
      `SSE per-event delay: direct median ${f2(median(sseDirect))} ms, guardian median ${f2(median(sseProxy))} ms (added ${f2(sseAdded)} ms, worst ${f2(sseMaxAdded)} ms)`,
    );
    console.log(
      `memory: ${memSmall.conns} conns x ${memSmall.mib} MiB: peak RSS ${memSmall.peak_mib} MiB (base ${memSmall.base_mib}); ${memBig.conns} conns x ${memBig.mib} MiB: peak RSS ${memBig.peak_mib} MiB (${memBig.ok}/${memBig.conns} complete, ${memBig.seconds.toFixed(1)} s)`,
    );
    console.log('');
    printScanTable(scanner);

    const pick = (w: string, s: Row['scheme'], c: number) =>
      rows.find((r) => r.workload === w && r.scheme === s && r.conns === c)!;
    const httpRatio = pick('small JSON', 'http', 32).ratio;
    const httpsRatio = pick('small JSON', 'https', 32).ratio;
    const addedP50 = pick('small JSON', 'http', 1).added_p50_ms;
    const benignScan = scanner.find(
      (s) => s.corpus === 'benign JSON' && s.direction === 'outbound' && s.encoding === 'identity',
    )!.mb_per_s;
    const targets = [
      [
        'HTTP keep-alive throughput >= 30% of direct (small JSON, 32 conns)',
        `${Math.round(httpRatio * 100)}%`,
        httpRatio >= 0.3,
      ],
      [
        'HTTPS inspection >= 30% of direct HTTPS (small JSON, 32 conns)',
        `${Math.round(httpsRatio * 100)}%`,
        httpsRatio >= 0.3,
      ],
      ['added p50 latency at 1 connection < 0.7 ms (HTTP small)', `${f2(addedP50)} ms`, addedP50 < 0.7],
      ['new HTTPS host < 30 ms', `${f2(certNew)} ms`, certNew < 30],
      ['SSE per-event added delay < 5 ms (median)', `${f2(sseAdded)} ms`, sseAdded < 5],
      ['peak RSS < 250 MB in the memory run', `${memBig.peak_mib} MiB`, memBig.peak_mib < 250],
      ['scanner >= 150 MB/s on benign JSON (outbound, identity)', `${benignScan} MB/s`, benignScan >= 150],
    ] as const;
    console.log('\ntargets');
    for (const [name, value, ok] of targets) console.log(`  ${ok ? 'PASS' : 'MISS'}  ${name}: ${value}`);
    console.log(
      `BENCH_JSON ${JSON.stringify({ quick: QUICK, rows, cert: { new_ms: certNew, cached_ms: certCached }, sse: { direct_ms: median(sseDirect), guardian_ms: median(sseProxy), added_ms: sseAdded, worst_added_ms: sseMaxAdded }, memory: [memSmall, memBig], scanner, targets: targets.map(([name, value, ok]) => ({ name, value, ok })) })}`,
    );
  } finally {
    await cleanup();
  }
}

await main();
