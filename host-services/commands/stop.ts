// `traffic-guardian stop`: signals the running guardian (SIGTERM), waits, then escalates (SIGKILL).
import { existsSync, unlinkSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { homePaths } from '../home.js';
import { processAlive, readPidFile, removePidFile } from '../pid-file.js';
import { EXIT_FAIL, EXIT_OK } from '../cli-errors.js';

export const STOP_HELP = `Usage: traffic-guardian stop [--timeout SECONDS]

Sends SIGTERM to the running guardian and waits for it to flush findings and exit
(default 10 s), then sends SIGKILL. Exit 0 when it is stopped (or was not running).`;

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!processAlive(pid)) return true;
    await sleep(50);
  }
  return !processAlive(pid);
}

export async function runStop(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { timeout: { type: 'string', default: '10' }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    process.stdout.write(`${STOP_HELP}\n`);
    return EXIT_OK;
  }
  const timeoutMs = Math.max(0.1, Number(values.timeout) || 10) * 1000;
  const paths = homePaths();
  const st = readPidFile(paths.pidFile);
  if (st.state === 'none') {
    process.stdout.write('traffic-guardian is not running\n');
    return EXIT_OK;
  }
  if (st.state === 'stale') {
    removePidFile(paths.pidFile, st.pid ?? -1);
    process.stdout.write(
      `traffic-guardian is not running (removed stale pid file${st.pid ? ` of pid ${st.pid}` : ''})\n`,
    );
    return EXIT_OK;
  }
  const { pid, socket } = st.record;
  process.kill(pid, 'SIGTERM');
  if (await waitGone(pid, timeoutMs)) {
    process.stdout.write(`stopped traffic-guardian (pid ${pid})\n`);
    return EXIT_OK;
  }
  process.stderr.write(`pid ${pid} did not stop within ${timeoutMs / 1000} s; sending SIGKILL\n`);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // exited meanwhile
  }
  if (!(await waitGone(pid, 3000))) {
    process.stderr.write(`pid ${pid} is still alive\n`);
    return EXIT_FAIL;
  }
  // A killed process cannot clean up after itself.
  removePidFile(paths.pidFile, pid);
  if (existsSync(socket)) unlinkSync(socket);
  process.stdout.write(`killed traffic-guardian (pid ${pid})\n`);
  return EXIT_OK;
}
