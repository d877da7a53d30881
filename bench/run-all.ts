// `npm run bench`: the same load directly and through the guardian (HTTPS inspection on), ratios from
// one run, plus HTTPS through a blind-tunnel guardian, a model call (256 KiB JSON POST answered with
// server-sent events), the mix (small requests while 8 connections upload 1 MiB bodies), certificate
// minting for new hosts, SSE pass-through delay, guardian memory under 200 streaming connections, and
// scanner MB/s. Prints one human table, then one `BENCH_JSON {...}` line with every number.
// BENCH_QUICK=1 shortens every window (smoke run); BENCH_SCAN_WORKERS=N sets the guardians' scan_workers.
// All traffic stays on 127.0.0.1; every loop is bounded in count and time.
import os from 'node:os';
import {
  dialTcp,
  dialTls,
  dialViaConnect,
  getRequest,
  postRequest,
  runLoad,
  runPair,
  type Dial,
  type LoadResult,
} from './load.js';
import {
  cpuMs,
  guardianCounters,
  scanWorkersConfig,
  startGuardianProcess,
  startRelayProcess,
  startUpstreamProcess,
  type Child,
  type Guardian,
  type GuardianCounters,
} from './processes.js';
import { runMix, type MixSide } from './mix.js';
import { modelRequestBody, MODEL_EVENTS } from './model-answer.js';
import { certProbe, memoryProbe, sseProbe, type CertResult, type MemoryResult, type SseResult } from './probes.js';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { printScanTable, type ScanBenchRow } from './scan-bench.js';
import { forwarderBench, forwarderTable, type ForwarderRow } from './forwarder-bench.js';
import { benignJson } from '../test/support/benign-corpus.js';

const QUICK = process.env.BENCH_QUICK === '1';
const P = {
  windowMs: QUICK ? 700 : 3000,
  warmupMs: QUICK ? 200 : 500,
  /** Direct and guardian take turns in this many windows each (windowMs in all per side). */
  slices: QUICK ? 1 : 3,
  certSamples: QUICK ? 5 : 20,
  sseEvents: QUICK ? 10 : 20,
  sseGapMs: 20,
  memConns: QUICK ? 50 : 200,
  memMiB: [1, QUICK ? 2 : 10] as const,
  memTimeoutMs: QUICK ? 30_000 : 120_000,
  scanMiB: QUICK ? 2 : 8,
  /** The mix row: small GETs on 1 connection while `uploaders` connections POST `uploadMiB` bodies. */
  mix: {
    uploaders: 8,
    uploadMiB: 1,
    windowMs: QUICK ? 700 : 3000,
    /** Its guardian is fresh: a longer warm-up so V8 has optimised its hot paths. */
    warmupMs: QUICK ? 300 : 1500,
    slices: QUICK ? 1 : 3,
  },
  /** Forwarder comparison: repeats of alternating home-made / undici windows, order swapped each time. */
  forwarder: {
    windowMs: QUICK ? 400 : 1500,
    warmupMs: QUICK ? 100 : 300,
    slices: QUICK ? 1 : 3,
    repeats: QUICK ? 1 : 3,
  },
};

type Scheme = 'http' | 'https' | 'https blind';

// Issue 15's targets, as ratios to direct in the same run, judged on every row they name (1 and 32
// connections, HTTP and HTTPS); plus the earlier ones that still apply (new host, SSE, memory).
const TARGET = {
  /** guardian rps / direct rps, per workload and scheme. */
  ratio: {
    'small JSON': { http: 0.5, https: 0.45 },
    '64 KiB JSON': { http: 0.4, https: 0.4 },
    'gzip JSON': { http: 0.3, https: 0.3 },
    'POST 64 KiB': { http: 0.4, https: 0.4 },
  } as Record<string, Record<'http' | 'https', number>>,
  /** Added p50 for the model call (256 KiB POST) at 1 connection, HTTP and HTTPS. */
  modelAddedP50Ms: 0.5,
  /** Added p50 of the mix's small requests. */
  mixAddedP50Ms: 2,
  newHostMs: 30,
  sseAddedMs: 5,
  peakRssBytes: 250e6,
  /** Scanner, benign JSON identity, both directions; and benign JSON gzip. */
  scanMBps: 400,
  scanGzipMBps: 200,
};
const MODEL = 'model call';
const ratioGoal = (workload: string, scheme: Scheme): number | null =>
  scheme === 'https blind' ? null : (TARGET.ratio[workload]?.[scheme] ?? null);
const addedGoal = (workload: string, scheme: Scheme, conns: number): number | null =>
  workload === MODEL && conns === 1 && scheme !== 'https blind' ? TARGET.modelAddedP50Ms : null;

interface Row {
  workload: string;
  scheme: Scheme;
  conns: number;
  direct: LoadResult | null;
  guardian: LoadResult | null;
  /** guardian rps / direct rps */
  ratio: number;
  /** guardian p50 − direct p50, reported at 1 connection only */
  added_p50_ms: number | null;
  /** This row's own targets (null: none) and whether they were met. */
  ratio_goal: number | null;
  added_p50_goal_ms: number | null;
  ratio_target: boolean | null;
  added_p50_target: boolean | null;
  /**
   * Body bytes the guardian forwarded unscanned during this row (its scan backlog was full), from its
   * status before and after the row (warm-up included); absent when the guardian has no such counter.
   */
  unscanned?: { skipped_bytes: number; skipped_messages: number; scanned_bytes: number };
  /**
   * HTTP rows: the same load through a bare TCP relay (tcp-relay.ts), relay rps / direct rps, from its
   * own alternating windows right after the guardian's: the floor for any Node hop on this machine.
   */
  relay_ratio?: number;
  /**
   * The guardian's CPU time (every thread) per request it handled during this row, warm-up included, in
   * µs: steadier than rps on a shared machine, since waiting for a core is not counted.
   */
  guardian_cpu_us_per_request?: number;
  error?: string;
}

const progress = (s: string) => process.stderr.write(s);

/**
 * Runs the scanner benchmark in a fresh process: in this one, the heap the load runs left behind made
 * the scanner's numbers depend on what ran before it.
 */
function scanBenchInChild(sizeMiB: number): Promise<ScanBenchRow[]> {
  const script = fileURLToPath(new URL('./scan-bench.js', import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script],
      { env: { ...process.env, SCAN_BENCH_MIB: String(sizeMiB) }, maxBuffer: 16 * 1024 * 1024, timeout: 600_000 },
      (err, stdout) => {
        if (err) return reject(err);
        const line = stdout.split('\n').find((l) => l.startsWith('{"scanner":'));
        if (!line) return reject(new Error('scanner benchmark printed no result'));
        resolve((JSON.parse(line) as { scanner: ScanBenchRow[] }).scanner);
      },
    );
  });
}
const f2 = (n: number | null | undefined) =>
  n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(2);
const mib = (bytes: number) => (Number.isFinite(bytes) ? Math.round(bytes / (1024 * 1024)) : NaN);
const pf = (ok: boolean | null) => (ok === null ? '' : ok ? 'PASS' : 'MISS');

/** Share of body bytes forwarded unscanned, e.g. "12.5%"; '' when the guardian does not count them. */
function unscannedShare(u: { skipped_bytes: number; scanned_bytes: number } | undefined): string {
  if (!u) return '';
  const all = u.skipped_bytes + u.scanned_bytes;
  return all > 0 ? `${((100 * u.skipped_bytes) / all).toFixed(1)}%` : '0%';
}

/** An inspecting guardian's counters in one line; the scan-backlog ones only when the guardian has them. */
function counterLine(c: GuardianCounters | null): string {
  if (!c) return 'status unavailable';
  const backlog =
    c.scan_skipped_bytes === undefined
      ? ''
      : `, ${c.scan_skipped_bytes} bytes in ${c.scan_skipped_messages ?? '?'} messages forwarded unscanned (backlog full; ` +
        `${unscannedShare({ skipped_bytes: c.scan_skipped_bytes, scanned_bytes: c.bytes_scanned })} of body bytes), backlog peak ${((c.scan_backlog_peak_bytes ?? NaN) / 2 ** 20).toFixed(1)} MiB`;
  return (
    `${c.requests} requests, ${c.connects} CONNECTs, ${(c.bytes_scanned / 2 ** 30).toFixed(2)} GiB scanned, ` +
    `${c.truncated_scans} truncated scans, findings ${c.findings.EXFIL + c.findings.INJECTION}, ` +
    `upstream errors ${c.upstream_errors}, decode errors ${c.decode_errors}${backlog}`
  );
}

const loadavg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

async function main(): Promise<void> {
  const started = Date.now();
  const loadAtStart = loadavg();
  const children: Child[] = [];
  const cleanup = async () => {
    await Promise.all(children.splice(0).map((c) => c.stop().catch(() => undefined)));
  };
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    progress(`\nbench: ${sig}, stopping children\n`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    progress('bench: starting upstream and guardians\n');
    const up = await startUpstreamProcess();
    children.push(up);
    const scanWorkers = scanWorkersConfig();
    const guardianConfig = (inspect: boolean) => ({
      https_inspection: inspect,
      upstream_ca_file: up.caFile,
      dedup_window_secs: 300,
      ...scanWorkers,
    });
    const g = await startGuardianProcess('guardian (inspection on)', guardianConfig(true));
    children.push(g);
    const blind = await startGuardianProcess('guardian (blind tunnel)', guardianConfig(false));
    children.push(blind);
    const gCa = g.caPem!;

    const hostH = `127.0.0.1:${up.httpPort}`;
    const hostS = `localhost:${up.httpsPort}`;
    // A ~64 KiB LLM-API request body (the benign test corpus), like a long agent prompt.
    const uploadBody = Buffer.from(benignJson(64 * 1024, 3));
    // A model call: the whole conversation (~256 KiB messages array) up, server-sent events down.
    const modelBody = modelRequestBody(256 * 1024);
    // Per workload: origin-form request (direct, and inside HTTPS tunnels) and absolute-form (HTTP proxy).
    const workloads: { name: string; origin: (host: string) => Buffer; absolute: Buffer }[] = [
      ['small JSON', '/small'],
      ['64 KiB JSON', '/json64k'],
      ['gzip JSON', '/gzip'],
    ]
      .map(([name, path]) => ({
        name: name!,
        origin: (host: string) => getRequest(path!, host),
        absolute: getRequest(path!, hostH, `http://${hostH}${path}`),
      }))
      .concat(
        {
          name: 'POST 64 KiB',
          origin: (host: string) => postRequest('/upload', host, uploadBody),
          absolute: postRequest('/upload', hostH, uploadBody, `http://${hostH}/upload`),
        },
        {
          name: MODEL,
          origin: (host: string) => postRequest('/model', host, modelBody),
          absolute: postRequest('/model', hostH, modelBody, `http://${hostH}/model`),
        },
      );

    const direct = { http: dialTcp(up.httpPort), https: dialTls(up.httpsPort, up.caPem) };
    const relay = await startRelayProcess(up.httpPort);
    children.push(relay);
    const relayDial = dialTcp(relay.port);
    const via = {
      http: dialTcp(g.port),
      https: dialViaConnect(g.port, hostS, gCa),
      blind: dialViaConnect(blind.port, hostS, up.caPem),
    };

    // Unmeasured warm-up of every path: V8 needs a few seconds of steady load before the guardian's hot
    // paths are optimised (its rps roughly triples over the first 5 s), so every workload runs first.
    progress('bench: warm-up\n');
    const warm = QUICK ? 150 : 700;
    const warmUp = (d: Dial, req: Buffer, ms: number) =>
      runLoad(d, req, 8, ms, 0).catch((err: Error) => progress(`bench: warm-up failed: ${err.message}\n`));
    for (const w of workloads) {
      await warmUp(direct.http, w.origin(hostH), warm / 2);
      await warmUp(direct.https, w.origin(hostS), warm / 2);
      await warmUp(via.http, w.absolute, warm);
      await warmUp(via.https, w.origin(hostS), warm);
    }
    await warmUp(via.blind, workloads[0]!.origin(hostS), warm);
    await warmUp(relayDial, workloads[0]!.origin(hostH), warm);

    const rows: Row[] = [];
    const pair = async (
      workload: string,
      scheme: Scheme,
      conns: number,
      d: Dial,
      dReq: Buffer,
      p: Dial,
      pReq: Buffer,
      counted: Guardian | null,
      floor: Dial | null = null,
    ) => {
      progress(`bench: ${workload} ${scheme} x${conns}\n`);
      const before = counted ? await guardianCounters(counted) : null;
      const cpuBefore = counted ? cpuMs(counted.pid) : NaN;
      const row: Row = {
        workload,
        scheme,
        conns,
        direct: null,
        guardian: null,
        ratio: NaN,
        added_p50_ms: null,
        ratio_goal: ratioGoal(workload, scheme),
        added_p50_goal_ms: addedGoal(workload, scheme, conns),
        ratio_target: null,
        added_p50_target: null,
      };
      // Direct and another path (the guardian, or the bare relay) taking turns in this row's windows.
      const alternate = (other: Dial, otherReq: Buffer) =>
        runPair(
          { dial: d, request: dReq },
          { dial: other, request: otherReq },
          conns,
          P.windowMs,
          P.warmupMs,
          P.slices,
        );
      try {
        const r = await alternate(p, pReq);
        row.direct = r.a;
        row.guardian = r.b;
        row.ratio = row.guardian.rps / Math.max(1, row.direct.rps);
        if (conns === 1) row.added_p50_ms = row.guardian.p50_ms - row.direct.p50_ms;
        if (row.ratio_goal !== null) row.ratio_target = row.ratio >= row.ratio_goal;
        if (row.added_p50_goal_ms !== null && row.added_p50_ms !== null)
          row.added_p50_target = row.added_p50_ms <= row.added_p50_goal_ms;
        const after = counted ? await guardianCounters(counted) : null;
        const cpuUsed = counted ? cpuMs(counted.pid) - cpuBefore : NaN;
        if (before && after && after.requests > before.requests && Number.isFinite(cpuUsed))
          row.guardian_cpu_us_per_request = (cpuUsed * 1000) / (after.requests - before.requests);
        if (before?.scan_skipped_bytes !== undefined && after?.scan_skipped_bytes !== undefined)
          row.unscanned = {
            skipped_bytes: after.scan_skipped_bytes - before.scan_skipped_bytes,
            skipped_messages: (after.scan_skipped_messages ?? 0) - (before.scan_skipped_messages ?? 0),
            scanned_bytes: after.bytes_scanned - before.bytes_scanned,
          };
        if (floor) {
          const f = await alternate(floor, dReq);
          row.relay_ratio = f.b.rps / Math.max(1, f.a.rps);
        }
      } catch (err) {
        row.error = (err as Error).message;
        progress(`bench: ${workload} ${scheme} x${conns} failed: ${row.error}\n`);
      }
      rows.push(row);
    };
    for (const w of workloads) {
      for (const conns of [1, 32]) {
        await pair(w.name, 'http', conns, direct.http, w.origin(hostH), via.http, w.absolute, g, relayDial);
        await pair(w.name, 'https', conns, direct.https, w.origin(hostS), via.https, w.origin(hostS), g);
      }
    }
    for (const conns of [1, 32]) {
      const req = workloads[0]!.origin(hostS);
      await pair('small JSON', 'https blind', conns, direct.https, req, via.blind, req, null);
    }

    // The mix: small GETs on one connection while 8 connections upload 1 MiB bodies, all direct, then all
    // through a fresh guardian (its own, so its counters and backlog peak are this row's alone).
    progress(`bench: mix, small requests x1 while ${P.mix.uploaders} connections upload ${P.mix.uploadMiB} MiB\n`);
    let mix: { direct: MixSide; guardian: MixSide; counters: GuardianCounters | null } | null = null;
    let mixError: string | undefined;
    let mixG: Guardian | null = null;
    try {
      mixG = await startGuardianProcess('guardian (mix)', guardianConfig(true));
      children.push(mixG);
      const mixBody = modelRequestBody(P.mix.uploadMiB * 1024 * 1024, 5);
      const r = await runMix(
        { dial: direct.http, small: getRequest('/small', hostH), upload: postRequest('/upload', hostH, mixBody) },
        {
          dial: dialTcp(mixG.port),
          small: getRequest('/small', hostH, `http://${hostH}/small`),
          upload: postRequest('/upload', hostH, mixBody, `http://${hostH}/upload`),
        },
        { ...P.mix, uploadBytes: mixBody.length },
      );
      mix = { ...r, counters: await guardianCounters(mixG) };
    } catch (err) {
      mixError = (err as Error).message;
      progress(`bench: mix failed: ${mixError}\n`);
    } finally {
      if (mixG) await mixG.stop();
    }
    const mixAdded = mix ? mix.guardian.small.p50_ms - mix.direct.small.p50_ms : NaN;

    // The request forwarder: home-made client vs undici, in two more bare guardians.
    let forwarder: ForwarderRow[] = [];
    let forwarderError: string | undefined;
    try {
      forwarder = await forwarderBench(up, uploadBody, P.forwarder, children, progress);
    } catch (err) {
      forwarderError = (err as Error).message;
      progress(`bench: forwarder comparison failed: ${forwarderError}\n`);
    }

    // Certificate minting: CONNECT h<N>.localhost + TLS to the guardian, a new name each time vs one cached name.
    progress('bench: new vs cached HTTPS host\n');
    let cert: CertResult | null = null;
    let certError: string | undefined;
    try {
      cert = await certProbe(g.port, up.httpsPort, gCa, P.certSamples);
    } catch (err) {
      certError = (err as Error).message;
    }

    // SSE: per-event delay direct and through the guardian (HTTP, and HTTPS with inspection).
    progress('bench: SSE pass-through\n');
    const ssePath = `/sse?n=${P.sseEvents}&gap=${P.sseGapMs}`;
    const sseTimeout = P.sseEvents * P.sseGapMs + 10_000;
    const sse: Record<string, { direct: SseResult; guardian: SseResult } | { error: string }> = {};
    for (const scheme of ['http', 'https'] as const) {
      try {
        const d =
          scheme === 'http'
            ? await sseProbe(direct.http, getRequest(ssePath, hostH), sseTimeout)
            : await sseProbe(direct.https, getRequest(ssePath, hostS), sseTimeout);
        const p =
          scheme === 'http'
            ? await sseProbe(via.http, getRequest(ssePath, hostH, `http://${hostH}${ssePath}`), sseTimeout)
            : await sseProbe(via.https, getRequest(ssePath, hostS), sseTimeout);
        sse[scheme] = { direct: d, guardian: p };
      } catch (err) {
        sse[scheme] = { error: (err as Error).message };
      }
    }
    const sseAdded = (s: (typeof sse)[string] | undefined) =>
      s && 'direct' in s
        ? {
            direct_median_ms: s.direct.median_ms,
            guardian_median_ms: s.guardian.median_ms,
            added_median_ms: s.guardian.median_ms - s.direct.median_ms,
            added_max_ms: s.guardian.max_ms - s.direct.median_ms,
            events: s.guardian.events,
          }
        : null;

    // Counters of the load-test guardians: proof that inspected traffic was scanned and tunnels were blind.
    const counters = { inspecting: await guardianCounters(g), blind: await guardianCounters(blind) };

    // Memory: for each body size a fresh guardian (inspection on), many connections streaming one large
    // body each over HTTP, RSS sampled every 100 ms. Same starting point per size, so the peaks compare:
    // they must not grow with body size.
    progress(`bench: memory, ${P.memConns} connections x ${P.memMiB.join(' / ')} MiB\n`);
    const memory: MemoryResult[] = [];
    let memError: string | undefined;
    const streamReq = (m: number) => getRequest('', hostH, `http://${hostH}/stream?mib=${m}`);
    for (const m of P.memMiB) {
      let memG: Guardian | null = null;
      try {
        memG = await startGuardianProcess(`guardian (memory run, ${m} MiB)`, guardianConfig(true));
        children.push(memG);
        // A little traffic first so the baseline is a guardian that has served requests, not an idle one.
        await runLoad(dialTcp(memG.port), workloads[0]!.absolute, 4, QUICK ? 200 : 500, 0);
        memory.push(await memoryProbe(memG.pid, dialTcp(memG.port), streamReq, P.memConns, m, P.memTimeoutMs));
      } catch (err) {
        memError = (err as Error).message;
      } finally {
        if (memG) await memG.stop();
      }
    }

    progress('bench: scanner\n');
    const scanner: ScanBenchRow[] = await scanBenchInChild(P.scanMiB);

    // ---- report ----
    const out: string[] = [];
    const table = (header: string[], body: (string | number)[][], leftCols = 1) => {
      const w = header.map((h, i) => Math.max(h.length, ...body.map((r) => String(r[i]).length)));
      const fmt = (r: (string | number)[]) =>
        r
          .map((c, i) => (i < leftCols ? String(c).padEnd(w[i]!) : String(c).padStart(w[i]!)))
          .join('  ')
          .trimEnd();
      out.push(fmt(header), ...body.map(fmt));
    };
    out.push(
      '',
      `nanoclaw-traffic-guardian benchmark${QUICK ? ' (BENCH_QUICK: short windows, not for comparison)' : ''}`,
      `node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model.trim() ?? '?'}), ` +
        `load average at start ${loadAtStart}, at end ${loadavg()}`,
      `bodies: small ${up.sizes.small} B, 64 KiB JSON ${up.sizes.json64k} B, gzip ${up.sizes.gzip} B compressed ` +
        `(${up.sizes.json64k} B decoded), POST ${uploadBody.length} B request; model call ${modelBody.length} B JSON ` +
        `request, answer ${MODEL_EVENTS} server-sent events (chunked, sent at once)`,
      `scan_workers: ${scanWorkers.scan_workers ?? 'guardian default (BENCH_SCAN_WORKERS unset)'}`,
      `per row: ${P.warmupMs / 1000} s warm-up each, then direct and guardian take turns in ${P.slices} x ${P.windowMs / P.slices / 1000} s windows ` +
        `(${P.windowMs / 1000} s measured per side); upstream, guardian and load generator are separate processes`,
      '',
      'throughput and latency, keep-alive, direct vs through the guardian (HTTPS inspection on; "https blind" = tunnel-mode guardian)',
      '"relay": the same HTTP load through a bare TCP relay (bench/tcp-relay.ts: no parsing, no scanning), ratio to direct ' +
        'in its own windows right after the guardian row: what one Node hop costs by itself on this machine; ' +
        '"grd CPU us/req": the guardian\'s CPU time (all threads) per request it handled in the row, warm-up included',
    );
    table(
      [
        'workload',
        'scheme',
        'conns',
        'rps direct',
        'rps guardian',
        'ratio',
        'target',
        '',
        'relay',
        'grd CPU us/req',
        'p50 dir ms',
        'p50 grd ms',
        'p99 dir ms',
        'p99 grd ms',
        'added p50 ms',
        'target',
        '',
        'unscanned',
        'errors',
      ],
      rows.map((r) => {
        const goals = [
          r.ratio_goal === null ? '' : `>=${Math.round(r.ratio_goal * 100)}%`,
          r.added_p50_goal_ms === null ? '' : `<=${r.added_p50_goal_ms}`,
        ];
        return r.error
          ? [
              r.workload,
              r.scheme,
              r.conns,
              '-',
              '-',
              '-',
              goals[0]!,
              '',
              '',
              '',
              '-',
              '-',
              '-',
              '-',
              '-',
              goals[1]!,
              '',
              '',
              `failed: ${r.error}`,
            ]
          : [
              r.workload,
              r.scheme,
              r.conns,
              r.direct!.rps,
              r.guardian!.rps,
              `${Math.round(r.ratio * 100)}%`,
              goals[0]!,
              pf(r.ratio_target),
              r.relay_ratio === undefined ? '' : `${Math.round(r.relay_ratio * 100)}%`,
              r.guardian_cpu_us_per_request === undefined ? '' : Math.round(r.guardian_cpu_us_per_request),
              f2(r.direct!.p50_ms),
              f2(r.guardian!.p50_ms),
              f2(r.direct!.p99_ms),
              f2(r.guardian!.p99_ms),
              r.added_p50_ms === null ? '' : f2(r.added_p50_ms),
              goals[1]!,
              pf(r.added_p50_target),
              unscannedShare(r.unscanned),
              `${r.direct!.errors}/${r.guardian!.errors}`,
            ];
      }),
      2,
    );

    out.push(
      '',
      `mix: small JSON GETs on 1 connection while ${P.mix.uploaders} connections upload ${P.mix.uploadMiB} MiB JSON bodies ` +
        `back to back (HTTP; all direct, then all through a fresh guardian; alternating windows as above)`,
    );
    if (mix) {
      const side = (name: string, m: MixSide) => [
        name,
        m.small.requests,
        f2(m.small.p50_ms),
        f2(m.small.p99_ms),
        m.upload.requests,
        m.upload_mib_per_s.toFixed(0),
        `${m.small.errors}/${m.upload.errors}`,
      ];
      table(
        ['path', 'small reqs', 'small p50 ms', 'small p99 ms', 'uploads', 'upload MiB/s', 'errors small/upload'],
        [side('direct', mix.direct), side('guardian', mix.guardian)],
      );
      out.push(
        `  added p50 ${f2(mixAdded)} ms (target <=${TARGET.mixAddedP50Ms}: ${pf(mixAdded <= TARGET.mixAddedP50Ms)}), ` +
          `added p99 ${f2(mix.guardian.small.p99_ms - mix.direct.small.p99_ms)} ms`,
        `  mix guardian after the row (warm-up included): ${counterLine(mix.counters)}`,
      );
    } else out.push(`  failed: ${mixError}`);

    out.push('', 'first request to an HTTPS host: CONNECT + TLS handshake to the guardian (ms)');
    if (cert) {
      const pctl = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((p / 100) * (xs.length - 1))]!;
      table(
        ['host', 'samples', 'median', 'p90', 'max'],
        [
          [
            'new name (certificate minted)',
            cert.samples,
            f2(cert.new_median_ms),
            f2(pctl(cert.new_ms, 90)),
            f2(Math.max(...cert.new_ms)),
          ],
          [
            'cached name',
            cert.samples,
            f2(cert.cached_median_ms),
            f2(pctl(cert.cached_ms, 90)),
            f2(Math.max(...cert.cached_ms)),
          ],
        ],
      );
    } else out.push(`  failed: ${certError}`);

    out.push(
      '',
      `SSE pass-through: ${P.sseEvents} events ${P.sseGapMs} ms apart; delay = receive time - send time in event (ms)`,
    );
    table(
      ['scheme', 'direct median', 'direct max', 'guardian median', 'guardian max', 'added median', 'added max'],
      (['http', 'https'] as const).map((scheme) => {
        const s = sse[scheme];
        if (!s || 'error' in s) return [scheme, `failed: ${s?.error ?? '?'}`, '', '', '', '', ''];
        return [
          scheme,
          f2(s.direct.median_ms),
          f2(s.direct.max_ms),
          f2(s.guardian.median_ms),
          f2(s.guardian.max_ms),
          f2(s.guardian.median_ms - s.direct.median_ms),
          f2(s.guardian.max_ms - s.direct.median_ms),
        ];
      }),
    );

    const b = counters.blind;
    out.push(
      '',
      'guardian counters after the load runs (traffic-guardian status --json)',
      `  inspecting: ${counterLine(counters.inspecting)}`,
      b
        ? `  blind:      ${b.requests} requests, ${b.connects} CONNECTs, ${b.tunnels} blind tunnels, ${b.bytes_scanned} bytes scanned`
        : '  blind: status unavailable',
    );
    out.push(
      '',
      `memory: ${P.memConns} concurrent HTTP connections each streaming one body through a fresh guardian per size (guardian RSS)`,
    );
    if (memory.length) {
      table(
        ['body', 'complete', 'seconds', 'MiB/s', 'baseline RSS MiB', 'peak RSS MiB', 'end RSS MiB'],
        memory.map((m) => [
          `${m.mib_per_body} MiB`,
          `${m.complete}/${m.connections}`,
          m.seconds.toFixed(1),
          Math.round(m.mib_per_s),
          mib(m.baseline_rss_bytes),
          mib(m.peak_rss_bytes),
          mib(m.end_rss_bytes),
        ]),
      );
    }
    if (memError) out.push(`  failed: ${memError}`);
    const memSmall = memory.find((m) => m.mib_per_body === P.memMiB[0]);
    const memBig = memory.find((m) => m.mib_per_body === P.memMiB[1]);
    if (memSmall && memBig) {
      const growth = memBig.peak_rss_bytes - memSmall.peak_rss_bytes;
      out.push(
        `  flatness: peak RSS ${mib(memSmall.peak_rss_bytes)} MiB with ${memSmall.mib_per_body} MiB bodies vs ` +
          `${mib(memBig.peak_rss_bytes)} MiB with ${memBig.mib_per_body} MiB bodies (${growth >= 0 ? '+' : ''}${mib(growth)} MiB)`,
      );
    }

    out.push(...forwarderTable(forwarder));
    if (forwarderError) out.push(`  failed: ${forwarderError}`);

    out.push('');
    console.log(out.join('\n'));
    out.length = 0;
    printScanTable(scanner);

    // ---- targets ----
    const pick = (w: string, s: Scheme, c: number) =>
      rows.find((r) => r.workload === w && r.scheme === s && r.conns === c && !r.error);
    const CONNS = [1, 32] as const;
    /** One target over every row it names (each scheme at 1 and 32 connections): PASS only when all pass. */
    const judgeRows = (
      workload: string,
      schemes: ('http' | 'https')[],
      show: (r: Row) => string,
      ok: (r: Row) => boolean,
    ): { value: string; ok: boolean } => {
      const parts: string[] = [];
      let all = true;
      for (const s of schemes)
        for (const c of CONNS) {
          const r = pick(workload, s, c);
          parts.push(`${s.toUpperCase()} x${c} ${r ? show(r) : 'failed'}`);
          all &&= r !== undefined && ok(r);
        }
      return { value: parts.join(', '), ok: all };
    };
    const pctOf = (r: Row) => `${Math.round(r.ratio * 100)}%`;
    const ratioTarget = (workload: string, schemes: ('http' | 'https')[]) => {
      const goal = TARGET.ratio[workload]![schemes[0]!]!;
      return {
        name: `${workload} throughput >= ${Math.round(goal * 100)}% of direct (${schemes.map((x) => x.toUpperCase()).join(' and ')}, 1 and 32 conns)`,
        ...judgeRows(workload, schemes, pctOf, (r) => r.ratio_target === true),
      };
    };
    const modelRows = (['http', 'https'] as const).map((s) => pick(MODEL, s, 1));
    const sseH = sseAdded(sse.http);
    const sseS = sseAdded(sse.https);
    const scanRate = (dir: string, encoding: string) =>
      scanner.find((s) => s.corpus === 'benign JSON' && s.direction === dir && s.encoding === encoding)?.mb_per_s ??
      NaN;
    const scanMin = Math.min(scanRate('outbound', 'identity'), scanRate('inbound', 'identity'));
    const sseWorst = Math.max(sseH?.added_median_ms ?? NaN, sseS?.added_median_ms ?? NaN);
    const targets: { name: string; value: string; ok: boolean }[] = [
      ratioTarget('small JSON', ['http']),
      ratioTarget('small JSON', ['https']),
      ratioTarget('64 KiB JSON', ['http', 'https']),
      ratioTarget('POST 64 KiB', ['http', 'https']),
      ratioTarget('gzip JSON', ['http', 'https']),
      {
        name: `${MODEL} (${Math.round(modelBody.length / 1024)} KiB POST, SSE answer) added p50 at 1 connection <= ${TARGET.modelAddedP50Ms} ms (HTTP and HTTPS)`,
        value: modelRows
          .map((r, i) => `${i === 0 ? 'HTTP' : 'HTTPS'} ${r ? `${f2(r.added_p50_ms)} ms` : 'failed'}`)
          .join(', '),
        ok: modelRows.every((r) => r?.added_p50_target === true),
      },
      {
        name: `mix: small requests' added p50 <= ${TARGET.mixAddedP50Ms} ms while ${P.mix.uploaders} connections upload ${P.mix.uploadMiB} MiB`,
        value: mix
          ? `${f2(mixAdded)} ms (p50 ${f2(mix.direct.small.p50_ms)} direct, ${f2(mix.guardian.small.p50_ms)} guardian; ` +
            `uploads ${mix.direct.upload_mib_per_s.toFixed(0)} / ${mix.guardian.upload_mib_per_s.toFixed(0)} MiB/s)`
          : 'failed',
        ok: mix !== null && mixAdded <= TARGET.mixAddedP50Ms,
      },
      {
        name: `new HTTPS host < ${TARGET.newHostMs} ms (median CONNECT + TLS with a minted certificate)`,
        value: cert ? `${f2(cert.new_median_ms)} ms (cached host ${f2(cert.cached_median_ms)} ms)` : 'failed',
        ok: cert !== null && cert.new_median_ms < TARGET.newHostMs,
      },
      {
        name: `SSE per-event added delay < ${TARGET.sseAddedMs} ms (median; HTTP and HTTPS)`,
        value:
          `HTTP ${f2(sseH?.added_median_ms)} ms (max ${f2(sseH?.added_max_ms)}), ` +
          `HTTPS ${f2(sseS?.added_median_ms)} ms (max ${f2(sseS?.added_max_ms)})`,
        ok: sseWorst < TARGET.sseAddedMs,
      },
      {
        name: `peak RSS < ${TARGET.peakRssBytes / 1e6} MB in the memory run (${P.memConns} x ${memBig?.mib_per_body ?? '?'} MiB)`,
        value: memBig
          ? `${(memBig.peak_rss_bytes / 1e6).toFixed(0)} MB (${memBig.complete}/${memBig.connections} complete)`
          : 'failed',
        ok:
          memBig !== undefined && memBig.complete === memBig.connections && memBig.peak_rss_bytes < TARGET.peakRssBytes,
      },
      {
        name: `scanner >= ${TARGET.scanMBps} MB/s on benign JSON (identity, both directions)`,
        value: `outbound ${scanRate('outbound', 'identity')} MB/s, inbound ${scanRate('inbound', 'identity')} MB/s`,
        ok: scanMin >= TARGET.scanMBps,
      },
      {
        name: `scanner >= ${TARGET.scanGzipMBps} MB/s on benign JSON gzip (decoded bytes)`,
        value: `${scanRate('outbound', 'gzip')} MB/s`,
        ok: scanRate('outbound', 'gzip') >= TARGET.scanGzipMBps,
      },
    ];
    out.push('', 'targets (reported, not enforced; ratios to direct in this run)');
    for (const t of targets) out.push(`  ${t.ok ? 'PASS' : 'MISS'}  ${t.name}: ${t.value}`);
    // A guardian that forwarded bytes unscanned (scan backlog full) did less work than one that scans all.
    const skippedRows = rows.filter((r) => (r.unscanned?.skipped_bytes ?? 0) > 0);
    const mixSkipped = mix?.counters?.scan_skipped_bytes ?? 0;
    if (skippedRows.length || mixSkipped > 0)
      out.push(
        `  note: the guardian forwarded body bytes unscanned (scan backlog full) in ${skippedRows.length} rows` +
          `${mixSkipped > 0 ? ' and in the mix' : ''} (column "unscanned"): their numbers are not those of a guardian that scans everything`,
      );
    const seconds = (Date.now() - started) / 1000;
    out.push('', `total ${seconds.toFixed(0)} s`);
    console.log(out.join('\n'));

    const json = {
      quick: QUICK,
      node: process.version,
      cpus: os.cpus().length,
      params: P,
      rows,
      cert,
      sse: { http: sseH, https: sseS, raw: sse },
      counters,
      mix: mix ? { ...mix, added_p50_ms: mixAdded } : { error: mixError },
      memory,
      forwarder,
      scanner,
      targets,
      seconds,
    };
    console.log(`BENCH_JSON ${JSON.stringify(json)}`);
  } finally {
    await cleanup();
  }
}

await main();
