// Where the guardian's time goes: runs the guardian under `node --cpu-prof` while a load goes through
// it over HTTP, stops it with SIGTERM (each thread writes its own profile on exit) and prints the top
// self-time functions and a breakdown by area, counting only samples taken during the load window: the
// main thread first, then the scan worker threads merged (when the guardian runs any).
// Workloads (--workload): small (small JSON GETs, the default), json64k (64 KiB JSON GETs), gzip (gzip
// JSON GETs), post64k (64 KiB JSON POSTs), model (the
// model call: 256 KiB JSON POST answered with server-sent events), mix (small GETs on 1 connection while
// --conns connections upload 1 MiB bodies). BENCH_SCAN_WORKERS=N sets the guardian's scan_workers.
// --scheme https sends the load through inspected CONNECT tunnels (TLS to the guardian and from it to
// the upstream) instead of plain HTTP proxy requests.
// V8's sampler places time spent in native code (copies, syscalls) loosely: a copy into shared memory that
// took 23% of the proxy thread under `perf record -e cpu-clock` showed as 9% here. Use perf (with node's
// --perf-basic-prof) to confirm where native time goes.
// Usage: node dist/bench/profile.js [--workload W] [--scheme http|https] [--seconds N] [--conns N] [--top N]
//        [--keep DIR]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dialTcp, dialViaConnect, getRequest, LoadSession, postRequest, runLoad, type Dial } from './load.js';
import { modelRequestBody } from './model-answer.js';
import { scanWorkersConfig, startGuardianProcess, startUpstreamProcess, type Child } from './processes.js';
import { benignJson } from '../test/support/benign-corpus.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

function shortUrl(url: string): string {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith(ROOT)) u = u.slice(ROOT.length + 1);
  return u.replace(/^node_modules\//, '');
}

function area(f: CallFrame): string {
  const u = shortUrl(f.url);
  if (!u) return f.functionName.startsWith('(') ? f.functionName : '(native / builtin)';
  if (u.startsWith('node:')) {
    const m = /^node:(?:internal\/)?([a-z_]+)/.exec(u);
    return `node:${m?.[1] ?? u}`;
  }
  if (u.startsWith('dist/lib/')) return `lib/${u.split('/')[2] ?? ''}`.replace(/\.js$/, '');
  if (u.startsWith('dist/host-services/'))
    return `host-services/${u.split('/').slice(2).join('/')}`.replace(/\.js$/, '');
  return u.split('/')[0] ?? u;
}

/** Self time per function (ms) for samples whose timestamp lies in [fromUs, toUs] (profile clock). */
export function summarise(profile: CpuProfile, fromUs = -Infinity, toUs = Infinity) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (t < fromUs || t > toUs) continue;
    // A sample's time is the gap to the next sample; use this sample's delta as the usual approximation.
    const next = profile.timeDeltas[i + 1] ?? dt;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + next);
    total += next;
  }
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
  // Generic socket/stream write layers: skipped when naming who called a native function.
  const plumbing =
    /^node:(internal\/stream_base_commons|net|internal\/streams\/|_http_outgoing|events|internal\/process)/;
  /** The call path above a native frame: up to `depth` JavaScript frames above the write plumbing. */
  const callers = (id: number, depth: number): string => {
    const out: string[] = [];
    for (let p = parent.get(id); p !== undefined && out.length < depth; p = parent.get(p)) {
      const f = byId.get(p)!.callFrame;
      if (f.url && !plumbing.test(f.url)) out.push(label(f));
    }
    return out.join(' < ');
  };
  const fns = new Map<
    string,
    { name: string; where: string; area: string; us: number; callers: Map<string, number> }
  >();
  const areas = new Map<string, number>();
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName}|${where}`;
    // Native frames (no url) are charged to the area of the JavaScript that called them.
    let a = area(f);
    if (!f.url && !f.functionName.startsWith('(')) {
      for (let p = parent.get(id); p !== undefined; p = parent.get(p)) {
        const pf = byId.get(p)!.callFrame;
        if (pf.url) {
          a = `${area(pf)} (native)`;
          break;
        }
      }
    }
    const e = fns.get(key) ?? { name: f.functionName || '(anonymous)', where, area: a, us: 0, callers: new Map() };
    e.us += us;
    if (!f.url && !f.functionName.startsWith('(')) {
      const c = callers(id, 3);
      e.callers.set(c, (e.callers.get(c) ?? 0) + us);
    }
    fns.set(key, e);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  return {
    totalMs: total / 1000,
    functions: [...fns.values()].sort((a, b) => b.us - a.us),
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]),
  };
}

type Summary = ReturnType<typeof summarise>;

/** Several threads' summaries as one (the scan workers run the same code; their sum is what they cost). */
export function mergeSummaries(list: Summary[]): Summary {
  const fns = new Map<string, Summary['functions'][number]>();
  const areas = new Map<string, number>();
  let total = 0;
  for (const s of list) {
    total += s.totalMs;
    for (const [a, us] of s.areas) areas.set(a, (areas.get(a) ?? 0) + us);
    for (const f of s.functions) {
      const key = `${f.name}|${f.where}`;
      const e = fns.get(key) ?? { ...f, us: 0, callers: new Map<string, number>() };
      e.us += f.us;
      for (const [c, us] of f.callers) e.callers.set(c, (e.callers.get(c) ?? 0) + us);
      fns.set(key, e);
    }
  }
  return {
    totalMs: total,
    functions: [...fns.values()].sort((a, b) => b.us - a.us),
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]),
  };
}

function printSummary(s: Summary, top: number): void {
  const pct = (us: number) => ((100 * us) / 1000 / s.totalMs).toFixed(1).padStart(5);
  console.log('\nby area (self time)');
  for (const [a, us] of s.areas.slice(0, 20))
    console.log(`  ${pct(us)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${a}`);
  console.log(`\ntop ${top} functions by self time`);
  for (const f of s.functions.slice(0, top)) {
    console.log(`  ${pct(f.us)}%  ${(f.us / 1000).toFixed(0).padStart(6)} ms  ${f.name}  ${f.where}`);
    // For native functions, the JavaScript call paths that account for most of their time.
    const cs = [...f.callers.entries()].sort((a, b) => b[1] - a[1]).slice(0, 3);
    for (const [c, us] of cs) if (us >= f.us * 0.1) console.log(`${' '.repeat(20)}${pct(us)}%  < ${c}`);
  }
}

/** Summary of one profile inside the load window, or of all of it if the window's clock did not line up. */
function windowed(profile: CpuProfile, from: number, to: number): { s: Summary; note: string } {
  const s = summarise(profile, from, to);
  if (s.totalMs >= 100 || profile.samples.length === 0) return { s, note: 'samples inside the load window only' };
  return { s: summarise(profile), note: 'whole profile (load-window clock did not line up)' };
}

export const WORKLOADS = ['small', 'json64k', 'gzip', 'post64k', 'model', 'mix'] as const;
export type Workload = (typeof WORKLOADS)[number];
const SCHEMES = ['http', 'https'] as const;
type Scheme = (typeof SCHEMES)[number];

interface LoadOutcome {
  line: string;
}

/**
 * The request one connection sends over and over for `workload` (not the mix, which has two kinds), in
 * absolute form (for a plain HTTP proxy) when `absolute`, else in origin form.
 */
export function requestFor(workload: Exclude<Workload, 'mix'>, host: string, absolute: boolean): Buffer {
  const url = (p: string) => (absolute ? `http://${host}${p}` : undefined);
  switch (workload) {
    case 'small':
    case 'json64k':
    case 'gzip':
      return getRequest(`/${workload}`, host, url(`/${workload}`));
    case 'post64k':
      return postRequest('/upload', host, Buffer.from(benignJson(64 * 1024, 3)), url('/upload'));
    case 'model':
      return postRequest('/model', host, modelRequestBody(256 * 1024), url('/model'));
  }
}

/** Runs `workload` through the guardian for `ms`; one line saying what it achieved. */
async function drive(
  workload: Workload,
  dial: Dial,
  host: string,
  conns: number,
  ms: number,
  scheme: Scheme,
): Promise<LoadOutcome> {
  // Absolute-form for the plain HTTP proxy; origin-form inside a tunnel.
  const url = (p: string) => (scheme === 'http' ? `http://${host}${p}` : undefined);
  const small = getRequest('/small', host, url('/small'));
  if (workload === 'mix') {
    const body = modelRequestBody(1024 * 1024, 5);
    const up = await LoadSession.open(dial, postRequest('/upload', host, body, url('/upload')), conns);
    const sm = await LoadSession.open(dial, small, 1).catch((err: unknown) => {
      up.close();
      throw err;
    });
    try {
      await Promise.all([up.run(ms, true), sm.run(ms, true)]);
      const u = up.result();
      const r = sm.result();
      const mibs = (u.requests * body.length) / 2 ** 20 / (u.measured_ms / 1000);
      return {
        line:
          `small GETs x1: p50 ${r.p50_ms.toFixed(2)} ms, p99 ${r.p99_ms.toFixed(2)} ms; ` +
          `uploads x${conns}: ${mibs.toFixed(0)} MiB/s; errors ${r.errors}/${u.errors}`,
      };
    } finally {
      up.close();
      sm.close();
    }
  }
  const r = await runLoad(dial, requestFor(workload, host, scheme === 'http'), conns, ms, 0);
  return { line: `${r.rps} rps, p50 ${r.p50_ms.toFixed(2)} ms, p99 ${r.p99_ms.toFixed(2)} ms, ${r.errors} errors` };
}

const DESCRIBE: Record<Workload, string> = {
  small: 'small JSON GETs',
  json64k: '64 KiB JSON GETs',
  gzip: 'gzip JSON GETs',
  post64k: '64 KiB JSON POSTs',
  model: 'model call (256 KiB JSON POST, SSE answer)',
  mix: 'mix (small GETs on 1 connection while the others upload 1 MiB bodies)',
};

/** `CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile`: thread 0 is the main thread. */
export function threadOf(file: string): number {
  const m = /^CPU\.\d+\.\d+\.\d+\.(\d+)\.\d+\.cpuprofile$/.exec(file);
  return m ? Number(m[1]) : 0;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workload: { type: 'string', default: 'small' },
      scheme: { type: 'string', default: 'http' },
      seconds: { type: 'string', default: '10' },
      conns: { type: 'string' },
      top: { type: 'string', default: '30' },
      keep: { type: 'string' },
    },
  });
  const workload = values.workload as Workload;
  if (!WORKLOADS.includes(workload)) throw new Error(`--workload must be one of ${WORKLOADS.join(', ')}`);
  const scheme = values.scheme as Scheme;
  if (!SCHEMES.includes(scheme)) throw new Error(`--scheme must be one of ${SCHEMES.join(', ')}`);
  const seconds = Math.min(60, Number(values.seconds));
  const conns = Math.min(256, Number(values.conns ?? (workload === 'mix' ? 8 : 32)));
  const top = Number(values.top);
  const dir = values.keep ?? mkdtempSync(path.join(os.tmpdir(), 'tgb-prof-'));
  const children: Child[] = [];
  try {
    const up = await startUpstreamProcess();
    children.push(up);
    const g = await startGuardianProcess(
      'guardian (profiled)',
      { https_inspection: true, upstream_ca_file: up.caFile, dedup_window_secs: 300, ...scanWorkersConfig() },
      ['--cpu-prof', '--cpu-prof-dir', dir],
    );
    children.push(g);
    const host = scheme === 'http' ? `127.0.0.1:${up.httpPort}` : `localhost:${up.httpsPort}`;
    const dial = scheme === 'http' ? dialTcp(g.port) : dialViaConnect(g.port, host, g.caPem!);
    // Unprofiled warm-up (the samples before the window are left out): V8 optimises the hot paths first.
    await drive(workload, dial, host, Math.min(conns, 8), 1000, scheme);
    // CLOCK_MONOTONIC in µs: the same clock V8 stamps profile samples with on Linux.
    const from = Number(process.hrtime.bigint() / 1000n);
    const r = await drive(workload, dial, host, conns, seconds * 1000, scheme);
    const to = Number(process.hrtime.bigint() / 1000n);
    process.stderr.write(`load: ${r.line}\n`);
    await g.stop();
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
    const main = files.find((f) => threadOf(f) === 0);
    if (!main) throw new Error(`no main-thread .cpuprofile written in ${dir}`);
    const read = (f: string) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as CpuProfile;
    const m = windowed(read(main), from, to);
    const cfg = scanWorkersConfig();
    console.log(
      `guardian CPU profile: ${scheme.toUpperCase()} ${DESCRIBE[workload]}, ${conns} keep-alive connections, ${seconds} s; ${r.line}` +
        `${cfg.scan_workers === undefined ? '' : `; scan_workers ${cfg.scan_workers}`}`,
    );
    console.log(`\nmain thread: ${m.s.totalMs.toFixed(0)} ms sampled (${m.note})`);
    printSummary(m.s, top);
    const workerFiles = files.filter((f) => threadOf(f) !== 0);
    if (workerFiles.length) {
      const ws = workerFiles.map((f) => windowed(read(f), from, to).s);
      const merged = mergeSummaries(ws);
      console.log(
        `\nworker threads (${workerFiles.length}, merged): ${merged.totalMs.toFixed(0)} ms sampled ` +
          `(${ws.map((w) => w.totalMs.toFixed(0)).join(' + ')} ms; a thread's samples include its idle time)`,
      );
      printSummary(merged, top);
    } else console.log('\nno worker-thread profiles (the guardian ran no worker threads, or none exited cleanly)');
    if (values.keep) console.log(`\nprofiles kept in ${dir}: ${files.join(', ')}`);
  } finally {
    for (const c of children.reverse()) await c.stop().catch(() => undefined);
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) await main();
