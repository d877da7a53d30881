// The issue-15 mix, measured for the scan workers (the bench's own `mix` row is bench/'s): small GETs on
// one keep-alive connection while 8 other connections upload 1 MiB JSON bodies in a loop, direct and
// through the guardian with `scan_workers: 0` (scanning on the proxy thread), with the default, and with
// nothing scanned (what forwarding alone costs). Each
// side runs in its own process (bench/processes.ts): upstream, guardian, and this load generator.
//
//   npm run build && node dist/scripts/measure-mix.js [seconds per run, default 5]
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { defaultScanWorkers } from '../lib/config-schema.js';
import { guardianCounters, startGuardianProcess, startUpstreamProcess, type Guardian } from '../bench/processes.js';
import { benignJson } from '../test/support/benign-corpus.js';

const SECS = Number(process.argv[2] ?? 5);
const UPLOADERS = 8;
const BODY = Buffer.from(benignJson(1024 * 1024, 3));

function request(
  agent: http.Agent,
  target: { port: number; viaProxy: boolean },
  upstreamPort: number,
  path: string,
  body?: Buffer,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const url = `http://127.0.0.1:${upstreamPort}${path}`;
    const req = http.request({
      host: '127.0.0.1',
      port: target.port,
      method: body ? 'POST' : 'GET',
      path: target.viaProxy ? url : path,
      headers: {
        host: `127.0.0.1:${upstreamPort}`,
        ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}),
      },
      agent,
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve());
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function run(name: string, upstreamPort: number, target: { port: number; viaProxy: boolean }) {
  const agents: http.Agent[] = [];
  const agent = () => {
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(a);
    return a;
  };
  let stop = false;
  let uploaded = 0;
  const loaders = Array.from({ length: UPLOADERS }, async () => {
    const a = agent();
    while (!stop) {
      await request(a, target, upstreamPort, '/upload', BODY);
      uploaded += BODY.length;
    }
  });
  const small = agent();
  const lat: number[] = [];
  const warmUntil = performance.now() + 1000;
  while (performance.now() < warmUntil) await request(small, target, upstreamPort, '/small');
  const uploadedBefore = uploaded;
  const t0 = performance.now();
  while (performance.now() - t0 < SECS * 1000) {
    const t = performance.now();
    await request(small, target, upstreamPort, '/small');
    lat.push(performance.now() - t);
  }
  const secs = (performance.now() - t0) / 1000;
  const mibs = (uploaded - uploadedBefore) / 1024 / 1024 / secs;
  stop = true;
  await Promise.all(loaders);
  for (const a of agents) a.destroy();
  lat.sort((a, b) => a - b);
  return { name, p50: pct(lat, 50), p99: pct(lat, 99), n: lat.length, mibs };
}

async function main(): Promise<void> {
  const up = await startUpstreamProcess();
  const rows: Awaited<ReturnType<typeof run>>[] = [];
  const counters: Record<string, unknown> = {};
  try {
    rows.push(await run('direct', up.httpPort, { port: up.httpPort, viaProxy: false }));
    for (const [name, cfg] of [
      ['guardian, scan_workers 0', { scan_workers: 0 }],
      [`guardian, scan_workers default (${defaultScanWorkers()})`, {}],
      // The floor: the same forwarding with nothing scanned (the upstream's host exempted).
      ['guardian, nothing scanned (allow_hosts)', { allow_hosts: ['127.0.0.1'] }],
    ] as const) {
      let g: Guardian | undefined;
      try {
        g = await startGuardianProcess(name, { ...cfg, dedup_window_secs: 0 });
        rows.push(await run(name, up.httpPort, { port: g.port, viaProxy: true }));
        counters[name] = await guardianCounters(g);
      } finally {
        await g?.stop();
      }
    }
  } finally {
    await up.stop();
  }
  const direct = rows[0]!;
  console.log(`small GETs on 1 connection while ${UPLOADERS} connections upload 1 MiB bodies, ${SECS} s each:`);
  for (const r of rows) {
    const added = r === direct ? '' : `, added p50 ${(r.p50 - direct.p50).toFixed(2)} ms`;
    console.log(
      `  ${r.name}: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms (${r.n} GETs)${added}; upload ${r.mibs.toFixed(0)} MiB/s`,
    );
  }
  for (const [name, c] of Object.entries(counters)) console.log(`  counters after ${name}: ${JSON.stringify(c)}`);
}

void main();
