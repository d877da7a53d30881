// Where the guardian's time goes: runs the guardian under `node --cpu-prof` while the HTTP small-JSON
// load (32 keep-alive connections) goes through it, stops it with SIGTERM (the profile is written on
// exit) and prints the top self-time functions and a breakdown by area, counting only samples taken
// during the load window. Usage: node dist/bench/profile.js [--seconds N] [--conns N] [--keep DIR]
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { dialTcp, getRequest, runLoad } from './load.js';
import { startGuardianProcess, startUpstreamProcess, type Child } from './processes.js';

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

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      conns: { type: 'string', default: '32' },
      top: { type: 'string', default: '30' },
      keep: { type: 'string' },
    },
  });
  const seconds = Math.min(60, Number(values.seconds));
  const conns = Math.min(256, Number(values.conns));
  const dir = values.keep ?? mkdtempSync(path.join(os.tmpdir(), 'tgb-prof-'));
  const children: Child[] = [];
  try {
    const up = await startUpstreamProcess();
    children.push(up);
    const g = await startGuardianProcess(
      'guardian (profiled)',
      { https_inspection: true, upstream_ca_file: up.caFile, dedup_window_secs: 300 },
      ['--cpu-prof', '--cpu-prof-dir', dir],
    );
    children.push(g);
    const host = `127.0.0.1:${up.httpPort}`;
    const req = getRequest('/small', host, `http://${host}/small`);
    await runLoad(dialTcp(g.port), req, 8, 1000, 0);
    // CLOCK_MONOTONIC in µs: the same clock V8 stamps profile samples with on Linux.
    const from = Number(process.hrtime.bigint() / 1000n);
    const r = await runLoad(dialTcp(g.port), req, conns, seconds * 1000, 0);
    const to = Number(process.hrtime.bigint() / 1000n);
    process.stderr.write(`load: ${r.rps} rps, p50 ${r.p50_ms.toFixed(2)} ms, ${r.errors} errors\n`);
    await g.stop();
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile written in ${dir}`);
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
    let s = summarise(profile, from, to);
    let note = 'samples inside the load window only';
    if (s.totalMs < 100) {
      s = summarise(profile);
      note = 'whole profile (load-window clock did not line up)';
    }
    const top = Number(values.top);
    const pct = (us: number) => ((100 * us) / 1000 / s.totalMs).toFixed(1).padStart(5);
    console.log(
      `guardian CPU profile: HTTP small JSON, ${conns} keep-alive connections, ${seconds} s, ${r.rps} rps; ` +
        `${s.totalMs.toFixed(0)} ms sampled (${note})`,
    );
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
    if (values.keep) console.log(`\nprofile kept: ${path.join(dir, file)}`);
  } finally {
    for (const c of children.reverse()) await c.stop().catch(() => undefined);
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
  }
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) await main();
