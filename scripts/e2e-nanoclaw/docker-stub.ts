// A stand-in for the `docker` CLI, put first on NanoClaw's PATH by the e2e. Records every argv (one
// JSON line per call in $E2E_DOCKER_LOG) and answers what NanoClaw asks: `info`, `ps`, `stop`, image
// checks, and `run`, which stays alive like a container until `docker stop` (or a signal) ends it.
// The container itself is simulated later by the e2e from the recorded argv.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDockerRun } from './docker-argv.js';

const logFile = process.env.E2E_DOCKER_LOG;
const stateDir = process.env.E2E_DOCKER_STATE;
if (!logFile || !stateDir) {
  process.stderr.write('docker stand-in: E2E_DOCKER_LOG and E2E_DOCKER_STATE must be set\n');
  process.exit(125);
}
mkdirSync(stateDir, { recursive: true });
const argv = process.argv.slice(2);
appendFileSync(logFile, `${JSON.stringify({ at: new Date().toISOString(), pid: process.pid, argv })}\n`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function running(): { name: string; pid: number }[] {
  const out: { name: string; pid: number }[] = [];
  for (const f of readdirSync(stateDir!)) {
    if (!f.endsWith('.pid')) continue;
    const pid = Number(readFileSync(path.join(stateDir!, f), 'utf8'));
    if (alive(pid)) out.push({ name: f.slice(0, -4), pid });
    else rmSync(path.join(stateDir!, f), { force: true });
  }
  return out;
}

const cmd = argv[0];
switch (cmd) {
  case 'info':
    process.stdout.write('Server Version: e2e-stand-in\n');
    break;
  case 'version':
    process.stdout.write('e2e-stand-in\n');
    break;
  case 'ps':
    for (const c of running()) process.stdout.write(`${c.name}\n`);
    break;
  case 'stop':
  case 'kill':
  case 'rm': {
    const names = argv.slice(1).filter((a, i, all) => !a.startsWith('-') && all[i - 1] !== '-t');
    let missing = 0;
    for (const name of names) {
      const c = running().find((r) => r.name === name);
      if (c) process.kill(c.pid, 'SIGTERM');
      else missing++;
      process.stdout.write(`${name}\n`);
    }
    if (missing > 0 && cmd !== 'rm') process.exit(1);
    break;
  }
  case 'image':
  case 'images':
  case 'inspect':
    // NanoClaw only asks whether the image exists; it does here.
    process.stdout.write('[{"Id":"sha256:e2e"}]\n');
    break;
  case 'run': {
    const run = parseDockerRun(argv);
    const name = run.name ?? `e2e-${process.pid}`;
    const pidFile = path.join(stateDir, `${name}.pid`);
    writeFileSync(pidFile, String(process.pid));
    const end = () => {
      if (existsSync(pidFile)) rmSync(pidFile, { force: true });
      process.exit(0);
    };
    process.on('SIGTERM', end);
    process.on('SIGINT', end);
    process.on('SIGHUP', end);
    setInterval(() => {}, 60_000);
    break;
  }
  default:
    break;
}
