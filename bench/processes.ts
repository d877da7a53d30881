// Child processes for the benchmark: the upstream and guardians, started and stopped cleanly.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const CLI = path.join(DIST, 'host-services', 'cli.js');
const UPSTREAM = path.join(DIST, 'bench', 'upstream-server.js');

export interface Child {
  proc: ChildProcess;
  home: string;
  stop: () => Promise<void>;
}

function waitLine(proc: ChildProcess, re: RegExp, what: string, ms = 20_000): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}: ${out}`)), ms);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    proc.once('exit', (code) => reject(new Error(`${what}: exited ${code}: ${out}`)));
  });
}

function stopper(proc: ChildProcess, home: string) {
  return async () => {
    if (proc.exitCode === null) {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
    rmSync(home, { recursive: true, force: true });
  };
}

export async function startUpstreamProcess(): Promise<
  Child & { httpPort: number; httpsPort: number; caFile: string; caPem: string }
> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'tgb-up-'));
  const proc = spawn(process.execPath, [UPSTREAM, home], { stdio: ['ignore', 'pipe', 'inherit'] });
  const m = await waitLine(proc, /(\{.*\})\n/, 'bench upstream');
  const info = JSON.parse(m[1]!) as { httpPort: number; httpsPort: number; caFile: string; caPem: string };
  return { proc, home, stop: stopper(proc, home), ...info };
}

export async function startGuardianProcess(
  config: Record<string, unknown>,
  extraArgs: string[] = [],
): Promise<Child & { port: number; caPem: string | null }> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'tgb-g-'));
  const cfg = path.join(home, 'bench-config.json');
  writeFileSync(cfg, JSON.stringify({ proxy_port: 0, ...config }));
  const proc = spawn(process.execPath, [...extraArgs, CLI, 'start', '--config', cfg], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { ...process.env, NANOCLAW_TRAFFIC_GUARDIAN_HOME: home },
  });
  const m = await waitLine(proc, /listening on http:\/\/127\.0\.0\.1:(\d+)/, 'guardian');
  let caPem: string | null = null;
  try {
    caPem = readFileSync(path.join(home, 'ca', 'ca.crt'), 'utf8');
  } catch {
    caPem = null;
  }
  return { proc, home, port: Number(m[1]), caPem, stop: stopper(proc, home) };
}

/** Resident set size of a process in MiB (Linux /proc). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
