// `traffic-guardian install` / `uninstall` for a NanoClaw v2 checkout. Every change is planned first,
// printed, and (unless --dry-run) applied and recorded in <home>/nanoclaw/install.json with backups,
// so uninstall reverses exactly what install did, byte for byte, and nothing else. Both are idempotent.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { z } from 'zod';
import { loadOrCreateCa } from '../ca.js';
import { GroupRegistry, GROUP_NAME, proxyUrlWithCredentials } from '../group-registry.js';
import { ensurePrivateDir, groupSocketPath, type HomePaths } from '../home.js';
import { Ncl } from './ncl.js';
import { applyRunnerPatch, helperSource, HELPER_FILE, removeRunnerPatch, RUNNER_FILE } from './runner-patch.js';

export const MCP_SERVER_NAME = 'traffic-guardian';
/** Where things appear inside the container. */
export const IN_CONTAINER = {
  dir: '/opt/traffic-guardian',
  bundle: '/opt/traffic-guardian/traffic-guardian-mcp.mjs',
  ca: '/opt/traffic-guardian/ca.crt',
  caBundle: '/opt/traffic-guardian/ca-bundle.pem',
  socketDir: '/run/traffic-guardian',
  socket: '/run/traffic-guardian/guardian.sock',
};

const ManifestSchema = z.object({
  version: z.literal(1),
  nanoclaw_dir: z.string(),
  created: z.array(z.object({ path: z.string(), sha256: z.string() })),
  patched: z.array(
    z.object({ path: z.string(), original_sha256: z.string(), patched_sha256: z.string(), backup: z.string() }),
  ),
  groups: z.array(z.object({ folder: z.string(), id: z.string(), wiring: z.string() })),
});
type Manifest = z.infer<typeof ManifestSchema>;

export interface InstallOptions {
  nanoclawDir: string;
  groups: string[];
  dryRun: boolean;
  paths: HomePaths;
  /** Where the guardian listens, as containers reach it. */
  proxyHost: string;
  proxyPort: number;
  /** Path of the built MCP bundle to copy. */
  bundleFile: string;
  log: (line: string) => void;
}

const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

function nanoclawPaths(p: HomePaths) {
  const root = path.join(p.root, 'nanoclaw');
  return {
    root,
    manifest: path.join(root, 'install.json'),
    backups: path.join(root, 'backup'),
    wiring: path.join(root, 'groups'),
    share: path.join(root, 'share'),
  };
}

function readManifest(file: string): Manifest | null {
  if (!existsSync(file)) return null;
  return ManifestSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
}

function writeAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}

/** Checks the directory really is a NanoClaw v2 checkout before anything is touched. */
export function checkNanoclaw(dir: string): void {
  const must = ['package.json', RUNNER_FILE, 'src/container-config.ts', 'bin/ncl'];
  const missing = must.filter((f) => !existsSync(path.join(dir, f)));
  if (missing.length > 0) throw new Error(`${dir} is not a NanoClaw v2 checkout: missing ${missing.join(', ')}`);
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: string };
  if (pkg.name !== 'nanoclaw') throw new Error(`${dir}/package.json names "${pkg.name}", not nanoclaw`);
  if (existsSync(path.join(dir, 'src/ipc.ts'))) {
    throw new Error(`${dir} has src/ipc.ts: that is NanoClaw v1 (file IPC); this skill supports v2 only`);
  }
}

export async function install(o: InstallOptions): Promise<void> {
  const dir = path.resolve(o.nanoclawDir);
  checkNanoclaw(dir);
  for (const g of o.groups) if (!GROUP_NAME.test(g)) throw new Error(`--group ${g}: not a valid group folder name`);
  const np = nanoclawPaths(o.paths);
  const prior = readManifest(np.manifest);
  if (prior && prior.nanoclaw_dir !== dir) {
    throw new Error(`already installed into ${prior.nanoclaw_dir}; run uninstall there first`);
  }
  const m: Manifest = prior ?? { version: 1, nanoclaw_dir: dir, created: [], patched: [], groups: [] };
  const act = (line: string, fn: () => void) => {
    o.log(`${o.dryRun ? '[dry-run] would ' : ''}${line}`);
    if (!o.dryRun) fn();
  };
  let changed = false;

  // 1. Source: the helper file and the marked call in container-runner.ts.
  const helperPath = path.join(dir, HELPER_FILE);
  const helper = helperSource(np.wiring);
  if (!existsSync(helperPath)) {
    changed = true;
    act(`create ${helperPath}`, () => {
      writeAtomic(helperPath, helper);
      m.created.push({ path: helperPath, sha256: sha256(helper) });
    });
  } else if (!m.created.some((c) => c.path === helperPath)) {
    throw new Error(`${helperPath} exists but this install did not create it; refusing to overwrite`);
  }
  const runnerPath = path.join(dir, RUNNER_FILE);
  const runner = readFileSync(runnerPath, 'utf8');
  const patched = applyRunnerPatch(runner);
  if (patched !== runner) {
    changed = true;
    const backup = path.join(np.backups, `container-runner.ts.${sha256(runner).slice(0, 12)}`);
    act(
      `patch ${runnerPath} (2 marked blocks: import and args.push(...trafficGuardianArgs(agentGroup.folder))), backup ${backup}`,
      () => {
        ensurePrivateDir(np.backups);
        writeAtomic(backup, runner, 0o600);
        writeAtomic(runnerPath, patched);
        m.patched.push({ path: runnerPath, original_sha256: sha256(runner), patched_sha256: sha256(patched), backup });
      },
    );
  }

  // 2. What containers mount read-only: the MCP bundle, the CA certificate and a CA bundle.
  const want = o.groups.filter((g) => !m.groups.some((x) => x.folder === g));
  if (want.length > 0 || !existsSync(path.join(np.share, 'traffic-guardian-mcp.mjs'))) {
    const caExists = existsSync(o.paths.caCert);
    act(
      `${caExists ? 'use' : 'create'} the guardian CA in ${o.paths.caDir} and copy its certificate (not the key) and the MCP bundle to ${np.share}`,
      () => {
        const ca = loadOrCreateCa(o.paths, { create: true })!;
        ensurePrivateDir(np.root);
        mkdirSync(np.share, { recursive: true, mode: 0o755 });
        copyFileSync(o.bundleFile, path.join(np.share, 'traffic-guardian-mcp.mjs'));
        writeAtomic(path.join(np.share, 'ca.crt'), ca.certPem);
        // SSL_CERT_FILE replaces a tool's default roots, so it gets the public roots plus the guardian CA.
        writeAtomic(path.join(np.share, 'ca-bundle.pem'), `${[...tls.rootCertificates, ca.certPem].join('\n')}\n`);
      },
    );
  }

  // 3. Groups: a credential, a wiring file, a socket dir, the MCP server registered through ncl.
  if (want.length > 0) {
    const registry = GroupRegistry.load(o.paths.groupsFile);
    const ncl = new Ncl(dir);
    for (const folder of want) {
      changed = true;
      if (!existsSync(path.join(dir, 'groups', folder)))
        throw new Error(`--group ${folder}: no ${dir}/groups/${folder}`);
      const id = o.dryRun ? '(id from ncl)' : await ncl.groupId(folder);
      const wiringFile = path.join(np.wiring, `${folder}.json`);
      act(`issue proxy credentials for group ${folder} (hash in ${o.paths.groupsFile}) and write ${wiringFile}`, () => {
        const token = registry.issue(folder);
        registry.save();
        const proxy = proxyUrlWithCredentials('host.docker.internal', o.proxyPort, folder, token);
        const env = {
          HTTP_PROXY: proxy,
          HTTPS_PROXY: proxy,
          http_proxy: proxy,
          https_proxy: proxy,
          NO_PROXY: 'localhost,127.0.0.1',
          no_proxy: 'localhost,127.0.0.1',
          NODE_EXTRA_CA_CERTS: IN_CONTAINER.ca,
          SSL_CERT_FILE: IN_CONTAINER.caBundle,
        };
        const sockDir = path.dirname(groupSocketPath(o.paths, folder));
        ensurePrivateDir(np.wiring);
        ensurePrivateDir(sockDir);
        const mounts = [
          { hostPath: np.share, containerPath: IN_CONTAINER.dir },
          { hostPath: sockDir, containerPath: IN_CONTAINER.socketDir },
        ];
        writeAtomic(wiringFile, `${JSON.stringify({ env, mounts }, null, 2)}\n`, 0o600);
      });
      const args = [IN_CONTAINER.bundle];
      const env = { NANOCLAW_TRAFFIC_GUARDIAN_SOCKET: IN_CONTAINER.socket };
      o.log(
        `${o.dryRun ? '[dry-run] would run' : 'run'}: ncl groups config add-mcp-server --id ${id} --name ${MCP_SERVER_NAME} ` +
          `--command node --args '${JSON.stringify(args)}' --env '${JSON.stringify(env)}'`,
      );
      if (!o.dryRun) {
        await ncl.addMcpServer(id, MCP_SERVER_NAME, 'node', args, env);
        m.groups.push({ folder, id, wiring: wiringFile });
      }
    }
  }

  if (!changed) {
    o.log(`nothing to do: ${dir} is already wired${o.groups.length ? ` for ${o.groups.join(', ')}` : ''}`);
    return;
  }
  if (!o.dryRun) {
    ensurePrivateDir(np.root);
    writeAtomic(np.manifest, `${JSON.stringify(m, null, 2)}\n`, 0o600);
    o.log(`recorded in ${np.manifest}`);
  }
  o.log(
    [
      'Next steps:',
      `  - run the guardian where containers reach it (host.docker.internal:${o.proxyPort}), e.g. in ${o.paths.config}:`,
      `      {"proxy_host": "<docker bridge address, e.g. 172.17.0.1>", "proxy_port": ${o.proxyPort}, "allowed_clients": ["172.17.0.0/16"],`,
      '       "proxy_auth": "groups", "https_inspection": true, "upstream_proxy": "<OneCLI gateway URL, to keep credential injection>"}',
      '  - restart the wired groups (ncl groups restart --id <id>) so their containers pick this up.',
    ].join('\n'),
  );
}

export async function uninstall(o: Pick<InstallOptions, 'nanoclawDir' | 'dryRun' | 'paths' | 'log'>): Promise<void> {
  const dir = path.resolve(o.nanoclawDir);
  const np = nanoclawPaths(o.paths);
  const m = readManifest(np.manifest);
  if (!m) {
    o.log(`nothing to do: no install recorded in ${np.manifest}`);
    return;
  }
  if (m.nanoclaw_dir !== dir) throw new Error(`the recorded install is for ${m.nanoclaw_dir}, not ${dir}`);
  const act = (line: string, fn: () => void) => {
    o.log(`${o.dryRun ? '[dry-run] would ' : ''}${line}`);
    if (!o.dryRun) fn();
  };
  const ncl = new Ncl(dir);
  const registry = GroupRegistry.load(o.paths.groupsFile);
  for (const g of m.groups) {
    o.log(
      `${o.dryRun ? '[dry-run] would run' : 'run'}: ncl groups config remove-mcp-server --id ${g.id} --name ${MCP_SERVER_NAME}`,
    );
    if (!o.dryRun) await ncl.removeMcpServer(g.id, MCP_SERVER_NAME);
    act(`revoke group ${g.folder}'s proxy credentials and remove ${g.wiring}`, () => {
      registry.remove(g.folder);
      registry.save();
      rmSync(g.wiring, { force: true });
    });
  }
  for (const p of m.patched) {
    const cur = existsSync(p.path) ? readFileSync(p.path, 'utf8') : null;
    if (cur === null) {
      o.log(`skip ${p.path}: it no longer exists`);
    } else if (sha256(cur) === p.patched_sha256) {
      act(`restore ${p.path} from ${p.backup}`, () => writeAtomic(p.path, readFileSync(p.backup)));
    } else {
      // NanoClaw changed the file since: remove only our marked blocks, keep their changes.
      act(`remove the marked blocks from ${p.path} (it changed since install)`, () =>
        writeAtomic(p.path, removeRunnerPatch(cur)),
      );
    }
  }
  for (const c of m.created) {
    if (!existsSync(c.path)) continue;
    if (sha256(readFileSync(c.path)) !== c.sha256) {
      o.log(`keep ${c.path}: it was edited after install (remove it by hand if you no longer need it)`);
      continue;
    }
    act(`remove ${c.path}`, () => rmSync(c.path));
  }
  act(`remove ${np.share}, ${np.backups} and ${np.manifest}`, () => {
    rmSync(np.share, { recursive: true, force: true });
    rmSync(np.backups, { recursive: true, force: true });
    rmSync(np.manifest, { force: true });
  });
  o.log('uninstalled; restart the affected groups so their containers drop the wiring');
}
