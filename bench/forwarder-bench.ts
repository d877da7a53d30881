// Home-made HTTP/1.1 client vs undici as the guardian's request forwarder (issue 11). Two bare guardians
// (bench/forwarder-guardian.ts), identical but for the forwarder, get the same load in alternating
// windows (runPair), repeated with the order swapped each time so drift on a shared machine falls on
// both; the result per workload is the median of the undici / home-made requests-per-second ratios.
import { dialTcp, getRequest, postRequest, runPair } from './load.js';
import { startForwarderGuardian, type Child, type Upstream } from './processes.js';

export interface ForwarderRow {
  workload: string;
  conns: number;
  home_rps: number[];
  undici_rps: number[];
  /** undici rps / home-made rps, per repeat. */
  ratios: number[];
  median_ratio: number;
  home_p50_ms: number;
  undici_p50_ms: number;
  error?: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function forwarderBench(
  up: Upstream,
  uploadBody: Buffer,
  o: { windowMs: number; warmupMs: number; slices: number; repeats: number },
  children: Child[],
  progress: (s: string) => void,
): Promise<ForwarderRow[]> {
  const home = await startForwarderGuardian('home', up.caFile);
  children.push(home);
  const undici = await startForwarderGuardian('undici', up.caFile);
  children.push(undici);
  const hostH = `127.0.0.1:${up.httpPort}`;
  const hostS = `localhost:${up.httpsPort}`;
  const workloads: [string, Buffer][] = [
    ['small JSON', getRequest('/small', hostH, `http://${hostH}/small`)],
    ['64 KiB JSON', getRequest('/json64k', hostH, `http://${hostH}/json64k`)],
    ['gzip JSON', getRequest('/gzip', hostH, `http://${hostH}/gzip`)],
    ['POST 64 KiB', postRequest('/upload', hostH, uploadBody, `http://${hostH}/upload`)],
    ['small JSON, https upstream', getRequest('/small', hostS, `https://${hostS}/small`)],
  ];
  const rows: ForwarderRow[] = [];
  const dh = dialTcp(home.port);
  const du = dialTcp(undici.port);
  for (const [name, req] of workloads) {
    for (const conns of [1, 32]) {
      progress(`bench: forwarder ${name} x${conns}\n`);
      const row: ForwarderRow = {
        workload: name,
        conns,
        home_rps: [],
        undici_rps: [],
        ratios: [],
        median_ratio: NaN,
        home_p50_ms: NaN,
        undici_p50_ms: NaN,
      };
      const homeP50: number[] = [];
      const undiciP50: number[] = [];
      try {
        for (let r = 0; r < o.repeats; r++) {
          const homeFirst = r % 2 === 0;
          const a = { dial: homeFirst ? dh : du, request: req };
          const b = { dial: homeFirst ? du : dh, request: req };
          const res = await runPair(a, b, conns, o.windowMs, o.warmupMs, o.slices);
          const h = homeFirst ? res.a : res.b;
          const u = homeFirst ? res.b : res.a;
          if (h.errors > 0 || u.errors > 0) throw new Error(`errors: home ${h.errors}, undici ${u.errors}`);
          row.home_rps.push(h.rps);
          row.undici_rps.push(u.rps);
          row.ratios.push(u.rps / Math.max(1, h.rps));
          homeP50.push(h.p50_ms);
          undiciP50.push(u.p50_ms);
        }
        row.median_ratio = median(row.ratios);
        row.home_p50_ms = median(homeP50);
        row.undici_p50_ms = median(undiciP50);
      } catch (err) {
        row.error = (err as Error).message;
        progress(`bench: forwarder ${name} x${conns} failed: ${row.error}\n`);
      }
      rows.push(row);
    }
  }
  await Promise.all([home.stop(), undici.stop()]);
  return rows;
}

export function forwarderTable(rows: ForwarderRow[]): string[] {
  const out = [
    '',
    'request forwarder: home-made HTTP/1.1 client vs undici (same guardian otherwise; plain HTTP proxy requests;',
    'alternating windows, repeated with the order swapped; median of the per-repeat undici/home ratios)',
  ];
  const header = [
    'workload',
    'conns',
    'home rps (median)',
    'undici rps (median)',
    'undici/home',
    'p50 home ms',
    'p50 undici ms',
  ];
  const body = rows.map((r) =>
    r.error
      ? [r.workload, r.conns, 'failed', r.error, '', '', '']
      : [
          r.workload,
          r.conns,
          Math.round(median(r.home_rps)),
          Math.round(median(r.undici_rps)),
          `${r.median_ratio.toFixed(2)} (${r.ratios.map((x) => x.toFixed(2)).join(' ')})`,
          r.home_p50_ms.toFixed(2),
          r.undici_p50_ms.toFixed(2),
        ],
  );
  const w = header.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  const fmt = (r: (string | number)[]) =>
    r
      .map((c, i) => (i === 0 ? String(c).padEnd(w[i]!) : String(c).padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  out.push(fmt(header), ...body.map(fmt));
  return out;
}
