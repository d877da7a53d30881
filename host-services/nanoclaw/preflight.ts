// Everything install needs, checked before the first change, with an error that names the cause and
// the next command. The result is the plan install carries out.
import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { HomePaths } from '../home.js';
import { checkNanoclaw } from './checkout.js';
import { guardianConfigFor, portFrom, readOwnConfig } from './guardian-config.js';
import { chooseListenAddress } from './listen-address.js';
import { readManifest, type Manifest } from './manifest.js';
import { Ncl, NclError } from './ncl.js';
import { MCP_SERVER_NAME, nanoclawPaths, SKILL_NAME, wiringFile } from './paths.js';
import { BEGIN, HELPER_FILE } from './runner-patch.js';
import {
  detectNanoclawService,
  guardianService,
  showCommand,
  type Command,
  type GuardianServicePlan,
  type HostFacts,
  type NanoclawService,
} from './services.js';
import { guardianCli } from './undo.js';

export interface InstallOptions {
  nanoclawDir: string;
  groups: string[];
  dryRun: boolean;
  /** Print the build, restart and service commands instead of running them. */
  manual: boolean;
  mitm?: boolean;
  port?: number;
  listenHost?: string;
  paths: HomePaths;
  /** The built MCP bundle to copy. */
  bundleFile: string;
  /** The NanoClaw skill folder (SKILL.md, VERIFY.md, REMOVE.md) to place in the fork. */
  skillDir: string;
  host: HostFacts;
  log: (line: string) => void;
}

/** The config install writes: the operator's keys plus the ones install sets. */
export type WrittenConfig = Record<string, unknown> & {
  proxy_host: string;
  proxy_port: number;
  https_inspection: boolean;
};

export interface Plan {
  dir: string;
  prior: Manifest | null;
  ncl: Ncl;
  newGroups: { folder: string; id: string }[];
  config: WrittenConfig;
  nanoclawService: NanoclawService;
  guardianService: GuardianServicePlan | null;
  /** NanoClaw's build (run, or printed with --manual). */
  build: Command;
}

export class PreflightError extends Error {}

export async function preflight(o: InstallOptions): Promise<Plan> {
  const dir = path.resolve(o.nanoclawDir);
  checkNanoclaw(dir);
  const np = nanoclawPaths(o.paths);
  const prior = readManifest(np.manifest);
  if (prior && prior.nanoclaw_dir !== dir) {
    throw new PreflightError(
      `already installed into ${prior.nanoclaw_dir}; run \`traffic-guardian uninstall --nanoclaw ${prior.nanoclaw_dir}\` first`,
    );
  }
  if (prior && prior.state !== 'installed') {
    throw new PreflightError(
      `an earlier install into ${dir} did not finish; undo it with \`traffic-guardian uninstall --nanoclaw ${dir}\`, then install again`,
    );
  }
  const known = new Set(prior?.groups.map((g) => g.folder) ?? []);
  const wanted = [...new Set(o.groups)].filter((g) => !known.has(g));
  if (!prior && wanted.length === 0) {
    throw new PreflightError('name at least one agent group to wire: --group FOLDER (a folder under groups/)');
  }
  checkNothingForeign(dir, prior);
  checkWritable(dir, o.paths);

  const ncl = new Ncl(dir);
  const newGroups: Plan['newGroups'] = [];
  for (const folder of wanted) newGroups.push({ folder, id: await checkGroup(ncl, folder, o.dryRun) });

  const own = readOwnConfig(o.paths.config);
  const port = portFrom(own, o.port);
  if (prior && prior.groups.length > 0) {
    const wired = JSON.parse(readFileSync(wiringFile(np, prior.groups[0]!.folder), 'utf8')) as {
      env: { HTTP_PROXY: string };
    };
    const wiredPort = Number(new URL(wired.env.HTTP_PROXY).port);
    if (wiredPort !== port) {
      throw new PreflightError(
        `the wired groups use port ${wiredPort}, not ${port}: uninstall, then install again with --port ${port}`,
      );
    }
  }
  const config = guardianConfigFor(own, {
    listen: chooseListenAddress(o.listenHost, o.host.platform),
    port,
    mitm: o.mitm,
  }) as unknown as WrittenConfig;

  const nanoclawService = detectNanoclawService(dir, o.host);
  const guardian = guardianService(nanoclawService.manager, dir, o.host, {
    cli: guardianCli(),
    config: o.paths.config,
    home: o.paths.root,
    log: np.serviceLog,
    startScript: np.startScript,
  });
  const build: Command = { argv: ['pnpm', 'run', 'build'] };
  if (!o.manual && !onPath('pnpm')) {
    throw new PreflightError(
      `pnpm is not on PATH: NanoClaw builds with pnpm (${showCommand(build)}); install it, or pass --manual to get the commands printed`,
    );
  }
  for (const [what, p] of [
    ['MCP bundle', o.bundleFile],
    ['skill folder', o.skillDir],
  ] as const) {
    if (!existsSync(p))
      throw new PreflightError(`the ${what} ${p} is missing: run \`npm run build\` in traffic-guardian`);
  }
  return {
    dir,
    prior,
    ncl,
    newGroups,
    config,
    nanoclawService,
    guardianService: guardian,
    build,
  };
}

async function checkGroup(ncl: Ncl, folder: string, dryRun: boolean): Promise<string> {
  // NanoClaw is asked first: a group it knows may have no folder yet (the folder appears at its first spawn).
  try {
    const id = await ncl.groupId(folder);
    const servers = await ncl.mcpServers(id);
    if (servers[MCP_SERVER_NAME] && !dryRun) {
      throw new PreflightError(
        `group ${folder} already has an MCP server named ${MCP_SERVER_NAME} that install did not record; remove it ` +
          `(ncl groups config remove-mcp-server --id ${id} --name ${MCP_SERVER_NAME}), then run install again`,
      );
    }
    return id;
  } catch (err) {
    if (!(err instanceof NclError)) throw err;
    if (err.kind === 'unreachable') {
      throw new PreflightError(
        `${err.message}. Install registers the MCP server through ncl, so NanoClaw must be running: start it ` +
          '(systemctl --user start nanoclaw-v2-<slug>, launchctl kickstart, or `pnpm run dev`), then run install again',
      );
    }
    if (err.kind === 'no-config') {
      throw new PreflightError(
        `group ${folder} has never spawned, so it has no container config yet (NanoClaw creates it when the group's ` +
          'container first starts). Send the group a message once, then run install again',
      );
    }
    if (err.kind === 'not-found') {
      throw new PreflightError(
        `--group ${folder}: ${err.message}; \`ncl groups list\` shows the groups NanoClaw knows`,
      );
    }
    throw new PreflightError(`group ${folder}: ${err.message}`);
  }
}

/** Files install would write must be absent, or ours (recorded, or carrying the install marker). */
function checkNothingForeign(dir: string, prior: Manifest | null): void {
  const recorded = new Set(prior?.steps.flatMap((s) => ('path' in s ? [s.path] : [])) ?? []);
  const helper = path.join(dir, HELPER_FILE);
  if (existsSync(helper) && !recorded.has(helper) && !readFileSync(helper, 'utf8').startsWith(BEGIN)) {
    throw new PreflightError(`${helper} exists and was not written by install: move it away, then run install again`);
  }
  const skill = path.join(dir, '.claude', 'skills', SKILL_NAME);
  if (existsSync(skill) && !recorded.has(skill)) {
    for (const f of readdirSync(skill)) {
      const p = path.join(skill, f);
      if (!recorded.has(p)) {
        throw new PreflightError(
          `${skill} exists and was not written by install: move it away, then run install again`,
        );
      }
    }
  }
}

function checkWritable(dir: string, paths: HomePaths): void {
  for (const p of [path.join(dir, 'src'), path.join(dir, 'src', 'container-runner.ts')]) {
    try {
      accessSync(p, constants.W_OK);
    } catch {
      throw new PreflightError(`${p} is not writable by this user: run install as the user that owns the checkout`);
    }
  }
  let probe = paths.root;
  while (!existsSync(probe)) probe = path.dirname(probe);
  try {
    accessSync(probe, constants.W_OK);
  } catch {
    throw new PreflightError(`${probe} is not writable: set NANOCLAW_TRAFFIC_GUARDIAN_HOME to a directory you own`);
  }
}

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && existsSync(path.join(d, bin)));
}
