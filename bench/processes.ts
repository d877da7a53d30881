// Child processes for the benchmark: the upstream and the guardians, each a separate node process so
// none shares an event loop with the load generator. Every child is stopped with SIGTERM at the end, on
// errors and if this process exits early; temp homes are removed after the child has exited.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const CLI = path.join(DIST, 'host-services', 'cli.js');
const UPSTREAM = path.join(DIST, 'bench', 'upstream-server.js');
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  home: string;
  /** The last few KiB the child wrote to stderr (for error messages). */
  stderrTail: () => string;
  stop: () => Promise<void>;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
});

function waitLine(proc: ChildProcess, re: RegExp, what: string, tail: () => string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) done(() => resolve(m));
    };
    const onExit = (code: number | null, sig: string | null) =>
      done(() => reject(new Error(`${what} exited (${code ?? sig}) before it was ready: ${out}${tail()}`)));
    const timer = setTimeout(
      () => done(() => reject(new Error(`${what}: not ready within ${START_TIMEOUT_MS} ms: ${out}${tail()}`))),
      START_TIMEOUT_MS,
    );
    const done = (f: () => void) => {
      clearTimeout(timer);
      proc.stdout!.off('data', onData);
      proc.off('exit', onExit);
      // Keep draining stdout so a chatty child never blocks on a full pipe.
      proc.stdout!.resume();
      f();
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', onExit);
  });
}

function spawnChild(name: string, args: string[], env: NodeJS.ProcessEnv, home: string): Child {
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
  live.add(proc);
  let tail = '';
  proc.stderr!.on('data', (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4096);
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  exited.then(() => live.delete(proc));
  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), STOP_TIMEOUT_MS)));
        if ((await Promise.race([exited, late])) === 'late') {
          process.stderr.write(`bench: ${name} ignored SIGTERM for ${STOP_TIMEOUT_MS} ms; killing it\n`);
          proc.kill('SIGKILL');
          await exited;
        }
        clearTimeout(timer);
      }
      rmSync(home, { recursive: true, force: true });
    })());
  return {
    name,
    proc,
    pid: proc.pid!,
    home,
    stderrTail: () => (tail ? `\n--- ${name} stderr (tail) ---\n${tail}` : ''),
    stop,
  };
}

export interface Upstream extends Child {
  httpPort: number;
  httpsPort: number;
  /** The upstream's CA certificate (its leaf covers `localhost` only). */
  caFile: string;
  caPem: string;
  /** Response body sizes in bytes (gzip: compressed size). */
  sizes: { small: number; json64k: number; gzip: number };
}

export async function startUpstreamProcess(): Promise<Upstream> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'tgb-up-'));
  const child = spawnChild('upstream', [UPSTREAM, home], process.env, home);
  try {
    const m = await waitLine(child.proc, /^(\{.*\})$/m, 'bench upstream', child.stderrTail);
    const info = JSON.parse(m[1]!) as Pick<Upstream, 'httpPort' | 'httpsPort' | 'caFile' | 'caPem' | 'sizes'>;
    return { ...child, ...info };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

export interface Relay extends Child {
  port: number;
}

/** The bare TCP relay (tcp-relay.ts) in front of `upstreamPort`: the floor for a hop on this machine. */
export async function startRelayProcess(upstreamPort: number): Promise<Relay> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'tgb-relay-'));
  const child = spawnChild(
    'tcp relay',
    [path.join(DIST, 'bench', 'tcp-relay.js'), String(upstreamPort)],
    process.env,
    home,
  );
  try {
    const m = await waitLine(child.proc, /^\{"port":(\d+)\}$/m, 'tcp relay', child.stderrTail);
    return { ...child, port: Number(m[1]) };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

export interface Guardian extends Child {
  port: number;
  /** The guardian's CA certificate (<home>/ca/ca.crt) when HTTPS inspection is on. */
  caPem: string | null;
}

/**
 * `node [nodeArgs] dist/host-services/cli.js start --port 0 --config <home>/bench-config.json` with its own
 * NANOCLAW_TRAFFIC_GUARDIAN_HOME; the port is read from the `listening on` line.
 */
export async function startGuardianProcess(
  name: string,
  config: Record<string, unknown>,
  nodeArgs: string[] = [],
): Promise<Guardian> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'tgb-g-'));
  const cfg = path.join(home, 'bench-config.json');
  writeFileSync(cfg, JSON.stringify(config, null, 2));
  const child = spawnChild(
    name,
    [...nodeArgs, CLI, 'start', '--port', '0', '--config', cfg],
    { ...process.env, NANOCLAW_TRAFFIC_GUARDIAN_HOME: home },
    home,
  );
  try {
    const m = await waitLine(
      child.proc,
      /listening on http:\/\/127\.0\.0\.1:(\d+)/,
      `guardian ${name}`,
      child.stderrTail,
    );
    let caPem: string | null = null;
    if (config.https_inspection === true) caPem = readFileSync(path.join(home, 'ca', 'ca.crt'), 'utf8');
    return { ...child, port: Number(m[1]), caPem };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

/** Resident set size of a process in bytes (Linux /proc), NaN if it cannot be read. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

let clockTicks = 0;
/**
 * CPU time (user + system) a process (every thread) or one of its threads has used so far, in ms, from /proc/<pid>/stat; NaN
 * where there is no /proc. CPU time per request is steadier than rps on a shared machine: it does not
 * count the time a process waited for a core.
 */
export function cpuMs(pid: number, tid?: number): number {
  try {
    clockTicks ||= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): utime and stime are the 12th
    // and 13th.
    const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / clockTicks;
  } catch {
    return NaN;
  }
}

/** CPU time in ms of each thread of a process (by thread id), from /proc/<pid>/task; empty without /proc. */
export function threadCpuMs(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    const ms = cpuMs(pid, Number(tid));
    if (Number.isFinite(ms)) out.set(Number(tid), ms);
  }
  return out;
}

export interface GuardianCounters {
  requests: number;
  connects: number;
  tunnels: number;
  bytes_scanned: number;
  truncated_scans: number;
  findings: { EXFIL: number; INJECTION: number };
  upstream_errors: number;
  decode_errors: number;
  /** Scanning beside forwarding (issue 15); absent from guardians that predate it. */
  scan_skipped_bytes?: number;
  scan_skipped_messages?: number;
  scan_backlog_peak_bytes?: number;
}

/**
 * BENCH_SCAN_WORKERS=N: the guardians get `scan_workers: N` (0 = scan on the proxy thread), so one bench
 * compares the two. Unset: the key is left out and the guardian's default applies.
 */
export function scanWorkersConfig(): { scan_workers?: number } {
  const v = process.env.BENCH_SCAN_WORKERS;
  if (v === undefined || v === '') return {};
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 16) throw new Error(`BENCH_SCAN_WORKERS must be an integer 0..16, not ${v}`);
  return { scan_workers: n };
}

/** `traffic-guardian status --json` against a running guardian's home: its counters, or null. */
export function guardianCounters(g: Guardian): Promise<GuardianCounters | null> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'status', '--json'],
      { env: { ...process.env, NANOCLAW_TRAFFIC_GUARDIAN_HOME: g.home }, timeout: 10_000 },
      (err, stdout) => {
        if (err) return resolve(null);
        try {
          resolve((JSON.parse(stdout) as { counters: GuardianCounters }).counters ?? null);
        } catch {
          resolve(null);
        }
      },
    );
  });
}

/** A bare guardian proxy whose forwarder is the home-made client or undici (bench/forwarder-guardian.ts). */
export async function startForwarderGuardian(mode: 'home' | 'undici', upstreamCaFile: string): Promise<Guardian> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'tgb-f-'));
  const script = path.join(DIST, 'bench', 'forwarder-guardian.js');
  const child = spawnChild(`forwarder (${mode})`, [script, mode, upstreamCaFile], process.env, home);
  try {
    const m = await waitLine(
      child.proc,
      /listening on http:\/\/127\.0\.0\.1:(\d+)/,
      `forwarder ${mode}`,
      child.stderrTail,
    );
    return { ...child, port: Number(m[1]), caPem: null };
  } catch (err) {
    await child.stop();
    throw err;
  }
}
