// `npm run e2e:nanoclaw -- DIR [--mitm] [--as-uid=N] [--keep] [--keep-going] [--skip-nanoclaw-tests]`
//
// The whole user path against a real NanoClaw v2 checkout, without Docker: a copy of DIR (DIR is never
// touched) runs NanoClaw's host with a recording `docker` stand-in and a stand-in OneCLI; two agent
// groups are created the way NanoClaw's setup does and spawned; `traffic-guardian install` is run and
// NanoClaw's own format:check, lint, typecheck, build and tests are run on the result; the host is
// restarted, the guardian started from the config install wrote, a group respawned, its recorded docker
// arguments checked, the container simulated from them (mount namespace, read-only mounts, uid 1000,
// only the -e environment, the MCP SDK client, requests through the proxy chain), `doctor` run, and
// finally `uninstall` must leave the tree as it was. Each step prints PASS/FAIL with its time; the first
// failure stops the run (unless --keep-going) and prints the log tail that explains it.
import { createHash } from 'node:crypto';
import {
  chownSync,
  lchownSync,
  lstatSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { expandExample } from '../../test/support/expand-example.js';
import { parseDockerRun, type RunArgs } from './docker-argv.js';
import { startOneCliStub, type OneCliStub } from './onecli-stub.js';
import { Daemon, run, setRunAs, sleep, tail, waitFor, type CmdResult } from './proc.js';
import { planSandbox } from './sandbox-plan.js';
import type { SandboxResult, SandboxTask } from './sandbox-client.js';
import { checkWiring, redactUrl } from './wiring-checks.js';

const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const DIST = path.join(PROJECT, 'dist');
const CLI = path.join(DIST, 'host-services/cli.js');
const GROUPS = ['e2e-alpha', 'e2e-beta'] as const;
const NAMES: Record<string, string> = { 'e2e-alpha': 'Alpha', 'e2e-beta': 'Beta' };
const MCP_NAME = 'traffic-guardian';
// The tools' text, in the wording of this build and of the reworded MCP text (self-check, full findings).
const STATUS_OK = /^(guardian (running|degraded)|Traffic guardian \S+: (running|DEGRADED))/;
const SOME_FINDINGS = /finding\(s\)|^\d+ findings?\b/;

class StepFailure extends Error {
  constructor(
    message: string,
    readonly detail = '',
  ) {
    super(message);
  }
}

interface Ctx {
  src: string;
  tmp: string;
  logs: string;
  copy: string;
  tgHome: string;
  env: NodeJS.ProcessEnv;
  dockerLog: string;
  dockerState: string;
  onecli?: OneCliStub;
  host?: Daemon;
  hostStarts: number;
  guardian?: Daemon;
  guardianPort?: number;
  groupIds: Record<string, string>;
  baseline?: { porcelain: string; srcHash: string; lintErrors: number; formatOk: boolean };
  installOut?: string;
  runs: Record<string, RunArgs>;
  leakKeys: string[];
  results: { name: string; ok: boolean; ms: number; detail: string }[];
  keepGoing: boolean;
  /** Install with HTTPS inspection on (--mitm); the default run keeps install's default (off). */
  mitm: boolean;
  restartMark?: number;
  /** --as-uid: the user NanoClaw and the guardian run as (null: root). */
  asUid: number | null;
  /** The fake key reached the proxy (so auditing files for it means something). */
  leakSent: boolean;
}

// ---------- helpers ----------

function parseArgs(argv: string[]) {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const dir = argv.find((a) => !a.startsWith('--'));
  const known = ['--keep', '--keep-going', '--skip-nanoclaw-tests', '--mitm', '--help'];
  const asUid = argv.find((a) => a.startsWith('--as-uid='));
  if (asUid) flags.delete(asUid);
  for (const f of flags) if (!known.includes(f)) throw new Error(`unknown option ${f}`);
  return {
    dir,
    keep: flags.has('--keep'),
    keepGoing: flags.has('--keep-going'),
    skipTests: flags.has('--skip-nanoclaw-tests'),
    mitm: flags.has('--mitm'),
    asUid: asUid ? Number(asUid.slice('--as-uid='.length)) : null,
    help: flags.has('--help'),
  };
}

function must(r: CmdResult, what: string): CmdResult {
  if (r.code !== 0) {
    throw new StepFailure(
      `${what} exited ${r.code ?? r.signal}`,
      `${tail(`${r.stdout}\n${r.stderr}`, 30)}\n(full log: ${r.log})`,
    );
  }
  return r;
}

function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else
        h.update(`${path.relative(dir, p)}\0`)
          .update(readFileSync(p))
          .update('\0');
    }
  };
  walk(dir);
  return h.digest('hex');
}

function dockerCalls(ctx: Ctx): { argv: string[] }[] {
  if (!existsSync(ctx.dockerLog)) return [];
  return readFileSync(ctx.dockerLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { argv: string[] });
}

/** The docker runs for each group that happened after call number `since`. */
function runsSince(ctx: Ctx, since: number): Record<string, RunArgs> {
  const out: Record<string, RunArgs> = {};
  for (const c of dockerCalls(ctx).slice(since)) {
    if (c.argv[0] !== 'run') continue;
    const r = parseDockerRun(c.argv);
    for (const g of GROUPS) if (r.name?.startsWith(`nanoclaw-v2-${g}-`)) out[g] = r;
  }
  return out;
}

function lintCounts(text: string): { errors: number; warnings: number } {
  const m = /(\d+) problems? \((\d+) errors?, (\d+) warnings?\)/.exec(text);
  return m ? { errors: Number(m[2]), warnings: Number(m[3]) } : { errors: 0, warnings: 0 };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
  });
}

function sendChat(ctx: Ctx, text: string): Promise<void> {
  // NanoClaw's own CLI channel (what `pnpm run chat` does): one JSON line on data/cli.sock.
  return new Promise((resolve, reject) => {
    const s = net.connect(path.join(ctx.copy, 'data/cli.sock'), () => {
      s.write(`${JSON.stringify({ text })}\n`);
      setTimeout(() => {
        s.end();
        resolve();
      }, 500);
    });
    s.on('error', reject);
  });
}

async function ncl(ctx: Ctx, args: string[]): Promise<unknown> {
  const r = await run(
    ctx.logs,
    `ncl-${args.slice(0, 3).join('-')}`,
    path.join(ctx.copy, 'bin/ncl'),
    [...args, '--json'],
    {
      cwd: ctx.copy,
      env: ctx.env,
      timeoutMs: 60_000,
    },
  );
  let frame: { ok: boolean; data?: unknown; error?: { message: string } };
  try {
    frame = JSON.parse(r.stdout) as typeof frame;
  } catch {
    throw new StepFailure(`ncl ${args.join(' ')}: no JSON answer`, tail(`${r.stdout}\n${r.stderr}`));
  }
  if (!frame.ok) throw new StepFailure(`ncl ${args.join(' ')}: ${frame.error?.message}`);
  return frame.data;
}

async function startHost(ctx: Ctx): Promise<void> {
  ctx.hostStarts++;
  const log = path.join(ctx.logs, `nanoclaw-host-${ctx.hostStarts}.log`);
  const host = new Daemon(log, process.execPath, ['dist/index.js'], { cwd: ctx.copy, env: ctx.env });
  ctx.host = host;
  try {
    await waitFor(
      'NanoClaw to log "NanoClaw running"',
      () => {
        if (host.exited)
          throw new StepFailure(
            `NanoClaw's host exited (${host.exited.code ?? host.exited.signal})`,
            tail(host.text()),
          );
        return /NanoClaw running/.test(host.text());
      },
      60_000,
    );
  } catch (err) {
    if (err instanceof StepFailure) throw err;
    throw new StepFailure((err as Error).message, tail(host.text()));
  }
}

async function restartHost(ctx: Ctx): Promise<void> {
  await ctx.host?.stop();
  await startHost(ctx);
}

/**
 * Sends a chat message and waits for both groups' `docker run` after docker call number `since`
 * (taken before a host restart when there was one: NanoClaw wakes groups with pending messages at start).
 */
async function spawnBoth(ctx: Ctx, text: string, since = dockerCalls(ctx).length): Promise<Record<string, RunArgs>> {
  await sendChat(ctx, text);
  try {
    return await waitFor(
      `a docker run for ${GROUPS.join(' and ')}`,
      () => {
        const r = runsSince(ctx, since);
        return GROUPS.every((g) => r[g]) ? r : null;
      },
      60_000,
    );
  } catch (err) {
    throw new StepFailure((err as Error).message, tail(ctx.host?.text() ?? ''));
  }
}

function readMcpServer(
  ctx: Ctx,
  folder: string,
): { command: string; args: string[]; env: Record<string, string> } | null {
  const file = path.join(ctx.copy, 'groups', folder, 'container.json');
  if (!existsSync(file)) return null;
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as {
    mcpServers?: Record<string, { command: string; args?: string[]; env?: Record<string, string> }>;
  };
  const s = cfg.mcpServers?.[MCP_NAME];
  return s ? { command: s.command, args: s.args ?? [], env: s.env ?? {} } : null;
}

async function sandbox(ctx: Ctx, folder: string, task: SandboxTask): Promise<SandboxResult> {
  const r = ctx.runs[folder];
  if (!r) throw new StepFailure(`no recorded docker run for ${folder}`);
  const hosts = path.join(ctx.tmp, 'hosts');
  writeFileSync(hosts, '127.0.0.1 localhost\n127.0.0.1 host.docker.internal\n::1 localhost\n');
  const client = path.join(DIST, 'scripts/e2e-nanoclaw/sandbox-client.js');
  const plan = planSandbox(r, {
    hostsFile: hosts,
    imagePath: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`,
    command: [process.execPath, client, Buffer.from(JSON.stringify(task)).toString('base64')],
    // The harness (client + its node_modules) stays visible even when it lives under /tmp.
    keep: [PROJECT],
    stat: (p) => {
      try {
        return statSync(p).isDirectory() ? 'dir' : 'file';
      } catch {
        return null;
      }
    },
  });
  const res = await run(ctx.logs, `sandbox-${folder}`, 'unshare', ['-m', '--', 'sh', '-c', plan.script], {
    root: true,
    env: {},
    timeoutMs: 120_000,
  });
  const last = res.stdout.trim().split('\n').at(-1) ?? '';
  let parsed: SandboxResult & { fatal?: string };
  try {
    parsed = JSON.parse(last) as typeof parsed;
  } catch {
    throw new StepFailure(
      `the simulated container printed no result (exit ${res.code})`,
      `${tail(res.stderr)}\n(log: ${res.log})`,
    );
  }
  if (parsed.fatal) throw new StepFailure('the simulated container crashed', parsed.fatal);
  return parsed;
}

function findInTree(dir: string, needle: string): string[] {
  const hits: string[] = [];
  if (!existsSync(dir)) return hits;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size < 50_000_000 && readFileSync(p).includes(needle)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

function chownTree(dir: string, uid: number): void {
  lchownSync(dir, uid, uid);
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (lstatSync(p).isDirectory()) chownTree(p, uid);
    else lchownSync(p, uid, uid);
  }
}

function indent(text: string, prefix: string): string {
  const t = text.trimEnd();
  return t ? `${t.replace(/^/gm, prefix)}\n` : '';
}

// ---------- the steps ----------

type Step = [string, (ctx: Ctx) => Promise<string | void>];

const steps: Step[] = [
  [
    '1.1 copy the checkout (with node_modules) to a temp dir',
    async (ctx) => {
      // cp -a keeps pnpm's symlinked node_modules as they are (and is much faster than fs.cpSync).
      must(await run(ctx.logs, 'copy', 'cp', ['-a', ctx.src, ctx.copy], { root: true }), 'cp -a');
      if (ctx.asUid !== null) chownTree(ctx.copy, ctx.asUid);
      for (const d of ['data', 'store', 'logs', 'dist'])
        rmSync(path.join(ctx.copy, d), { recursive: true, force: true });
      return ctx.copy;
    },
  ],
  [
    "1.2 NanoClaw's build (pnpm run build)",
    async (ctx) => {
      must(
        await run(ctx.logs, 'nanoclaw-build', 'pnpm', ['run', 'build'], { cwd: ctx.copy, env: ctx.env }),
        'pnpm run build',
      );
    },
  ],
  [
    '2.1 stand-ins: recording docker first on PATH, OneCLI API + gateway',
    async (ctx) => {
      ctx.onecli = await startOneCliStub({ home: path.join(ctx.tmp, 'onecli') });
      ctx.env.ONECLI_URL = ctx.onecli.apiUrl;
      return `OneCLI API ${ctx.onecli.apiUrl}, gateway :${ctx.onecli.gatewayPort}`;
    },
  ],
  [
    "2.2 NanoClaw's host starts (node dist/index.js)",
    async (ctx) => {
      await startHost(ctx);
      const calls = dockerCalls(ctx).map((c) => c.argv[0]);
      if (!calls.includes('info')) throw new StepFailure('the host never ran `docker info`');
      if (!existsSync(path.join(ctx.copy, 'data/ncl.sock'))) throw new StepFailure('no data/ncl.sock');
      return `docker calls so far: ${calls.join(', ')}`;
    },
  ],
  [
    '3.1 two agent groups via NanoClaw setup (scripts/init-cli-agent.ts)',
    async (ctx) => {
      for (const g of GROUPS) {
        must(
          await run(
            ctx.logs,
            `init-${g}`,
            'pnpm',
            [
              'exec',
              'tsx',
              'scripts/init-cli-agent.ts',
              '--display-name',
              'E2E',
              '--agent-name',
              NAMES[g]!,
              '--folder',
              g,
            ],
            { cwd: ctx.copy, env: ctx.env, timeoutMs: 120_000 },
          ),
          `init-cli-agent --folder ${g}`,
        );
      }
      const rows = (await ncl(ctx, ['groups', 'list'])) as { id: string; folder: string }[];
      for (const g of GROUPS) {
        const row = rows.find((r) => r.folder === g);
        if (!row) throw new StepFailure(`ncl groups list has no ${g}`);
        ctx.groupIds[g] = row.id;
      }
      return GROUPS.map((g) => `${g}=${ctx.groupIds[g]}`).join(' ');
    },
  ],
  [
    '3.2 both groups spawn once (a message on the CLI channel)',
    async (ctx) => {
      const runs = await spawnBoth(ctx, 'hello from the e2e');
      for (const g of GROUPS) {
        const id = ctx.groupIds[g]!;
        if (!ctx.onecli!.agents.some((a) => a.identifier === id))
          throw new StepFailure(`OneCLI never got ensureAgent for ${g}`);
        if (!ctx.onecli!.configRequests.includes(id))
          throw new StepFailure(`OneCLI never got container-config for ${g}`);
        await ncl(ctx, ['groups', 'config', 'get', '--id', id]);
      }
      return GROUPS.map((g) => runs[g]!.name).join(', ');
    },
  ],
  [
    '3.3 baseline before install: git status, src/ hash, lint and format:check',
    async (ctx) => {
      const st = must(
        await run(ctx.logs, 'git-status-before', 'git', ['status', '--porcelain'], { cwd: ctx.copy }),
        'git status',
      );
      const lint = await run(ctx.logs, 'lint-before', 'pnpm', ['run', 'lint'], {
        cwd: ctx.copy,
        env: ctx.env,
        timeoutMs: 300_000,
      });
      const fmt = await run(ctx.logs, 'format-before', 'pnpm', ['run', 'format:check'], {
        cwd: ctx.copy,
        env: ctx.env,
      });
      const counts = lintCounts(lint.stdout + lint.stderr);
      ctx.baseline = {
        porcelain: st.stdout,
        srcHash: hashTree(path.join(ctx.copy, 'src')),
        lintErrors: counts.errors,
        formatOk: fmt.code === 0,
      };
      return `lint ${counts.errors} errors/${counts.warnings} warnings, format:check ${fmt.code === 0 ? 'clean' : 'NOT clean'}, ${st.stdout.split('\n').filter(Boolean).length} porcelain lines`;
    },
  ],
  [
    '3.4 a failing install changes nothing: a group never spawned, and NanoClaw not running',
    async (ctx) => {
      // A group made with `ncl groups create` has no folder and no container config until it spawns.
      await ncl(ctx, ['groups', 'create', '--name', 'Gamma', '--folder', 'e2e-gamma']);
      const problems: string[] = [];
      const unchanged = async (label: string) => {
        const st = await run(ctx.logs, `git-status-${label}`, 'git', ['status', '--porcelain'], { cwd: ctx.copy });
        if (st.stdout !== ctx.baseline?.porcelain) problems.push(`${label}: git status changed:\n${st.stdout}`);
        if (hashTree(path.join(ctx.copy, 'src')) !== ctx.baseline?.srcHash) problems.push(`${label}: src/ changed`);
        const cfg = (await ncl(ctx, ['groups', 'config', 'get', '--id', ctx.groupIds['e2e-alpha']!])) as {
          mcp_servers?: Record<string, unknown>;
        };
        if (cfg.mcp_servers && MCP_NAME in cfg.mcp_servers) problems.push(`${label}: alpha got the MCP server`);
        const u = await run(
          ctx.logs,
          `uninstall-${label}`,
          process.execPath,
          [CLI, 'uninstall', '--nanoclaw', ctx.copy, '--manual'],
          { env: ctx.env, timeoutMs: 300_000 },
        );
        if (u.code !== 0)
          problems.push(`${label}: uninstall after it exited ${u.code}: ${tail(u.stdout + u.stderr, 5)}`);
      };
      const install = (label: string, groups: string[]) =>
        run(
          ctx.logs,
          `install-${label}`,
          process.execPath,
          [CLI, 'install', '--nanoclaw', ctx.copy, ...groups.flatMap((g) => ['--group', g]), '--manual'],
          {
            env: ctx.env,
            timeoutMs: 300_000,
          },
        );
      const lines: string[] = [];
      const a = await install('unspawned', ['e2e-alpha', 'e2e-gamma']);
      const aOut = (a.stdout + a.stderr).trim();
      if (a.code === 0) problems.push('install --group e2e-gamma (never spawned) succeeded');
      else if (!/e2e-gamma/.test(aOut)) problems.push(`install's error does not name the group: ${tail(aOut, 5)}`);
      lines.push(`never-spawned group -> exit ${a.code}: ${tail(aOut, 3).replace(/\n/g, ' / ')}`);
      await unchanged('unspawned');
      await ctx.host?.stop();
      const b = await install('host-down', ['e2e-alpha']);
      const bOut = (b.stdout + b.stderr).trim();
      if (b.code === 0) problems.push('install with NanoClaw stopped succeeded');
      lines.push(`NanoClaw stopped -> exit ${b.code}: ${tail(bOut, 3).replace(/\n/g, ' / ')}`);
      await startHost(ctx);
      await unchanged('host-down');
      await ncl(ctx, [
        'groups',
        'delete',
        '--id',
        ((await ncl(ctx, ['groups', 'list'])) as { id: string; folder: string }[]).find(
          (r) => r.folder === 'e2e-gamma',
        )!.id,
      ]).catch(() => {});
      if (problems.length > 0)
        throw new StepFailure(`${problems.length} problem(s)`, `${problems.join('\n')}\n${lines.join('\n')}`);
      return lines.join('\n');
    },
  ],
  [
    '4.1 traffic-guardian install --nanoclaw <copy> --group e2e-alpha --group e2e-beta',
    async (ctx) => {
      const help = await run(ctx.logs, 'install-help', process.execPath, [CLI, 'install', '--help'], { env: ctx.env });
      const usage = help.stdout + help.stderr;
      ctx.guardianPort = await freePort();
      const args = [
        CLI,
        'install',
        '--nanoclaw',
        ctx.copy,
        ...GROUPS.flatMap((g) => ['--group', g]),
        '--port',
        String(ctx.guardianPort),
      ];
      if (usage.includes('--listen-host')) args.push('--listen-host', '127.0.0.1');
      if (ctx.mitm) args.push('--mitm');
      const r = must(
        await run(ctx.logs, 'install', process.execPath, args, { env: ctx.env, timeoutMs: 600_000 }),
        'install',
      );
      ctx.installOut = r.stdout;
      return `${args.slice(2).join(' ')}\n${r.stdout.trimEnd().replace(/^/gm, '| ')}`;
    },
  ],
  [
    '4.1b install again is a no-op (same tree, exit 0)',
    async (ctx) => {
      const before = await run(ctx.logs, 'git-status-installed', 'git', ['status', '--porcelain'], { cwd: ctx.copy });
      const h = hashTree(path.join(ctx.copy, 'src'));
      const args = [CLI, 'install', '--nanoclaw', ctx.copy, ...GROUPS.flatMap((g) => ['--group', g]), '--manual'];
      args.push('--port', String(ctx.guardianPort), '--listen-host', '127.0.0.1');
      if (ctx.mitm) args.push('--mitm');
      const r = must(
        await run(ctx.logs, 'install-again', process.execPath, args, { env: ctx.env, timeoutMs: 300_000 }),
        'install (again)',
      );
      const after = await run(ctx.logs, 'git-status-installed-again', 'git', ['status', '--porcelain'], {
        cwd: ctx.copy,
      });
      if (after.stdout !== before.stdout || hashTree(path.join(ctx.copy, 'src')) !== h)
        throw new StepFailure('a second install changed the tree', `${before.stdout}\n---\n${after.stdout}`);
      return tail(r.stdout, 2);
    },
  ],
  [
    "4.2 NanoClaw's format:check after install",
    async (ctx) => {
      const r = await run(ctx.logs, 'format-after', 'pnpm', ['run', 'format:check'], { cwd: ctx.copy, env: ctx.env });
      if (r.code !== 0 && ctx.baseline?.formatOk) must(r, 'pnpm run format:check');
    },
  ],
  [
    "4.3 NanoClaw's lint after install: no new errors",
    async (ctx) => {
      const r = await run(ctx.logs, 'lint-after', 'pnpm', ['run', 'lint'], {
        cwd: ctx.copy,
        env: ctx.env,
        timeoutMs: 300_000,
      });
      const c = lintCounts(r.stdout + r.stderr);
      if (c.errors > (ctx.baseline?.lintErrors ?? 0)) {
        throw new StepFailure(
          `lint errors ${ctx.baseline?.lintErrors} before install, ${c.errors} after`,
          tail(r.stdout, 30),
        );
      }
      return `${c.errors} errors (before: ${ctx.baseline?.lintErrors})`;
    },
  ],
  [
    "4.4 NanoClaw's typecheck",
    async (ctx) => {
      must(
        await run(ctx.logs, 'typecheck', 'pnpm', ['run', 'typecheck'], {
          cwd: ctx.copy,
          env: ctx.env,
          timeoutMs: 300_000,
        }),
        'pnpm run typecheck',
      );
    },
  ],
  [
    "4.5 NanoClaw's build",
    async (ctx) => {
      must(
        await run(ctx.logs, 'build-after', 'pnpm', ['run', 'build'], {
          cwd: ctx.copy,
          env: ctx.env,
          timeoutMs: 300_000,
        }),
        'pnpm run build',
      );
      const js = readFileSync(path.join(ctx.copy, 'dist/container-runner.js'), 'utf8');
      if (!/traffic-guardian|trafficGuardian/.test(js))
        throw new StepFailure('dist/container-runner.js does not carry the patch');
    },
  ],
  [
    "4.6 NanoClaw's tests (pnpm test)",
    async (ctx) => {
      if (process.argv.includes('--skip-nanoclaw-tests')) return 'skipped (--skip-nanoclaw-tests)';
      const r = must(
        await run(ctx.logs, 'nanoclaw-test', 'pnpm', ['test'], { cwd: ctx.copy, env: ctx.env, timeoutMs: 900_000 }),
        'pnpm test',
      );
      const m = /Tests\s+(\d+ passed[^\n]*)/.exec(r.stdout.replace(/\x1b\[[0-9;]*m/g, ''));
      return m ? m[1] : '';
    },
  ],
  [
    "4.7 NanoClaw's host restarted (picks up the patched dist/)",
    async (ctx) => {
      ctx.restartMark = dockerCalls(ctx).length;
      await restartHost(ctx);
    },
  ],
  [
    '4.8 the guardian starts from the config install wrote',
    async (ctx) => {
      const cfgFile = path.join(ctx.tgHome, 'config.json');
      let fallback = '';
      if (!existsSync(cfgFile)) {
        if (!ctx.keepGoing)
          throw new StepFailure(`install wrote no guardian config (${cfgFile} missing)`, tail(ctx.installOut ?? ''));
        // --keep-going: write the config SKILL.md shows (loopback here), chained to OneCLI with alpha's token, so
        // the later steps still test the rest of the path; the step is still reported as failed.
        const token = ctx.onecli!.tokens.get(ctx.groupIds['e2e-alpha']!);
        writeFileSync(
          cfgFile,
          JSON.stringify({
            proxy_host: '127.0.0.1',
            proxy_port: ctx.guardianPort,
            proxy_auth: 'groups',
            https_inspection: true,
            upstream_proxy: `http://x:${token}@127.0.0.1:${ctx.onecli!.gatewayPort}`,
            upstream_ca_file: ctx.onecli!.caFile,
          }),
        );
        fallback = `install wrote no guardian config (${cfgFile} missing); continuing with SKILL.md's example config`;
      }
      const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as { proxy_host?: string; proxy_port?: number };
      const port = cfg.proxy_port ?? 8888;
      const host = !cfg.proxy_host || cfg.proxy_host === '0.0.0.0' ? '127.0.0.1' : cfg.proxy_host;
      const g = new Daemon(path.join(ctx.logs, 'guardian.log'), process.execPath, [CLI, 'start', '--config', cfgFile], {
        env: ctx.env,
      });
      ctx.guardian = g;
      const t0 = Date.now();
      while (!(await canConnect(host, port))) {
        if (g.exited)
          throw new StepFailure(`the guardian exited (${g.exited.code ?? g.exited.signal})`, tail(g.text()));
        if (Date.now() - t0 > 20_000)
          throw new StepFailure(`the guardian is not listening on ${host}:${port}`, tail(g.text()));
        await sleep(200);
      }
      ctx.guardianPort = port;
      if (fallback) throw new StepFailure(fallback, `guardian started on ${host}:${port} with the harness config`);
      return `${host}:${port}; config: ${JSON.stringify(cfg).replace(/:\/\/[^@"]*@/g, '://***@')}`;
    },
  ],
  [
    '4.9 both groups spawn again',
    async (ctx) => {
      ctx.runs = await spawnBoth(ctx, 'hello again from the e2e', ctx.restartMark);
      return GROUPS.map((g) => ctx.runs[g]!.name).join(', ');
    },
  ],
  [
    '5.1 docker args: guardian env after OneCLI, per-group credentials, CA bundles, read-only mounts',
    async (ctx) => {
      const guardianCa = readFileSync(path.join(ctx.tgHome, 'ca', 'ca.crt'), 'utf8');
      const problems: string[] = [];
      const notes: string[] = [];
      const creds: string[] = [];
      for (const g of GROUPS) {
        const rep = checkWiring(ctx.runs[g]!, {
          onecliPort: ctx.onecli!.gatewayPort,
          onecliToken: ctx.onecli!.tokens.get(ctx.groupIds[g]!) ?? '(none)',
          guardianPort: ctx.guardianPort!,
          guardianCaPem: guardianCa,
          onecliCaPem: ctx.onecli!.caPem,
          publicRoots: tls.rootCertificates,
          readFile: (p) => (existsSync(p) && statSync(p).isFile() ? readFileSync(p, 'utf8') : null),
        });
        problems.push(...rep.problems.map((p) => `${g}: ${p}`));
        notes.push(...rep.notes.map((n) => `${g}: ${n}`));
        if (rep.guardianProxy) creds.push(`${rep.guardianProxy.username}:${rep.guardianProxy.password}`);
      }
      if (creds.length === 2 && creds[0] === creds[1])
        problems.push('both groups get the same guardian proxy credentials');
      const a = ctx.runs['e2e-alpha']!.mounts.find((m) => m.containerPath === '/run/traffic-guardian');
      const b = ctx.runs['e2e-beta']!.mounts.find((m) => m.containerPath === '/run/traffic-guardian');
      if (a && b && a.hostPath === b.hostPath) problems.push('both groups mount the same socket directory');
      // The CA key must not be reachable through any mount.
      // Nothing private of the guardian's may be reachable through a mount: the CA key, the credential hashes,
      // the wiring files (proxy credentials), the recorded OneCLI upstreams (every group's OneCLI token), the salt.
      const secret = [
        path.join(ctx.tgHome, 'ca'),
        path.join(ctx.tgHome, 'groups.json'),
        path.join(ctx.tgHome, 'salt'),
        path.join(ctx.tgHome, 'nanoclaw', 'groups'),
        path.join(ctx.tgHome, 'nanoclaw', 'upstreams'),
        path.join(ctx.tgHome, 'nanoclaw', 'install.json'),
      ];
      for (const g of GROUPS)
        for (const m of ctx.runs[g]!.mounts) {
          const h = m.hostPath.replace(/\/+$/, '');
          for (const p of secret)
            if (p === h || p.startsWith(`${h}/`) || h.startsWith(`${p}/`))
              problems.push(`${g}: mount ${m.hostPath} exposes ${p}`);
          // The guardian's own mounts hold this group's material only.
          if (m.containerPath.includes('traffic-guardian') && existsSync(h) && statSync(h).isDirectory()) {
            for (const f of readdirSync(h)) {
              const other = GROUPS.find((o) => o !== g && f.includes(o));
              if (other || /\.key$|key\.pem$|salt|groups\.json|upstream/i.test(f))
                problems.push(`${g}: ${m.containerPath} holds ${f}`);
            }
          }
        }
      // "Through NanoClaw's mount helper": the generated code must call readonlyMountArgs.
      const helper = path.join(ctx.copy, 'src/traffic-guardian.ts');
      if (existsSync(helper) && !readFileSync(helper, 'utf8').includes('readonlyMountArgs')) {
        problems.push("src/traffic-guardian.ts writes its mounts by hand, not through NanoClaw's readonlyMountArgs");
      }
      if (problems.length > 0) throw new StepFailure(`${problems.length} problem(s)`, problems.join('\n'));
      return notes.join('\n');
    },
  ],
  [
    '5.2 the MCP server is registered for both groups (container.json)',
    async (ctx) => {
      const out: string[] = [];
      for (const g of GROUPS) {
        const s = readMcpServer(ctx, g);
        if (!s) throw new StepFailure(`groups/${g}/container.json has no mcpServers.${MCP_NAME}`);
        out.push(`${g}: ${s.command} ${s.args.join(' ')} ${JSON.stringify(s.env)}`);
      }
      return out.join('\n');
    },
  ],
  [
    '6.1 simulated container (alpha): MCP tools answer, a fake key becomes a finding, HTTPS works through the chain',
    async (ctx) => {
      const key = expandExample('Authorization: token ghp_{{rand:alnum:36}}').text.slice(
        'Authorization: token '.length,
      );
      ctx.leakKeys.push(key);
      const hitsBefore = ctx.onecli!.hits.length;
      const res = await sandbox(ctx, 'e2e-alpha', {
        mcp: readMcpServer(ctx, 'e2e-alpha') ?? undefined,
        leakUrl: 'http://api.e2e-target.test/upload',
        leakKey: key,
        expectFinding: true,
        httpsUrl: 'https://secure.e2e-target.test/hello',
      });
      writeFileSync(path.join(ctx.logs, 'sandbox-alpha.json'), JSON.stringify(res, null, 2));
      ctx.leakSent = res.leak?.status !== undefined;
      const problems: string[] = [];
      if (res.uid !== 1000) problems.push(`ran as uid ${res.uid}, not 1000`);
      if (res.mcpError) problems.push(`MCP: ${res.mcpError}`);
      const tools = res.tools ?? [];
      for (const t of ['get_status', 'list_findings', 'validate_config'])
        if (!tools.includes(t)) problems.push(`MCP tool ${t} missing (got ${tools.join(', ') || 'none'})`);
      const call = (name: string, i = 0) => res.calls.filter((c) => c.name === name)[i];
      const st = call('get_status');
      if (!st || st.isError || !STATUS_OK.test(st.text)) problems.push(`get_status: ${st?.text ?? 'not called'}`);
      else if (!/for group e2e-alpha/.test(st.text)) problems.push(`get_status does not name the group: ${st.text}`);
      else if (/Self-check: (NOT WATCHED|could not run)/.test(st.text))
        problems.push(`get_status self-check from inside the container: ${st.text}`);
      const v1 = call('validate_config', 0);
      if (!v1 || v1.isError || !/^(the )?config is valid/i.test(v1.text))
        problems.push(`validate_config(valid): ${v1?.text}`);
      const v2 = call('validate_config', 1);
      if (!v2 || v2.isError || !/proxy_port/.test(v2.text)) problems.push(`validate_config(invalid): ${v2?.text}`);
      const lf = call('list_findings');
      if (!lf || lf.isError || !SOME_FINDINGS.test(lf.text)) problems.push(`list_findings after the leak: ${lf?.text}`);
      else if (!/github/i.test(JSON.stringify(lf.structured)))
        problems.push(`list_findings has no GitHub-token finding: ${JSON.stringify(lf.structured).slice(0, 300)}`);
      if (res.keyEchoedByMcp) problems.push('the fake key came back through MCP unredacted');
      if (!res.leak || res.leak.status !== 200) problems.push(`request with the fake key: ${JSON.stringify(res.leak)}`);
      for (const h of res.https) if (!h.ok) problems.push(`HTTPS with ${h.variable}=${h.file}: ${h.error ?? h.status}`);
      const mine = ctx.onecli!.hits.slice(hitsBefore).filter((h) => h.kind !== 'connect');
      const wrong = mine.filter((h) => h.agent !== ctx.groupIds['e2e-alpha']);
      if (mine.length === 0) problems.push('no request reached OneCLI (the guardian does not chain to it)');
      if (wrong.length > 0)
        problems.push(
          `requests reached OneCLI as ${[...new Set(wrong.map((h) => h.agent))].join(', ')}, not alpha's agent`,
        );
      // --keep-going: when the socket is what stands in the way, look past it (chown the socket the way the
      // guardian should) so one run also shows whether the MCP answers themselves hold.
      if (ctx.keepGoing && /EACCES/.test(st?.text ?? '')) {
        const sock = path.join(ctx.tgHome, 'run', 'groups', 'e2e-alpha', 'guardian.sock');
        if (existsSync(sock)) {
          chownSync(sock, 1000, 1000);
          const again = await sandbox(ctx, 'e2e-alpha', {
            mcp: readMcpServer(ctx, 'e2e-alpha') ?? undefined,
            expectFinding: true,
          });
          const t = (n: string, i = 0) =>
            again.calls.filter((c) => c.name === n)[i]?.text ?? again.mcpError ?? '(not called)';
          problems.push(
            `(--keep-going, looking past EACCES with the socket chowned to 1000) get_status: ${t('get_status')} | validate_config: ${t('validate_config')} / ${t('validate_config', 1)} | list_findings: ${t('list_findings')}`,
          );
        }
      }
      if (problems.length > 0)
        throw new StepFailure(
          `${problems.length} problem(s)`,
          `${problems.join('\n')}\n(full result: ${path.join(ctx.logs, 'sandbox-alpha.json')})`,
        );
      return [
        `tools: ${tools.join(', ')}`,
        `get_status: ${st!.text}`,
        `list_findings: ${lf!.text}`,
        ...res.https.map((h) => `HTTPS via ${h.variable}: ${h.status}`),
        `OneCLI saw agent ${ctx.groupIds['e2e-alpha']} on ${mine.length} request(s)`,
      ].join('\n');
    },
  ],
  [
    '6.2 simulated container (beta): its own OneCLI agent, its own findings only',
    async (ctx) => {
      const hitsBefore = ctx.onecli!.hits.length;
      const key = expandExample('Authorization: token ghp_{{rand:alnum:36}}').text.slice(
        'Authorization: token '.length,
      );
      ctx.leakKeys.push(key);
      const res = await sandbox(ctx, 'e2e-beta', {
        mcp: readMcpServer(ctx, 'e2e-beta') ?? undefined,
        leakUrl: 'http://api.e2e-target.test/ping',
        leakKey: key,
        expectFinding: true,
        httpsUrl: 'https://secure.e2e-target.test/beta',
      });
      writeFileSync(path.join(ctx.logs, 'sandbox-beta.json'), JSON.stringify(res, null, 2));
      const problems: string[] = [];
      if (res.mcpError) problems.push(`MCP: ${res.mcpError}`);
      const lf = res.calls.find((c) => c.name === 'list_findings');
      const alphaSeen = JSON.stringify(lf?.structured ?? {}).includes('e2e-alpha');
      if (alphaSeen) problems.push("beta's list_findings shows alpha's findings");
      else if (!lf || lf.isError || !SOME_FINDINGS.test(lf.text))
        problems.push(`beta's own finding is not listed: ${lf?.text ?? res.mcpError}`);
      const mine = ctx.onecli!.hits.slice(hitsBefore).filter((h) => h.kind !== 'connect');
      const wrong = mine.filter((h) => h.agent !== ctx.groupIds['e2e-beta']);
      if (mine.length === 0) problems.push('no request reached OneCLI');
      if (wrong.length > 0)
        problems.push(
          `requests reached OneCLI as ${[...new Set(wrong.map((h) => h.agent))].join(', ')}, not beta's agent ${ctx.groupIds['e2e-beta']}`,
        );
      for (const h of res.https) if (!h.ok) problems.push(`HTTPS with ${h.variable}: ${h.error ?? h.status}`);
      if (problems.length > 0) throw new StepFailure(`${problems.length} problem(s)`, problems.join('\n'));
      return `OneCLI saw agent ${ctx.groupIds['e2e-beta']} on ${mine.length} request(s); list_findings: ${lf?.text}`;
    },
  ],
  [
    '6.3 the fake key appears in no file or log (guardian home, NanoClaw data, run logs)',
    async (ctx) => {
      if (!ctx.leakSent) throw new StepFailure('nothing to audit: the fake key never reached the proxy (see 6.1)');
      const hits = ctx.leakKeys.flatMap((k) => [
        ...findInTree(ctx.tgHome, k.slice(4)),
        ...findInTree(path.join(ctx.copy, 'data'), k.slice(4)),
        ...findInTree(ctx.logs, k.slice(4)).filter((f) => !/sandbox-e2e-alpha\.log$/.test(f)),
      ]);
      if (hits.length > 0) throw new StepFailure('the fake key was written in clear', hits.join('\n'));
    },
  ],
  [
    '6.4 traffic-guardian doctor exits 0',
    async (ctx) => {
      const r = await run(ctx.logs, 'doctor', process.execPath, [CLI, 'doctor', '--nanoclaw', ctx.copy], {
        env: ctx.env,
        timeoutMs: 120_000,
      });
      must(r, 'traffic-guardian doctor');
      const j = await run(
        ctx.logs,
        'doctor-json',
        process.execPath,
        [CLI, 'doctor', '--nanoclaw', ctx.copy, '--group', 'e2e-beta', '--json'],
        { env: ctx.env, timeoutMs: 120_000 },
      );
      try {
        JSON.parse(j.stdout);
      } catch {
        throw new StepFailure('doctor --group e2e-beta --json printed no JSON', tail(j.stdout + j.stderr));
      }
      if (j.code !== 0) throw new StepFailure(`doctor --group e2e-beta --json exited ${j.code}`, tail(j.stdout));
      return tail(r.stdout, 40).replace(/^/gm, '| ');
    },
  ],
  [
    '7.1 traffic-guardian uninstall --nanoclaw <copy>',
    async (ctx) => {
      await ctx.guardian?.stop();
      const r = must(
        await run(ctx.logs, 'uninstall', process.execPath, [CLI, 'uninstall', '--nanoclaw', ctx.copy], {
          env: ctx.env,
          timeoutMs: 600_000,
        }),
        'uninstall',
      );
      return r.stdout.trimEnd().replace(/^/gm, '| ');
    },
  ],
  [
    '7.2 rebuild + restart NanoClaw, respawn: no guardian arguments left',
    async (ctx) => {
      must(
        await run(ctx.logs, 'build-after-uninstall', 'pnpm', ['run', 'build'], { cwd: ctx.copy, env: ctx.env }),
        'pnpm run build',
      );
      const mark = dockerCalls(ctx).length;
      await restartHost(ctx);
      const runs = await spawnBoth(ctx, 'hello after uninstall', mark);
      const left: string[] = [];
      for (const g of GROUPS) {
        const r = runs[g]!;
        for (const m of r.mounts)
          if (/traffic-guardian/.test(m.containerPath)) left.push(`${g}: mount ${m.containerPath}`);
        for (const e of r.env)
          if (e.value.includes(`:${ctx.guardianPort}`)) left.push(`${g}: -e ${e.key}=${redactUrl(e.value)}`);
        if (readMcpServer(ctx, g)) left.push(`${g}: container.json still registers ${MCP_NAME}`);
      }
      if (left.length > 0) throw new StepFailure('guardian wiring survives uninstall', left.join('\n'));
    },
  ],
  [
    '7.3 tree identical to before install (git status, src/ hash), MCP server unregistered',
    async (ctx) => {
      const st = must(
        await run(ctx.logs, 'git-status-after', 'git', ['status', '--porcelain'], { cwd: ctx.copy }),
        'git status',
      );
      const problems: string[] = [];
      if (st.stdout !== ctx.baseline?.porcelain)
        problems.push(`git status --porcelain differs:\nbefore:\n${ctx.baseline?.porcelain}after:\n${st.stdout}`);
      const h = hashTree(path.join(ctx.copy, 'src'));
      if (h !== ctx.baseline?.srcHash) problems.push('src/ hash differs');
      for (const g of GROUPS) {
        const cfg = (await ncl(ctx, ['groups', 'config', 'get', '--id', ctx.groupIds[g]!])) as {
          mcp_servers?: Record<string, unknown>;
        };
        if (cfg.mcp_servers && MCP_NAME in cfg.mcp_servers)
          problems.push(`${g}: ncl still lists the ${MCP_NAME} MCP server`);
      }
      const again = await run(
        ctx.logs,
        'uninstall-again',
        process.execPath,
        [CLI, 'uninstall', '--nanoclaw', ctx.copy, '--manual'],
        { env: ctx.env, timeoutMs: 300_000 },
      );
      if (again.code !== 0)
        problems.push(`a second uninstall exited ${again.code}: ${tail(again.stdout + again.stderr, 5)}`);
      if (problems.length > 0) throw new StepFailure(`${problems.length} problem(s)`, problems.join('\n'));
      return `src/ sha256 ${h.slice(0, 16)}…; a second uninstall: ${tail(again.stdout, 1)}`;
    },
  ],
];

// ---------- driver ----------

async function cleanup(ctx: Ctx, keep: boolean): Promise<void> {
  await ctx.guardian?.stop().catch(() => {});
  await ctx.host?.stop().catch(() => {});
  // Containers the stand-in "runs": stop them by their recorded pids.
  if (existsSync(ctx.dockerState)) {
    for (const f of readdirSync(ctx.dockerState)) {
      if (!f.endsWith('.pid')) continue;
      const pid = Number(readFileSync(path.join(ctx.dockerState, f), 'utf8'));
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  }
  await ctx.onecli?.close().catch(() => {});
  if (!keep) rmSync(ctx.tmp, { recursive: true, force: true });
}

function setupCtx(src: string): Ctx {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tg-e2e-'));
  const logs = path.join(tmp, 'logs');
  const bin = path.join(tmp, 'bin');
  const tgHome = path.join(tmp, 'tg');
  const home = path.join(tmp, 'home');
  const hostTmp = path.join(tmp, 'host-tmp');
  for (const d of [logs, bin, home, hostTmp]) mkdirSync(d, { recursive: true });
  const dockerLog = path.join(tmp, 'docker-calls.jsonl');
  const dockerState = path.join(tmp, 'docker-state');
  writeFileSync(
    path.join(bin, 'docker'),
    `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(DIST, 'scripts/e2e-nanoclaw/docker-stub.js'))} "$@"\n`,
    { mode: 0o755 },
  );
  const env: NodeJS.ProcessEnv = {
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    HOME: home,
    // OneCLI's SDK writes its CA files to os.tmpdir(): keep them out of the shared /tmp.
    TMPDIR: hostTmp,
    TZ: 'UTC',
    LANG: 'C.UTF-8',
    NANOCLAW_TRAFFIC_GUARDIAN_HOME: tgHome,
    E2E_DOCKER_LOG: dockerLog,
    E2E_DOCKER_STATE: dockerState,
    ONECLI_API_KEY: 'e2e-onecli-api-key',
    CI: '1',
  };
  // pnpm keeps working with a fresh HOME when it is told where its store is.
  if (process.env.PNPM_HOME) env.PNPM_HOME = process.env.PNPM_HOME;
  return {
    src,
    tmp,
    logs,
    copy: path.join(tmp, 'nanoclaw'),
    tgHome,
    env,
    dockerLog,
    dockerState,
    hostStarts: 0,
    groupIds: {},
    runs: {},
    leakKeys: [],
    results: [],
    keepGoing: false,
    mitm: false,
    asUid: null,
    leakSent: false,
  };
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (o.help || !o.dir) {
    process.stdout.write(
      'Usage: npm run e2e:nanoclaw -- DIR [--mitm] [--as-uid=N] [--keep] [--keep-going] [--skip-nanoclaw-tests]\n',
    );
    return o.help ? 0 : 2;
  }
  const src = path.resolve(o.dir);
  if (!existsSync(path.join(src, 'package.json')) || !existsSync(path.join(src, 'node_modules'))) {
    process.stderr.write(`${src}: not a NanoClaw checkout with node_modules (run pnpm install there first)\n`);
    return 2;
  }
  if (!existsSync(CLI)) {
    process.stderr.write(`${CLI} missing: run npm run build\n`);
    return 2;
  }
  if (o.asUid !== null && (!Number.isInteger(o.asUid) || o.asUid <= 0)) {
    process.stderr.write('--as-uid=N needs a non-root uid\n');
    return 2;
  }
  const ctx = setupCtx(src);
  if (o.asUid !== null) {
    // NanoClaw, ncl, pnpm, install, the guardian and doctor all run as this user (as on most hosts); the
    // harness stays root for the container simulation.
    chownTree(ctx.tmp, o.asUid);
    ctx.asUid = o.asUid;
    setRunAs(o.asUid);
  }
  ctx.keepGoing = o.keepGoing;
  ctx.mitm = o.mitm;
  const head = await run(ctx.logs, 'src-head', 'git', ['log', '-1', '--format=%h %s'], { cwd: src, root: true });
  const pkg = JSON.parse(readFileSync(path.join(src, 'package.json'), 'utf8')) as { version?: string };
  const self = await run(ctx.logs, 'self-head', 'git', ['log', '-1', '--format=%h %s'], { cwd: PROJECT, root: true });
  process.stdout.write(
    `e2e against NanoClaw ${pkg.version} (${head.stdout.trim()}) at ${src}\n` +
      `traffic-guardian ${self.stdout.trim()}\nwork dir ${ctx.tmp}${o.keep ? ' (kept)' : ''}; NanoClaw and the guardian run as ${o.asUid === null ? 'root' : `uid ${o.asUid}`}; HTTPS inspection ${o.mitm ? 'on (--mitm)' : "install's default"}\n\n`,
  );
  const onSignal = () => {
    void cleanup(ctx, o.keep).then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const t0 = Date.now();
  let failed = 0;
  for (const [name, fn] of steps) {
    const s0 = Date.now();
    try {
      const detail = (await fn(ctx)) ?? '';
      const ms = Date.now() - s0;
      ctx.results.push({ name, ok: true, ms, detail });
      process.stdout.write(`PASS ${(ms / 1000).toFixed(1).padStart(6)}s  ${name}\n${indent(detail, '      ')}`);
    } catch (err) {
      const ms = Date.now() - s0;
      failed++;
      const detail = err instanceof StepFailure ? err.detail : ((err as Error).stack ?? String(err));
      ctx.results.push({ name, ok: false, ms, detail: (err as Error).message });
      process.stdout.write(
        `FAIL ${(ms / 1000).toFixed(1).padStart(6)}s  ${name}\n${indent((err as Error).message, '      ')}${indent(detail, '      > ')}`,
      );
      if (!o.keepGoing) break;
    }
  }
  const total = ((Date.now() - t0) / 1000).toFixed(1);
  const passed = ctx.results.filter((r) => r.ok).length;
  process.stdout.write(
    `\n${failed === 0 ? 'E2E PASSED' : 'E2E FAILED'}: ${passed} passed, ${failed} failed, ${steps.length - ctx.results.length} not run, ${total}s\n` +
      `logs: ${o.keep || failed > 0 ? ctx.logs : '(removed; --keep to keep)'}\n`,
  );
  await cleanup(ctx, o.keep || failed > 0);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
