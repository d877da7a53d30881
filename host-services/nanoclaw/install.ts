// `traffic-guardian install` for a NanoClaw v2 checkout, as one transaction:
//   1. preflight: everything install needs is checked before the first change (checkout shape, NanoClaw's
//      host reachable through ncl, each group known and spawned once, nothing foreign in the way, tools);
//   2. apply: each change is recorded in the manifest before it is made (manifest.ts);
//   3. on any failure the changes made so far are undone in reverse, and the error names the cause and
//      the next command.
// Then NanoClaw is rebuilt and restarted the way its setup installed it, so the running host picks the
// change up, and the guardian runs as a service of the same kind beside it (or, with --manual, the exact
// commands are printed instead).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { loadOrCreateCa } from '../ca.js';
import { GroupRegistry, GROUP_NAME, proxyUrlWithCredentials } from '../group-registry.js';
import { ensurePrivateDir, groupSocketPath } from '../home.js';
import { containerUid } from './checkout.js';
import { commandRunner } from './commands-runner.js';
import { helperSource, type Wiring } from './helper-source.js';
import { saveManifest, type Manifest, type Step } from './manifest.js';
import {
  IN_CONTAINER,
  MCP_SERVER_NAME,
  nanoclawPaths,
  shareDir,
  SKILL_NAME,
  upstreamFile,
  wiringFile,
} from './paths.js';
import { preflight, type InstallOptions, type Plan } from './preflight.js';
import { applyRunnerPatch, HELPER_FILE, removeRunnerPatch, RUNNER_FILE } from './runner-patch.js';
import { showCommand } from './services.js';
import { chownForContainer } from './socket-access.js';
import { sha256, undoStep, describeUndo, guardianCli } from './undo.js';
import { writeAtomic } from './write-atomic.js';

export type { InstallOptions } from './preflight.js';

export class InstallError extends Error {}

/** The manifest being written: every step is added (and saved) before it is carried out. */
class Journal {
  constructor(
    readonly m: Manifest,
    private readonly file: string,
  ) {}

  /** Whether this run changed anything (so NanoClaw needs a rebuild and the guardian a restart). */
  changed = false;

  save(): void {
    saveManifest(this.file, this.m);
  }

  add(s: Step): void {
    this.m.steps.push(s);
    this.changed = true;
    this.save();
  }

  /** Records a created file, or updates the record of one an earlier install created. */
  created(file: string, sha: string): void {
    const prev = this.m.steps.find((s) => s.kind === 'file-created' && s.path === file);
    if (prev && prev.kind === 'file-created') {
      prev.sha256 = sha;
      this.changed = true;
      this.save();
    } else {
      this.add({ kind: 'file-created', path: file, sha256: sha });
    }
  }
}

export async function install(o: InstallOptions): Promise<void> {
  for (const g of o.groups) {
    if (!GROUP_NAME.test(g)) throw new InstallError(`--group ${g}: not a valid group folder name`);
  }
  const plan = await preflight(o);
  const np = nanoclawPaths(o.paths);
  if (o.dryRun) {
    for (const line of describePlan(plan, o)) o.log(`[dry-run] would ${line}`);
    return;
  }
  const prior = plan.prior;
  const m: Manifest = prior
    ? { ...structuredClone(prior), state: 'installing' }
    : { version: 2, nanoclaw_dir: plan.dir, state: 'installing', groups: [], steps: [] };
  const firstNew = m.steps.length;
  const j = new Journal(m, np.manifest);
  j.save();
  let built = false;
  const commands = commandRunner(o.log, o.manual);
  try {
    applySource(plan, o, j);
    await applyGroups(plan, o, j);
    applyGuardianConfig(plan, o, j);
    if (!j.changed) {
      j.m.state = 'installed';
      j.save();
      o.log(`nothing to do: ${plan.dir} is already wired for ${j.m.groups.map((g) => g.folder).join(', ')}`);
      return;
    }
    const svc = plan.guardianService;
    if (!o.manual && svc) {
      // (Re)started on every change: the guardian reads group credentials and makes group sockets at start.
      if (!j.m.steps.some((s) => s.kind === 'guardian-service')) {
        j.add({ kind: 'guardian-service', manager: svc.manager, name: svc.name, file: svc.file });
      }
      mkdirSync(path.dirname(svc.file), { recursive: true });
      writeAtomic(svc.file, svc.content, svc.mode);
      o.log(`write ${svc.file}`);
      commands.run(svc.start);
    }
    if (!o.manual && plan.build) {
      commands.run([plan.build], plan.dir);
      built = true;
      commands.run(plan.nanoclawService.restart);
    }
    m.state = 'installed';
    saveManifest(np.manifest, m);
  } catch (err) {
    const cause = (err as Error).message;
    o.log(`install failed: ${cause}`);
    o.log('undoing the changes made so far:');
    const undone = await rollback(m, firstNew, plan, o, built);
    if (prior) saveManifest(np.manifest, { ...prior });
    else if (undone) removeQuietly(np.manifest);
    throw new InstallError(
      `${cause}\n${undone ? 'Every change of this run was undone.' : `Some changes could not be undone: run \`traffic-guardian uninstall --nanoclaw ${plan.dir}\`.`}` +
        `${hintFor(cause, plan)}`,
    );
  }
  printNext(plan, o);
}

/** The helper file, the marked call in container-runner.ts, the skill folder, the share directory root. */
function applySource(plan: Plan, o: InstallOptions, j: Journal): void {
  const np = nanoclawPaths(o.paths);
  ensurePrivateDir(np.root);
  for (const dir of [np.wiring, np.upstreams, np.backups]) {
    if (!existsSync(dir)) j.add({ kind: 'dir-created', path: dir });
    ensurePrivateDir(dir);
  }
  if (!existsSync(np.share)) j.add({ kind: 'dir-created', path: np.share });
  mkdirSync(np.share, { recursive: true, mode: 0o755 });
  loadOrCreateCa(o.paths, { create: true });

  const helperPath = path.join(plan.dir, HELPER_FILE);
  const helper = helperSource(np.wiring);
  if (!existsSync(helperPath) || readFileSync(helperPath, 'utf8') !== helper) {
    o.log(`write ${helperPath}`);
    j.created(helperPath, sha256(helper));
    writeAtomic(helperPath, helper);
  }

  const runnerPath = path.join(plan.dir, RUNNER_FILE);
  const current = readFileSync(runnerPath, 'utf8');
  const original = removeRunnerPatch(current);
  const patched = applyRunnerPatch(original);
  if (current !== patched) {
    j.changed = true;
    const backup = path.join(np.backups, `container-runner.ts.${sha256(original).slice(0, 12)}`);
    o.log(`patch ${runnerPath} (marked import and args.push(...trafficGuardianArgs(agentGroup.folder, args)))`);
    writeAtomic(backup, original, 0o600);
    const prev = j.m.steps.find((s) => s.kind === 'file-patched' && s.path === runnerPath);
    j.add({
      kind: 'file-patched',
      path: runnerPath,
      original_sha256: prev && prev.kind === 'file-patched' ? prev.original_sha256 : sha256(original),
      patched_sha256: sha256(patched),
      backup,
    });
    writeAtomic(runnerPath, patched);
  }

  const skillTarget = path.join(plan.dir, '.claude', 'skills', SKILL_NAME);
  if (!existsSync(skillTarget)) {
    for (const d of [path.join(plan.dir, '.claude'), path.join(plan.dir, '.claude', 'skills'), skillTarget]) {
      if (!existsSync(d)) j.add({ kind: 'dir-created', path: d });
    }
    mkdirSync(skillTarget, { recursive: true });
  }
  for (const f of readdirSync(o.skillDir)) {
    const src = readFileSync(path.join(o.skillDir, f));
    const dst = path.join(skillTarget, f);
    if (existsSync(dst) && sha256(readFileSync(dst)) === sha256(src)) continue;
    o.log(`write ${dst}`);
    j.created(dst, sha256(src));
    writeAtomic(dst, src);
  }
}

/** Per new group: a proxy credential, its share directory, socket directory, wiring file and MCP server. */
async function applyGroups(plan: Plan, o: InstallOptions, j: Journal): Promise<void> {
  const np = nanoclawPaths(o.paths);
  const uid = containerUid(o.host.uid);
  for (const { folder, id } of plan.newGroups) {
    const registry = GroupRegistry.load(o.paths.groupsFile);
    j.add({ kind: 'group-credential', folder });
    const token = registry.issue(folder);
    registry.save();
    o.log(`issue proxy credentials for group ${folder} (hash in ${o.paths.groupsFile})`);

    const share = shareDir(np, folder);
    j.add({ kind: 'dir-created', path: share });
    mkdirSync(share, { recursive: true, mode: 0o755 });
    // Written through the no-follow helper: a link planted in the share directory is replaced, never followed.
    writeAtomic(path.join(share, 'traffic-guardian-mcp.mjs'), readFileSync(o.bundleFile));
    writeAtomic(path.join(share, 'ca.crt'), readFileSync(o.paths.caCert));
    o.log(`copy the MCP bundle and the guardian CA certificate (not its key) to ${share}`);

    const socketDir = path.dirname(groupSocketPath(o.paths, folder));
    if (!existsSync(socketDir)) j.add({ kind: 'dir-created', path: socketDir });
    ensurePrivateDir(socketDir);
    chownForContainer(socketDir, o.host.uid, uid);

    const wiring = wiringFile(np, folder);
    j.add({ kind: 'file-replaced', path: wiring, backup: null });
    const proxy = proxyUrlWithCredentials('host.docker.internal', plan.config.proxy_port, folder, token);
    const w: Wiring = {
      version: 2,
      group: folder,
      env: {
        HTTP_PROXY: proxy,
        HTTPS_PROXY: proxy,
        http_proxy: proxy,
        https_proxy: proxy,
        NO_PROXY: 'localhost,127.0.0.1',
      },
      share_dir: share,
      socket_dir: socketDir,
      upstream_file: upstreamFile(np, folder),
      gateway_host: '127.0.0.1',
    };
    writeAtomic(wiring, `${JSON.stringify(w, null, 2)}\n`, 0o600);
    o.log(`write ${wiring} (0600: it holds the group's proxy credential)`);

    const args = [IN_CONTAINER.bundle];
    const env = { NANOCLAW_TRAFFIC_GUARDIAN_SOCKET: IN_CONTAINER.socket };
    j.add({ kind: 'mcp-registered', folder, id });
    o.log(`run: ncl groups config add-mcp-server --id ${id} --name ${MCP_SERVER_NAME} --command node ...`);
    await plan.ncl.addMcpServer(id, MCP_SERVER_NAME, 'node', args, env);
    j.m.groups.push({ folder, id });
    j.save();
  }
}

function applyGuardianConfig(plan: Plan, o: InstallOptions, j: Journal): void {
  const text = `${JSON.stringify(plan.config, null, 2)}\n`;
  if (existsSync(o.paths.config) && readFileSync(o.paths.config, 'utf8') === text) return;
  const np = nanoclawPaths(o.paths);
  const already = plan.prior?.steps.some((s) => s.kind === 'file-replaced' && s.path === o.paths.config);
  if (!already) {
    const backup = existsSync(o.paths.config) ? path.join(np.backups, `config.json.${Date.now()}`) : null;
    if (backup) writeAtomic(backup, readFileSync(o.paths.config), 0o600);
    j.add({ kind: 'file-replaced', path: o.paths.config, backup });
  }
  writeAtomic(o.paths.config, text, 0o600);
  o.log(
    `write ${o.paths.config} (listener ${plan.config.proxy_host}:${plan.config.proxy_port}, per-group credentials,`,
  );
  o.log(
    `  each group chained to its own OneCLI gateway, HTTPS inspection ${plan.config.https_inspection ? 'on' : 'off'})`,
  );
}

async function rollback(m: Manifest, from: number, plan: Plan, o: InstallOptions, built: boolean): Promise<boolean> {
  const commands = commandRunner(o.log, false);
  let ok = true;
  for (let i = m.steps.length - 1; i >= from; i--) {
    const s = m.steps[i]!;
    o.log(`  ${describeUndo(s)}`);
    try {
      await undoStep(s, { paths: o.paths, ncl: plan.ncl, commands, log: o.log });
    } catch (err) {
      ok = false;
      o.log(`  could not undo: ${(err as Error).message}`);
    }
  }
  if (built && plan.build) {
    try {
      commands.run([plan.build], plan.dir);
      commands.run(plan.nanoclawService.restart);
    } catch (err) {
      ok = false;
      o.log(`  could not rebuild NanoClaw without the patch: ${(err as Error).message}`);
    }
  }
  return ok;
}

function hintFor(cause: string, plan: Plan): string {
  if (/pnpm run build/.test(cause)) {
    return `\nNext: fix NanoClaw's build (run \`pnpm run build\` in ${plan.dir} to see it), then run install again.`;
  }
  return `\nNext: fix the cause above, then run install again.`;
}

function removeQuietly(file: string): void {
  rmSync(file, { force: true });
}

function describePlan(plan: Plan, o: InstallOptions): string[] {
  const np = nanoclawPaths(o.paths);
  const lines = [
    `write ${path.join(plan.dir, HELPER_FILE)}`,
    `patch ${path.join(plan.dir, RUNNER_FILE)} (marked import and args.push(...trafficGuardianArgs(agentGroup.folder, args)))`,
    `write the skill to ${path.join(plan.dir, '.claude', 'skills', SKILL_NAME)}`,
  ];
  for (const g of plan.newGroups) {
    lines.push(
      `issue proxy credentials for group ${g.folder}, write ${wiringFile(np, g.folder)} and ${shareDir(np, g.folder)}`,
      `run: ncl groups config add-mcp-server --id ${g.id} --name ${MCP_SERVER_NAME} --command node ...`,
    );
  }
  lines.push(`write ${o.paths.config} (listener ${plan.config.proxy_host}:${plan.config.proxy_port})`);
  if (plan.guardianService) {
    lines.push(`write ${plan.guardianService.file}`);
    for (const c of plan.guardianService.start) lines.push(`run: ${showCommand(c)}`);
  }
  if (plan.build) lines.push(`run: ${showCommand(plan.build)} (in ${plan.dir})`);
  for (const c of plan.nanoclawService.restart) lines.push(`run: ${showCommand(c)}`);
  return lines;
}

function printNext(plan: Plan, o: InstallOptions): void {
  const commands = commandRunner(o.log, true);
  const lines: string[] = [];
  o.log(
    `installed into ${plan.dir}${plan.newGroups.length ? ` for ${plan.newGroups.map((g) => g.folder).join(', ')}` : ''}`,
  );
  if (o.manual) {
    o.log('Run these to finish (--manual):');
    if (plan.guardianService) {
      o.log(`  # the guardian's service: write this file, then start it`);
      o.log(`  cat > ${plan.guardianService.file} <<'EOF'\n${plan.guardianService.content}EOF`);
      commands.run(plan.guardianService.start);
    }
    if (plan.build) commands.run([plan.build], plan.dir);
    commands.run(plan.nanoclawService.restart);
  }
  if (!plan.guardianService) {
    lines.push(
      `NanoClaw runs without a service manager here, so start the guardian yourself and keep it running:`,
      `  NANOCLAW_TRAFFIC_GUARDIAN_HOME=${o.paths.root} ${process.execPath} ${guardianCli()} start --config ${o.paths.config}`,
    );
  }
  if (plan.nanoclawService.manager === 'none') {
    lines.push(
      'NanoClaw runs without a service here: restart its host the way you started it, so it loads the new dist/.',
    );
  }
  lines.push(
    'Containers pick up the wiring at their next spawn (send the group a message, or `ncl groups restart --id <id>`).',
    `Verify: traffic-guardian doctor --nanoclaw ${plan.dir}`,
  );
  for (const l of lines) o.log(l);
}
