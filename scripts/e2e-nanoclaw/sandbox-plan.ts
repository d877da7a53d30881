// Turns a recorded `docker run` into a shell script that approximates the container on this host
// without Docker: a private mount namespace (run under `unshare -m`) in which each bind mount appears
// at its container path (read-only where Docker would make it so), host.docker.internal resolves to
// loopback, and the command runs as the container's uid with ONLY the `-e` environment (plus the
// image's PATH). Pure: the e2e runs the script, unit tests read it.
import type { RunArgs } from './docker-argv.js';

export interface SandboxPlan {
  script: string;
  /** Mounts placed, as container paths. */
  mounted: string[];
  /** Mounts left out, with the reason (e.g. a new top-level directory would be needed). */
  skipped: { containerPath: string; reason: string }[];
  uid: number;
  gid: number;
  env: [string, string][];
}

export interface SandboxOptions {
  /** Host file to bind over /etc/hosts (maps host.docker.internal to 127.0.0.1). */
  hostsFile: string;
  /** PATH the image would set. */
  imagePath: string;
  /** Command to run inside, as argv (absolute program path). */
  command: string[];
  /** Which host paths exist and whether they are directories (injected for testability). */
  stat: (p: string) => 'dir' | 'file' | null;
  /** Only bind mounts whose container path passes this filter (default: all). */
  include?: (containerPath: string) => boolean;
  /**
   * Host directories that must stay visible at their own path, read-only (the harness's own code when it
   * lives under a directory the sandbox hides, e.g. /tmp).
   */
  keep?: string[];
}

// Top-level directories the sandbox may hide under a fresh tmpfs to create mount points; anything
// else (/usr, /etc, /work ...) stays the host's, and a mount needing a new top-level dir is skipped.
const HIDEABLE_TOPS = new Set(['/opt', '/tmp', '/run', '/home']);
const STAGE = '/mnt';

/** Single-quotes a string for sh. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function topOf(p: string): string {
  const seg = p.split('/').filter(Boolean)[0];
  return seg ? `/${seg}` : '/';
}

export function planSandbox(run: RunArgs, o: SandboxOptions): SandboxPlan {
  const lines: string[] = ['set -e', 'mount --make-rprivate /'];
  const mounted: string[] = [];
  const skipped: { containerPath: string; reason: string }[] = [];
  const binds: { src: string; kind: 'dir' | 'file'; target: string; readonly: boolean; stage: string }[] = [];
  const tops = new Set<string>();
  run.mounts.forEach((m, i) => {
    if (o.include && !o.include(m.containerPath)) return;
    const kind = o.stat(m.hostPath);
    if (!kind) {
      skipped.push({ containerPath: m.containerPath, reason: `host path ${m.hostPath} is missing` });
      return;
    }
    const top = topOf(m.containerPath);
    if (top === STAGE || !HIDEABLE_TOPS.has(top)) {
      skipped.push({ containerPath: m.containerPath, reason: `would need ${top} replaced on this host` });
      return;
    }
    tops.add(top);
    binds.push({ src: m.hostPath, kind, target: m.containerPath, readonly: m.readonly, stage: `${STAGE}/s${i}` });
  });
  // 1. Stage every source first: later tmpfs mounts may hide where they live (e.g. under /tmp).
  lines.push(`mount -t tmpfs tmpfs ${STAGE}`);
  for (const b of binds) {
    lines.push(b.kind === 'dir' ? `mkdir -p ${shq(b.stage)}` : `touch ${shq(b.stage)}`);
    lines.push(`mount --bind ${shq(b.src)} ${shq(b.stage)}`);
  }
  // Host directories the command needs that a tmpfs below would hide: staged too, put back after.
  const keeps = (o.keep ?? []).filter((k) => tops.has(topOf(k)));
  keeps.forEach((k, i) => {
    lines.push(`mkdir -p ${shq(`${STAGE}/k${i}`)}`, `mount --bind ${shq(k)} ${shq(`${STAGE}/k${i}`)}`);
  });
  // The hosts file may live under a directory hidden below, so it goes in first.
  lines.push(`mount --bind ${shq(o.hostsFile)} /etc/hosts`);
  // 2. Fresh tmpfs over each top-level directory that receives mounts, so mount points can be made.
  for (const top of [...tops].sort()) lines.push(`mount -t tmpfs -o mode=755 tmpfs ${shq(top)}`);
  // 3. Mount points and binds, parents before children (Docker orders them the same way).
  const ordered = [...binds].sort((a, b) => a.target.split('/').length - b.target.split('/').length);
  for (const b of ordered) {
    const parent = b.target.slice(0, b.target.lastIndexOf('/')) || '/';
    lines.push(`mkdir -p ${shq(parent)}`);
    lines.push(b.kind === 'dir' ? `mkdir -p ${shq(b.target)}` : `[ -e ${shq(b.target)} ] || touch ${shq(b.target)}`);
    lines.push(`mount --bind ${shq(b.stage)} ${shq(b.target)}`);
    if (b.readonly) lines.push(`mount -o remount,bind,ro ${shq(b.target)}`);
    mounted.push(b.target);
  }
  keeps.forEach((k, i) => {
    lines.push(
      `mkdir -p ${shq(k)}`,
      `mount --bind ${shq(`${STAGE}/k${i}`)} ${shq(k)}`,
      `mount -o remount,bind,ro ${shq(k)}`,
    );
  });
  // 4. The container's user and environment: -e args only, plus the image PATH.
  let uid = 1000;
  let gid = 1000;
  if (run.user) {
    const [u, g] = run.user.split(':');
    if (u && /^\d+$/.test(u)) uid = Number(u);
    if (g && /^\d+$/.test(g)) gid = Number(g);
    else gid = uid;
  }
  const envMap = new Map<string, string>();
  for (const e of run.env) envMap.set(e.key, e.value);
  if (!envMap.has('PATH')) envMap.set('PATH', o.imagePath);
  const env = [...envMap.entries()];
  lines.push(
    [
      'exec setpriv',
      `--reuid ${uid} --regid ${gid} --clear-groups --`,
      '/usr/bin/env -i',
      ...env.map(([k, v]) => shq(`${k}=${v}`)),
      ...o.command.map(shq),
    ].join(' '),
  );
  return { script: `${lines.join('\n')}\n`, mounted, skipped, uid, gid, env };
}
