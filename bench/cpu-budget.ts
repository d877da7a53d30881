// Where the CPU goes per request, for one of the bench's loads sent three ways in turn: direct, through
// a bare TCP relay (tcp-relay.ts: the floor for any Node hop) and through the guardian (HTTPS inspection
// on, plain HTTP proxy requests). For each: µs of CPU per request of the load generator (this process),
// the hop (its main thread, its busiest other thread, which is the scan worker under load, and the rest:
// V8 and libuv helpers) and the upstream, from /proc, so waiting for a core is not counted; and the
// share of body bytes the guardian forwarded unscanned meanwhile (its scan backlog full), without which
// its CPU per request would read cheaper than a guardian that scans everything.
//
// On a machine whose cores are all busy with the load (32 connections on 2 cores), throughput is CPU per
// request: a path's rps relative to direct is close to direct's total over the path's total, printed as
// "CPU-bound estimate" beside the measured ratio. With it one can read what a target asks: for the
// guardian to reach ratio R, the whole path may cost at most direct's total / R.
// Usage: node dist/bench/cpu-budget.js [--workload small|json64k|gzip|post64k|model] [--conns N] [--seconds N]
import { parseArgs } from 'node:util';
import { dialTcp, runLoad, type Dial } from './load.js';
import { requestFor, WORKLOADS, type Workload } from './profile.js';
import {
  cpuMs,
  guardianCounters,
  startGuardianProcess,
  startRelayProcess,
  startUpstreamProcess,
  threadCpuMs,
  type Child,
  type Guardian,
} from './processes.js';

type Load = Exclude<Workload, 'mix'>;

export interface PathCpu {
  path: string;
  rps: number;
  requests: number;
  /** µs of CPU per request. */
  loadgen: number;
  hopMain: number | null;
  hopBusiestOther: number | null;
  hopRest: number | null;
  upstream: number;
  total: number;
  /**
   * Guardian only: the share of body bytes it forwarded unscanned in the window (scan backlog full): its
   * CPU per request is that of a guardian that scanned the rest only.
   */
  unscanned: number | null;
}

/** µs per request of each thread's CPU between two snapshots: main thread (tid = pid), busiest other, rest. */
export function splitThreads(
  pid: number,
  before: Map<number, number>,
  after: Map<number, number>,
  requests: number,
): { main: number; busiestOther: number; rest: number } {
  let main = 0;
  const others: number[] = [];
  for (const [tid, ms] of after) {
    const used = ms - (before.get(tid) ?? 0);
    if (tid === pid) main = used;
    else others.push(used);
  }
  others.sort((a, b) => b - a);
  const per = (ms: number) => (requests > 0 ? (ms * 1000) / requests : NaN);
  const busiest = others[0] ?? 0;
  return { main: per(main), busiestOther: per(busiest), rest: per(others.slice(1).reduce((a, b) => a + b, 0)) };
}

async function measure(
  name: string,
  dial: Dial,
  request: Buffer,
  hop: Child | null,
  upstream: Child,
  conns: number,
  ms: number,
  counted: Guardian | null = null,
): Promise<PathCpu> {
  // Unmeasured warm-up: V8 optimises the hot paths of the hop first.
  await runLoad(dial, request, Math.min(conns, 8), 1500, 0);
  const c0 = counted ? await guardianCounters(counted) : null;
  const hop0 = hop ? threadCpuMs(hop.pid) : null;
  const up0 = cpuMs(upstream.pid);
  const me0 = process.cpuUsage();
  const r = await runLoad(dial, request, conns, ms, 0);
  const me = process.cpuUsage(me0);
  const up = cpuMs(upstream.pid) - up0;
  const hop1 = hop ? threadCpuMs(hop.pid) : null;
  const c1 = counted ? await guardianCounters(counted) : null;
  let unscanned: number | null = null;
  if (c0?.scan_skipped_bytes !== undefined && c1?.scan_skipped_bytes !== undefined) {
    const skipped = c1.scan_skipped_bytes - c0.scan_skipped_bytes;
    const scanned = c1.bytes_scanned - c0.bytes_scanned;
    unscanned = skipped + scanned > 0 ? skipped / (skipped + scanned) : 0;
  }
  const n = r.requests;
  const perReq = (ms: number) => (n > 0 ? (ms * 1000) / n : NaN);
  const split = hop && hop0 && hop1 ? splitThreads(hop.pid, hop0, hop1, n) : null;
  // process.cpuUsage() is in µs already.
  const loadgen = n > 0 ? (me.user + me.system) / n : NaN;
  const upstreamUs = perReq(up);
  const hopTotal = split ? split.main + split.busiestOther + split.rest : 0;
  return {
    path: name,
    rps: r.rps,
    requests: n,
    loadgen,
    hopMain: split?.main ?? null,
    hopBusiestOther: split?.busiestOther ?? null,
    hopRest: split?.rest ?? null,
    upstream: upstreamUs,
    total: loadgen + hopTotal + upstreamUs,
    unscanned,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workload: { type: 'string', default: 'json64k' },
      conns: { type: 'string', default: '32' },
      seconds: { type: 'string', default: '5' },
      help: { type: 'boolean', default: false },
    },
  });
  const loads = WORKLOADS.filter((w): w is Load => w !== 'mix');
  if (values.help) {
    console.log(
      `usage: node dist/bench/cpu-budget.js [--workload ${loads.join('|')}] [--conns N] [--seconds N]\n` +
        'CPU per request of the load generator, the hop and the upstream: direct, bare relay, guardian.',
    );
    return;
  }
  const workload = values.workload as Load;
  if (!loads.includes(workload)) throw new Error(`--workload must be one of ${loads.join(', ')}`);
  const conns = Number(values.conns);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(conns) || conns < 1 || conns > 256) throw new Error('--conns must be 1 to 256');
  if (!(seconds >= 1 && seconds <= 60)) throw new Error('--seconds must be 1 to 60');
  const children: Child[] = [];
  try {
    const up = await startUpstreamProcess();
    children.push(up);
    const g = await startGuardianProcess('guardian', {
      https_inspection: true,
      upstream_ca_file: up.caFile,
      dedup_window_secs: 300,
    });
    children.push(g);
    const relay = await startRelayProcess(up.httpPort);
    children.push(relay);
    const host = `127.0.0.1:${up.httpPort}`;
    const origin = requestFor(workload, host, false);
    const ms = seconds * 1000;
    const rows = [
      await measure('direct', dialTcp(up.httpPort), origin, null, up, conns, ms),
      await measure('bare relay', dialTcp(relay.port), origin, relay, up, conns, ms),
      await measure('guardian', dialTcp(g.port), requestFor(workload, host, true), g, up, conns, ms, g),
    ];
    const d = rows[0]!;
    const f = (x: number | null) => (x === null ? '' : Number.isFinite(x) ? x.toFixed(0) : '?');
    console.log(
      `CPU per request (µs, from /proc), ${workload}, ${conns} keep-alive connections, ${seconds} s per path\n`,
    );
    const head = [
      'path',
      'rps',
      'loadgen',
      'hop main',
      'hop busiest other',
      'hop rest',
      'upstream',
      'total',
      'rps / direct',
      'CPU-bound estimate',
      'unscanned',
    ];
    const body = rows.map((r) => [
      r.path,
      String(r.rps),
      f(r.loadgen),
      f(r.hopMain),
      f(r.hopBusiestOther),
      f(r.hopRest),
      f(r.upstream),
      f(r.total),
      `${Math.round((100 * r.rps) / Math.max(1, d.rps))}%`,
      `${Math.round((100 * d.total) / r.total)}%`,
      r.unscanned === null ? '' : `${(100 * r.unscanned).toFixed(1)}%`,
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
    for (const line of [head, ...body]) console.log(line.map((c, i) => c.padStart(w[i]!)).join('  '));
    console.log(
      `\nfor the guardian to reach ratio R with every core busy, its whole path may cost about ` +
        `${f(d.total)} / R µs per request (${f(d.total / 0.5)} at 50%, ${f(d.total / 0.4)} at 40%)`,
    );
  } finally {
    for (const c of children.reverse()) await c.stop().catch(() => undefined);
  }
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain)
  await main().catch((err: Error) => {
    process.stderr.write(`cpu-budget: ${err.message} (--help for usage)\n`);
    process.exitCode = 1;
  });
