// `traffic-guardian uninstall`: undoes every step the manifest records, newest first, dropping each step
// from the manifest once undone (so an interrupted uninstall resumes where it stopped), then rebuilds and
// restarts NanoClaw so the running host drops the patch. Works on complete and on partial installs; a
// checkout left marked by an install that predates the manifest is cleaned by its markers.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { HomePaths } from '../home.js';
import { commandRunner } from './commands-runner.js';
import { readManifest, saveManifest } from './manifest.js';
import { Ncl, NclError } from './ncl.js';
import { nanoclawPaths } from './paths.js';
import { BEGIN, HELPER_FILE, removeRunnerPatch, RUNNER_FILE } from './runner-patch.js';
import { detectNanoclawService, showCommand, type HostFacts } from './services.js';
import { describeUndo, undoStep } from './undo.js';
import { writeAtomic } from './write-atomic.js';

export interface UninstallOptions {
  nanoclawDir: string;
  dryRun: boolean;
  manual: boolean;
  paths: HomePaths;
  host: HostFacts;
  log: (line: string) => void;
}

export class UninstallError extends Error {}

export async function uninstall(o: UninstallOptions): Promise<void> {
  const dir = path.resolve(o.nanoclawDir);
  const np = nanoclawPaths(o.paths);
  const m = readManifest(np.manifest);
  const service = detectNanoclawService(dir, o.host);
  const build = { argv: ['pnpm', 'run', 'build'] };
  if (!m) {
    if (!cleanLegacyMarks(dir, o))
      o.log(`nothing to do: no install recorded in ${np.manifest} and no marked files in ${dir}`);
    return;
  }
  if (m.nanoclaw_dir !== dir) throw new UninstallError(`the recorded install is for ${m.nanoclaw_dir}, not ${dir}`);
  const ncl = new Ncl(dir);
  const commands = commandRunner(o.log, false);
  for (let i = m.steps.length - 1; i >= 0; i--) {
    const s = m.steps[i]!;
    o.log(`${o.dryRun ? '[dry-run] would ' : ''}${describeUndo(s)}`);
    if (o.dryRun) continue;
    try {
      await undoStep(s, { paths: o.paths, ncl, commands, log: o.log });
    } catch (err) {
      const hint =
        err instanceof NclError && err.kind === 'unreachable'
          ? `NanoClaw's host must be running to unregister the MCP server: start it${service.restart[0] ? ` (${showCommand(service.restart[0])})` : ''}, then run uninstall again`
          : 'fix the cause, then run uninstall again (it resumes where it stopped)';
      throw new UninstallError(`${(err as Error).message}\nNext: ${hint}`);
    }
    m.steps.splice(i, 1);
    m.groups = m.groups.filter((g) => !(s.kind === 'mcp-registered' && g.folder === s.folder));
    saveManifest(np.manifest, m);
  }
  if (o.dryRun) {
    o.log(`[dry-run] would run: ${showCommand(build)} (in ${dir})`);
    for (const c of service.restart) o.log(`[dry-run] would run: ${showCommand(c)}`);
    return;
  }
  rmSync(np.manifest, { force: true });
  rmSync(np.backups, { recursive: true, force: true });
  o.log(`removed ${np.manifest}`);
  // The running host still has the patched dist/: rebuild and restart it, or say exactly how.
  const finish = commandRunner(o.log, o.manual);
  if (o.manual) o.log('Run these so the running NanoClaw drops the patch (--manual):');
  finish.run([build], dir);
  finish.run(service.restart);
  if (service.manager === 'none') {
    o.log(
      'NanoClaw runs without a service here: restart its host the way you started it, so it loads the rebuilt dist/.',
    );
  }
  o.log('uninstalled. The guardian home (findings, CA, salt) is kept; see REMOVE.md to delete it.');
}

/** An install from before the manifest may have left marked files without a record: remove the marks. */
function cleanLegacyMarks(dir: string, o: UninstallOptions): boolean {
  let cleaned = false;
  const runner = path.join(dir, RUNNER_FILE);
  if (existsSync(runner)) {
    const cur = readFileSync(runner, 'utf8');
    if (cur.includes(BEGIN)) {
      o.log(
        `${o.dryRun ? '[dry-run] would ' : ''}remove the marked blocks from ${runner} (left by an unrecorded install)`,
      );
      if (!o.dryRun) writeAtomic(runner, removeRunnerPatch(cur));
      cleaned = true;
    }
  }
  const helper = path.join(dir, HELPER_FILE);
  if (existsSync(helper) && readFileSync(helper, 'utf8').startsWith(BEGIN)) {
    o.log(`${o.dryRun ? '[dry-run] would ' : ''}remove ${helper} (left by an unrecorded install)`);
    if (!o.dryRun) rmSync(helper);
    cleaned = true;
  }
  return cleaned;
}
