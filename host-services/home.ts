// Where all state lives: NANOCLAW_TRAFFIC_GUARDIAN_HOME, default ~/.config/nanoclaw/traffic-guardian.
import { homedir } from 'node:os';
import path from 'node:path';
import { chmodSync, mkdirSync, statSync } from 'node:fs';

export const HOME_ENV = 'NANOCLAW_TRAFFIC_GUARDIAN_HOME';

export function guardianHome(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[HOME_ENV];
  if (fromEnv && fromEnv.trim()) return path.resolve(fromEnv);
  return path.join(homedir(), '.config', 'nanoclaw', 'traffic-guardian');
}

export interface HomePaths {
  root: string;
  config: string;
  salt: string;
  caDir: string;
  caCert: string;
  caKey: string;
  leafKey: string;
  runDir: string;
  pidFile: string;
  statusFile: string;
  socket: string;
  groupsRunDir: string;
  findings: string;
  groupsFile: string;
}

export function homePaths(root = guardianHome()): HomePaths {
  const caDir = path.join(root, 'ca');
  const runDir = path.join(root, 'run');
  return {
    root,
    config: path.join(root, 'config.json'),
    salt: path.join(root, 'salt'),
    caDir,
    caCert: path.join(caDir, 'ca.crt'),
    caKey: path.join(caDir, 'ca.key'),
    leafKey: path.join(caDir, 'leaf.key'),
    runDir,
    pidFile: path.join(runDir, 'guardian.pid'),
    statusFile: path.join(runDir, 'status.json'),
    socket: path.join(runDir, 'guardian.sock'),
    groupsRunDir: path.join(runDir, 'groups'),
    findings: path.join(root, 'findings.jsonl'),
    groupsFile: path.join(root, 'groups.json'),
  };
}

/** Creates a private directory (0700) and tightens it if it already exists with looser bits. */
/** The socket a group's MCP server talks to: `<home>/run/groups/<group>/guardian.sock`. */
export function groupSocketPath(paths: HomePaths, group: string): string {
  return path.join(paths.groupsRunDir, group, 'guardian.sock');
}

export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if (mode & 0o077) chmodSync(dir, 0o700);
}
