// A NanoClaw v2-shaped checkout built per test: the files install touches (package.json,
// src/container-runner.ts with buildContainerArgs and the OneCLI call, src/container-config.ts,
// groups/<folder>/), the central SQLite DB data/v2.db with the v2 `agent_groups` and
// `container_configs` tables, and a bin/ncl that speaks ncl's `--json` frames over that DB
// (Python's sqlite3, since Node 20 has no SQLite). The real ncl needs a running NanoClaw host.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

const RUNNER = `import fs from 'fs';
import path from 'path';

import { OneCLI } from '@onecli-sh/sdk';

import { CONTAINER_IMAGE, ONECLI_URL } from './config.js';
import { hostGatewayArgs, readonlyMountArgs } from './container-runtime.js';
import type { AgentGroup } from './types.js';

const onecli = new OneCLI({ url: ONECLI_URL });

export interface VolumeMount {
  hostPath: string;
  containerPath: string;
  readonly: boolean;
}

async function buildContainerArgs(
  mounts: VolumeMount[],
  containerName: string,
  agentGroup: AgentGroup,
): Promise<string[]> {
  const args: string[] = ['run', '--rm', '--name', containerName];
  args.push('-e', 'TZ=UTC');

  const onecliApplied = await onecli.applyContainerConfig(args, { addHostMapping: false, agent: agentGroup.id });
  if (!onecliApplied) {
    throw new Error('OneCLI gateway not applied');
  }

  args.push(...hostGatewayArgs());

  // Volume mounts
  for (const mount of mounts) {
    if (mount.readonly) {
      args.push(...readonlyMountArgs(mount.hostPath, mount.containerPath));
    } else {
      args.push('-v', \`\${mount.hostPath}:\${mount.containerPath}\`);
    }
  }

  args.push('--entrypoint', 'bash');
  args.push(CONTAINER_IMAGE);
  return args;
}

export { buildContainerArgs, fs, path };
`;

/** NanoClaw's mount helper; FIXTURE_MOUNT_STYLE=apple gives the --mount form forks converted to Apple Container use. */
const RUNTIME = `export function hostGatewayArgs(): string[] {
  return ['--add-host=host.docker.internal:host-gateway'];
}

export function readonlyMountArgs(hostPath: string, containerPath: string): string[] {
  if (process.env.FIXTURE_MOUNT_STYLE === 'apple') {
    return ['--mount', \`type=bind,source=\${hostPath},target=\${containerPath},readonly\`];
  }
  return ['-v', \`\${hostPath}:\${containerPath}:ro\`];
}
`;

const LOG = `export const log = {
  warn: (msg: string, data?: Record<string, unknown>): void => {
    process.stderr.write(\`WARN \${msg} \${JSON.stringify(data ?? {}, (_k, v) => (v instanceof Error ? v.message : v))}\\n\`);
  },
};
`;

const NCL = `#!/usr/bin/env python3
# Fixture ncl: the subset of NanoClaw's CLI that install uses, over data/v2.db.
import json, os, sqlite3, sys, datetime
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
db = sqlite3.connect(os.path.join(root, 'data', 'v2.db'))
argv = [a for a in sys.argv[1:] if a != '--json']
def out(frame, code=0):
    print(json.dumps(dict(id='1', **frame), indent=2)); sys.exit(code)
def opt(name):
    return argv[argv.index('--' + name) + 1] if '--' + name in argv else None
cmd = ' '.join([a for a in argv if not a.startswith('--')][:3])
if os.path.exists(os.path.join(root, 'data', 'host-down')):
    sys.stderr.write('ncl: cannot reach NanoClaw host (connect ENOENT %s).\\nIs the host running?\\n' % os.path.join(root, 'data', 'ncl.sock'))
    sys.exit(1)
if argv[:2] == ['groups', 'list']:
    rows = db.execute('SELECT id, name, folder, created_at FROM agent_groups WHERE folder = ?', (opt('folder'),)).fetchall()
    out(dict(ok=True, data=[dict(id=r[0], name=r[1], folder=r[2], created_at=r[3]) for r in rows]))
if argv[:3] == ['groups', 'config', 'get']:
    row = db.execute('SELECT mcp_servers FROM container_configs WHERE agent_group_id = ?', (opt('id'),)).fetchone()
    if row is None: out(dict(ok=False, error=dict(code='handler-error', message='No container config for group: ' + str(opt('id')))), 1)
    out(dict(ok=True, data=dict(agent_group_id=opt('id'), mcp_servers=json.loads(row[0]))))
if argv[:3] in (['groups', 'config', 'add-mcp-server'], ['groups', 'config', 'remove-mcp-server']):
    gid, name = opt('id'), opt('name')
    row = db.execute('SELECT mcp_servers FROM container_configs WHERE agent_group_id = ?', (gid,)).fetchone()
    if row is None: out(dict(ok=False, error=dict(code='handler-error', message='No container config for group: ' + str(gid))), 1)
    servers = json.loads(row[0])
    if argv[2] == 'add-mcp-server':
        servers[name] = dict(command=opt('command'), args=json.loads(opt('args') or '[]'), env=json.loads(opt('env') or '{}'))
        result = dict(added=name, servers=servers)
    else:
        if name not in servers: out(dict(ok=False, error=dict(code='handler-error', message='MCP server "%s" not found' % name)), 1)
        del servers[name]
        result = dict(removed=name)
    db.execute('UPDATE container_configs SET mcp_servers = ?, updated_at = ? WHERE agent_group_id = ?',
               (json.dumps(servers, separators=(',', ':')), datetime.datetime.utcnow().isoformat(), gid))
    db.commit()
    out(dict(ok=True, data=result))
out(dict(ok=False, error=dict(code='unknown-command', message='unknown command: ' + cmd)), 1)
`;

const SCHEMA = `
CREATE TABLE agent_groups (id TEXT PRIMARY KEY, name TEXT NOT NULL, folder TEXT NOT NULL UNIQUE, agent_provider TEXT, created_at TEXT NOT NULL);
CREATE TABLE container_configs (
  agent_group_id TEXT PRIMARY KEY REFERENCES agent_groups(id) ON DELETE CASCADE,
  provider TEXT, model TEXT, effort TEXT, image_tag TEXT, assistant_name TEXT, max_messages_per_prompt INTEGER,
  skills TEXT NOT NULL DEFAULT '"all"', mcp_servers TEXT NOT NULL DEFAULT '{}', packages_apt TEXT NOT NULL DEFAULT '[]',
  packages_npm TEXT NOT NULL DEFAULT '[]', additional_mounts TEXT NOT NULL DEFAULT '[]', updated_at TEXT NOT NULL);
`;

const RECORDER = `#!/bin/bash
# Stand-in for a tool install runs (pnpm, systemctl, launchctl): records its argv and working directory.
tools="$(cd "$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
echo "$(basename "$0") $* @ $PWD" >> "$tools/calls.log"
name="$(basename "$0")"
if [ -f "$tools/$name-fail" ]; then echo "$name: simulated failure" >&2; exit 1; fi
if [ -f "$tools/$name-kill-parent" ]; then kill -9 "$PPID"; fi
exit 0
`;

export interface NanoclawFixture {
  dir: string;
  /** Stand-ins for pnpm, systemctl and launchctl that record their calls (first on PATH via env()). */
  tools: string;
  /** A user home for service files (HOME in env()). */
  userHome: string;
  /** The recorded calls, one "tool args @ cwd" line each. */
  calls: () => string[];
  /** PATH and HOME for a CLI run against this fixture. */
  env: () => NodeJS.ProcessEnv;
  groups: Record<string, string>;
  /** Every file under dir (except the DB) with its bytes. */
  snapshot: () => Map<string, string>;
  /** container_configs rows as JSON text, for before/after comparison. */
  dbDump: () => string;
  mcpServers: (folder: string) => Record<string, { command: string; args: string[]; env: Record<string, string> }>;
}

function py(dir: string, code: string): string {
  return execFileSync('python3', ['-c', code], { cwd: dir, encoding: 'utf8' });
}

export function makeNanoclawFixture(
  folders = ['alpha', 'beta', 'gamma'],
  /** Groups NanoClaw knows that have never spawned (no container config yet). */
  unspawned: string[] = [],
): NanoclawFixture {
  const base = mkdtempSync(path.join(os.tmpdir(), 'tg-nc-'));
  const dir = path.join(base, 'nanoclaw');
  const tools = path.join(base, 'tools');
  const userHome = path.join(base, 'home');
  for (const d of [dir, tools, userHome]) mkdirSync(d);
  for (const t of ['pnpm', 'systemctl', 'launchctl']) {
    writeFileSync(path.join(tools, t), RECORDER);
    chmodSync(path.join(tools, t), 0o755);
  }
  for (const d of ['src', 'bin', 'data', 'groups']) mkdirSync(path.join(dir, d));
  writeFileSync(
    path.join(dir, 'package.json'),
    `${JSON.stringify({ name: 'nanoclaw', version: '2.0.64', type: 'module' }, null, 2)}\n`,
  );
  writeFileSync(path.join(dir, 'src/container-runner.ts'), RUNNER);
  writeFileSync(path.join(dir, 'src/container-runtime.ts'), RUNTIME);
  writeFileSync(path.join(dir, 'src/log.ts'), LOG);
  writeFileSync(
    path.join(dir, 'src/container-config.ts'),
    'export interface ContainerConfig {\n  mcpServers: Record<string, unknown>;\n}\n',
  );
  writeFileSync(path.join(dir, 'bin/ncl'), NCL);
  chmodSync(path.join(dir, 'bin/ncl'), 0o755);
  const groups: Record<string, string> = {};
  const inserts: string[] = [];
  folders.forEach((f, i) => {
    mkdirSync(path.join(dir, 'groups', f));
    writeFileSync(path.join(dir, 'groups', f, 'CLAUDE.md'), `# ${f}\n`);
    const id = `00000000-0000-4000-8000-00000000000${i}`;
    groups[f] = id;
    inserts.push(
      `INSERT INTO agent_groups VALUES ('${id}', '${f}', '${f}', NULL, '2026-01-01T00:00:00Z');`,
      `INSERT INTO container_configs (agent_group_id, mcp_servers, updated_at) VALUES ('${id}', '{"other":{"command":"x","args":[],"env":{}}}', '2026-01-01T00:00:00Z');`,
    );
  });
  unspawned.forEach((f, i) => {
    mkdirSync(path.join(dir, 'groups', f));
    const id = `00000000-0000-4000-8000-00000000010${i}`;
    groups[f] = id;
    inserts.push(`INSERT INTO agent_groups VALUES ('${id}', '${f}', '${f}', NULL, '2026-01-01T00:00:00Z');`);
  });
  py(
    dir,
    `import sqlite3; db=sqlite3.connect('data/v2.db'); db.execute('PRAGMA journal_mode=WAL'); db.executescript(${JSON.stringify(SCHEMA + inserts.join('\n'))}); db.commit()`,
  );

  const walk = (d: string, out: Map<string, string>) => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (p.startsWith(path.join(dir, 'data'))) continue;
      if (statSync(p).isDirectory()) {
        out.set(`${path.relative(dir, p)}/`, '(dir)');
        walk(p, out);
      } else out.set(path.relative(dir, p), readFileSync(p, 'latin1'));
    }
    return out;
  };
  const calls = path.join(tools, 'calls.log');
  return {
    dir,
    tools,
    userHome,
    calls: () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : []),
    env: () => ({ PATH: `${tools}${path.delimiter}${process.env.PATH ?? ''}`, HOME: userHome }),
    groups,
    snapshot: () => walk(dir, new Map()),
    dbDump: () =>
      py(
        dir,
        "import sqlite3,json; db=sqlite3.connect('data/v2.db'); print(json.dumps(db.execute('SELECT agent_group_id, mcp_servers FROM container_configs ORDER BY 1').fetchall()))",
      ),
    mcpServers: (folder) =>
      JSON.parse(
        py(
          dir,
          `import sqlite3; db=sqlite3.connect('data/v2.db'); print(db.execute("SELECT mcp_servers FROM container_configs WHERE agent_group_id = '${groups[folder]}'").fetchone()[0])`,
        ),
      ) as Record<string, { command: string; args: string[]; env: Record<string, string> }>,
  };
}

/**
 * Compiles the generated `src/traffic-guardian.ts` of a wired fixture (with its NanoClaw modules) into
 * `scratchDir` and calls it as the patched runner would, with the docker args pushed so far.
 */
export async function runGeneratedHelper(
  nanoclawDir: string,
  scratchDir: string,
  folder: string,
  before: string[] = [],
): Promise<string[]> {
  const { build } = await import('esbuild');
  const out = path.join(scratchDir, `helper-${Date.now()}-${Math.random()}.mjs`);
  await build({
    entryPoints: [path.join(nanoclawDir, 'src/traffic-guardian.ts')],
    outfile: out,
    platform: 'node',
    format: 'esm',
    bundle: true,
    logLevel: 'silent',
  });
  const mod = (await import(out)) as { trafficGuardianArgs: (f: string, a: string[]) => string[] };
  return mod.trafficGuardianArgs(folder, before);
}
