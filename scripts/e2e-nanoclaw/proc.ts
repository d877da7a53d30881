// Process helpers for the e2e driver: commands with captured output (kept in a per-run log dir) and
// long-running children (NanoClaw's host, the guardian) that are stopped by their own pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface CmdResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  log: string;
}

let seq = 0;
let runAsUid: number | null = null;

/** Run every later command as this uid/gid (the e2e's --as-uid), except those that ask for root. */
export function setRunAs(uid: number | null): void {
  runAsUid = uid;
}

/** The command wrapped in setpriv when commands run as another user. */
export function asUser(cmd: string, args: string[], root = false): [string, string[]] {
  if (runAsUid === null || root) return [cmd, args];
  const id = String(runAsUid);
  return ['setpriv', ['--reuid', id, '--regid', id, '--clear-groups', '--', cmd, ...args]];
}

export function run(
  logDir: string,
  label: string,
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string; root?: boolean } = {},
): Promise<CmdResult> {
  const [realCmd, realArgs] = asUser(cmd, args, opts.root);
  const log = path.join(logDir, `${String(++seq).padStart(2, '0')}-${label.replace(/[^a-z0-9]+/gi, '-')}.log`);
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(realCmd, realArgs, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
    child.on('error', (e) => (stderr += `\nspawn error: ${e.message}`));
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      writeFileSync(
        log,
        `$ ${cmd} ${args.join(' ')}\n(cwd ${opts.cwd ?? process.cwd()})\n--- stdout\n${stdout}\n--- stderr\n${stderr}\n--- exit ${code ?? signal}\n`,
      );
      resolve({ code, signal, stdout, stderr, ms: Date.now() - t0, log });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }
  });
}

export function tail(text: string, lines = 25): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(what: string, fn: () => T | null | undefined | false, timeoutMs: number): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** A long-running child whose output goes to a file. */
export class Daemon {
  readonly child: ChildProcess;
  readonly logFile: string;
  exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;

  constructor(logFile: string, cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv }) {
    this.logFile = logFile;
    const out = createWriteStream(logFile, { flags: 'a' });
    const [realCmd, realArgs] = asUser(cmd, args);
    this.child = spawn(realCmd, realArgs, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.pipe(out, { end: false });
    this.child.stderr!.pipe(out, { end: false });
    this.child.on('exit', (code, signal) => (this.exited = { code, signal }));
  }

  text(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.exited || this.child.pid === undefined) return;
    this.child.kill('SIGTERM');
    const t0 = Date.now();
    while (!this.exited && Date.now() - t0 < timeoutMs) await sleep(100);
    if (!this.exited) {
      this.child.kill('SIGKILL');
      while (!this.exited) await sleep(50);
    }
  }
}
