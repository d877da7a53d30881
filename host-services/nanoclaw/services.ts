// Service managers, the way NanoClaw's own setup uses them (setup/service.ts): a launchd agent on macOS,
// a systemd unit on Linux (system-level when NanoClaw runs as root, user-level otherwise), or NanoClaw's
// nohup wrapper (start-nanoclaw.sh) where there is no systemd. Install restarts NanoClaw through the one
// it finds, and runs the guardian as a service of the same kind beside it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { installSlug } from './checkout.js';

export type Manager = 'launchd' | 'systemd-user' | 'systemd-system' | 'nohup' | 'none';

export interface Command {
  argv: string[];
  /** A failure is reported and ignored (e.g. unloading a plist that was never loaded). */
  optional?: boolean;
}

export interface HostFacts {
  platform: NodeJS.Platform;
  uid: number;
  home: string;
  /** The node binary the guardian's service runs. */
  nodePath: string;
  /** Where system-level systemd units live (a parameter so tests need no root-owned paths). */
  systemUnitDir: string;
}

export function hostFacts(env: NodeJS.ProcessEnv = process.env): HostFacts {
  return {
    platform: process.platform,
    uid: process.getuid?.() ?? 0,
    home: env.HOME || '/root',
    nodePath: process.execPath,
    systemUnitDir: '/etc/systemd/system',
  };
}

export interface NanoclawService {
  manager: Manager;
  /** Unit name, launchd label or wrapper path. */
  name: string;
  file: string | null;
  restart: Command[];
}

/** How NanoClaw's setup installed this checkout's host, found by the files it wrote. */
export function detectNanoclawService(dir: string, h: HostFacts): NanoclawService {
  const slug = installSlug(dir);
  const label = `com.nanoclaw-v2-${slug}`;
  const unit = `nanoclaw-v2-${slug}`;
  const plist = path.join(h.home, 'Library', 'LaunchAgents', `${label}.plist`);
  const userUnit = path.join(h.home, '.config', 'systemd', 'user', `${unit}.service`);
  const systemUnit = path.join(h.systemUnitDir, `${unit}.service`);
  const wrapper = path.join(dir, 'start-nanoclaw.sh');
  if (h.platform === 'darwin' && existsSync(plist)) {
    return {
      manager: 'launchd',
      name: label,
      file: plist,
      restart: [{ argv: ['launchctl', 'kickstart', '-k', `gui/${h.uid}/${label}`] }],
    };
  }
  if (existsSync(userUnit)) {
    return {
      manager: 'systemd-user',
      name: unit,
      file: userUnit,
      restart: [{ argv: ['systemctl', '--user', 'restart', unit] }],
    };
  }
  if (existsSync(systemUnit)) {
    return {
      manager: 'systemd-system',
      name: unit,
      file: systemUnit,
      restart: [{ argv: ['systemctl', 'restart', unit] }],
    };
  }
  if (existsSync(wrapper))
    return { manager: 'nohup', name: wrapper, file: wrapper, restart: [{ argv: ['bash', wrapper] }] };
  return { manager: 'none', name: '', file: null, restart: [] };
}

export interface GuardianServicePlan {
  manager: Manager;
  name: string;
  file: string;
  content: string;
  mode: number;
  start: Command[];
  stop: Command[];
}

export interface GuardianLaunch {
  /** The guardian's CLI entry (dist/host-services/cli.js). */
  cli: string;
  config: string;
  home: string;
  log: string;
  startScript: string;
}

/** The guardian's service beside NanoClaw's, of the same kind; null where NanoClaw has none. */
export function guardianService(
  manager: Manager,
  nanoclawDir: string,
  h: HostFacts,
  g: GuardianLaunch,
): GuardianServicePlan | null {
  const slug = installSlug(nanoclawDir);
  const exec = [h.nodePath, g.cli, 'start', '--config', g.config];
  if (manager === 'systemd-user' || manager === 'systemd-system') {
    const name = `nanoclaw-traffic-guardian-${slug}`;
    const user = manager === 'systemd-user';
    const ctl = user ? ['systemctl', '--user'] : ['systemctl'];
    const file = user
      ? path.join(h.home, '.config', 'systemd', 'user', `${name}.service`)
      : path.join(h.systemUnitDir, `${name}.service`);
    const content = [
      '[Unit]',
      `Description=NanoClaw traffic guardian (watches the containers of nanoclaw-v2-${slug})`,
      'After=network.target',
      '',
      '[Service]',
      'Type=simple',
      `ExecStart=${exec.map(systemdQuote).join(' ')}`,
      `Environment=${systemdQuote(`NANOCLAW_TRAFFIC_GUARDIAN_HOME=${g.home}`)}`,
      // The listener binds the Docker bridge address, which exists only once Docker is up: retry.
      'Restart=on-failure',
      'RestartSec=5',
      `StandardOutput=append:${g.log}`,
      `StandardError=append:${g.log}`,
      '',
      '[Install]',
      `WantedBy=${user ? 'default.target' : 'multi-user.target'}`,
      '',
    ].join('\n');
    return {
      manager,
      name,
      file,
      content,
      mode: 0o644,
      start: [
        { argv: [...ctl, 'daemon-reload'] },
        { argv: [...ctl, 'enable', name] },
        { argv: [...ctl, 'restart', name] },
      ],
      stop: [{ argv: [...ctl, 'disable', '--now', name], optional: true }],
    };
  }
  if (manager === 'launchd') {
    const name = `com.nanoclaw-traffic-guardian-${slug}`;
    const file = path.join(h.home, 'Library', 'LaunchAgents', `${name}.plist`);
    const strings = (xs: string[]) => xs.map((x) => `    <string>${xmlEscape(x)}</string>`).join('\n');
    const content = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  <string>${name}</string>
  <key>ProgramArguments</key>
  <array>
${strings(exec)}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>NANOCLAW_TRAFFIC_GUARDIAN_HOME</key>
    <string>${xmlEscape(g.home)}</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>StandardOutPath</key>
  <string>${xmlEscape(g.log)}</string>
  <key>StandardErrorPath</key>
  <string>${xmlEscape(g.log)}</string>
</dict>
</plist>
`;
    return {
      manager,
      name,
      file,
      content,
      mode: 0o644,
      start: [{ argv: ['launchctl', 'unload', file], optional: true }, { argv: ['launchctl', 'load', file] }],
      stop: [{ argv: ['launchctl', 'unload', file], optional: true }],
    };
  }
  if (manager === 'nohup') {
    const q = shellQuote;
    const content = [
      '#!/bin/bash',
      '# start-guardian.sh: starts the NanoClaw traffic guardian beside NanoClaw (which runs without systemd).',
      '# Written by `traffic-guardian install`; removed by `traffic-guardian uninstall`.',
      'set -euo pipefail',
      `export NANOCLAW_TRAFFIC_GUARDIAN_HOME=${q(g.home)}`,
      `${q(h.nodePath)} ${q(g.cli)} stop >/dev/null 2>&1 || true`,
      `nohup ${exec.map(q).join(' ')} >> ${q(g.log)} 2>&1 &`,
      'echo "traffic guardian started (pid $!); log: ' + g.log.replace(/["$`\\]/g, '\\$&') + '"',
      '',
    ].join('\n');
    return {
      manager,
      name: g.startScript,
      file: g.startScript,
      content,
      mode: 0o700,
      start: [{ argv: ['bash', g.startScript] }],
      stop: [{ argv: [h.nodePath, g.cli, 'stop'], optional: true }],
    };
  }
  return null;
}

/** How a command is shown to the operator (and what --manual prints). */
export function showCommand(c: Command): string {
  return c.argv.map(shellQuote).join(' ');
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function systemdQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `"${s.replace(/(["\\])/g, '\\$1')}"`;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
