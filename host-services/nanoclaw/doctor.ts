// `traffic-guardian doctor --nanoclaw DIR`: checks and explains every link between NanoClaw and the
// guardian, as a container would meet them, and says what to run when one does not hold.
import { existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { PROBE_HOST } from '../../lib/probe.js';
import { GroupRegistry } from '../group-registry.js';
import { groupSocketPath, type HomePaths } from '../home.js';
import { readPidFile } from '../pid-file.js';
import { containerUid } from './checkout.js';
import { nanoclawHostProcesses, pemFingerprints, probeThroughProxy, tcpReachable } from './doctor-checks.js';
import type { Wiring } from './helper-source.js';
import { readManifest } from './manifest.js';
import { Ncl } from './ncl.js';
import { IN_CONTAINER, MCP_SERVER_NAME, nanoclawPaths, shareDir, upstreamFile, wiringFile } from './paths.js';
import { HELPER_FILE } from './runner-patch.js';
import { detectNanoclawService, showCommand, type HostFacts } from './services.js';

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
  /** What to run or do when it does not hold. */
  fix?: string;
}

export interface DoctorOptions {
  nanoclawDir: string;
  /** Only this group (default: every wired group). */
  group?: string;
  paths: HomePaths;
  host: HostFacts;
}

export async function doctor(o: DoctorOptions): Promise<Check[]> {
  const dir = path.resolve(o.nanoclawDir);
  const np = nanoclawPaths(o.paths);
  const checks: Check[] = [];
  const add = (c: Check) => checks.push(c);
  const service = detectNanoclawService(dir, o.host);
  const restart = service.restart.map(showCommand).join(' && ') || 'restart NanoClaw the way you started it';

  const m = readManifest(np.manifest);
  if (!m || m.nanoclaw_dir !== dir) {
    add({
      name: 'install recorded',
      ok: false,
      detail: `no install into ${dir} in ${np.manifest}`,
      fix: `traffic-guardian install --nanoclaw ${dir} --group <folder>`,
    });
    return checks;
  }
  add({
    name: 'install recorded',
    ok: m.state === 'installed',
    detail:
      m.state === 'installed'
        ? `groups ${m.groups.map((g) => g.folder).join(', ') || '(none)'}`
        : 'an install did not finish',
    fix: m.state === 'installed' ? undefined : `traffic-guardian uninstall --nanoclaw ${dir}, then install again`,
  });

  // The guardian: configured, running, reachable where containers connect.
  type ListenerConfig = { proxy_host: string; proxy_port: number };
  let cfg: ListenerConfig | null = null;
  try {
    cfg = JSON.parse(readFileSync(o.paths.config, 'utf8')) as ListenerConfig;
  } catch (err) {
    add({
      name: 'guardian config',
      ok: false,
      detail: `${o.paths.config}: ${(err as Error).message}`,
      fix: `traffic-guardian install --nanoclaw ${dir}`,
    });
  }
  const pid = readPidFile(o.paths.pidFile);
  add({
    name: 'guardian running',
    ok: pid.state === 'running',
    detail:
      pid.state === 'running'
        ? `pid ${pid.record.pid}, listening on ${pid.record.listener.host}:${pid.record.listener.port}`
        : 'no running guardian',
    fix:
      'start its service (see `traffic-guardian install` output), or `traffic-guardian start --config ' +
      o.paths.config +
      '`',
  });
  if (cfg) {
    const why = await tcpReachable(cfg.proxy_host, cfg.proxy_port);
    add({
      name: 'guardian reachable where containers connect',
      ok: why === null,
      detail:
        why === null
          ? `${cfg.proxy_host}:${cfg.proxy_port} accepts connections`
          : `${cfg.proxy_host}:${cfg.proxy_port}: ${why}`,
      fix: 'start the guardian; on Linux its address is the docker0 bridge, which exists only while Docker runs',
    });
  }

  // NanoClaw: the patch built into dist/, and the host restarted since.
  const distHelper = path.join(dir, 'dist', HELPER_FILE.replace(/^src\//, '').replace(/\.ts$/, '.js'));
  const distRunner = path.join(dir, 'dist', 'container-runner.js');
  const built =
    existsSync(distHelper) &&
    existsSync(distRunner) &&
    readFileSync(distRunner, 'utf8').includes('trafficGuardianArgs(') &&
    readFileSync(distHelper, 'utf8').includes(JSON.stringify(np.wiring).slice(1, -1));
  add({
    name: "NanoClaw's dist/ carries the patch",
    ok: built,
    detail: built ? distHelper : `${distRunner} does not call trafficGuardianArgs (src/ was patched but not built)`,
    fix: `(cd ${dir} && pnpm run build) && ${restart}`,
  });
  const hosts = nanoclawHostProcesses(dir);
  const builtAt = built ? Math.floor(statSync(distHelper).mtimeMs / 1000) * 1000 : Infinity;
  const fresh = hosts.find((h) => h.started.getTime() >= builtAt);
  add({
    name: 'NanoClaw host restarted after the build',
    ok: fresh !== undefined,
    detail: fresh
      ? `pid ${fresh.pid} started ${fresh.started.toISOString()}`
      : hosts.length === 0
        ? 'no NanoClaw host process found for this checkout'
        : `pid ${hosts[0]!.pid} started ${hosts[0]!.started.toISOString()}, before dist/ was built`,
    fix: restart,
  });

  const ncl = new Ncl(dir);
  const registry = existsSync(o.paths.groupsFile) ? GroupRegistry.load(o.paths.groupsFile) : null;
  const cuid = containerUid(o.host.uid);
  for (const g of m.groups.filter((x) => !o.group || x.folder === o.group)) {
    await checkGroup(g, { np, o, dir, ncl, registry, cuid, cfg, add, restart });
  }
  if (o.group && !m.groups.some((g) => g.folder === o.group)) {
    add({
      name: `group ${o.group}`,
      ok: false,
      detail: 'not wired',
      fix: `traffic-guardian install --nanoclaw ${dir} --group ${o.group}`,
    });
  }
  return checks;
}

interface GroupCtx {
  np: ReturnType<typeof nanoclawPaths>;
  o: DoctorOptions;
  dir: string;
  ncl: Ncl;
  registry: GroupRegistry | null;
  cuid: number;
  cfg: { proxy_host: string; proxy_port: number } | null;
  add: (c: Check) => void;
  restart: string;
}

async function checkGroup(g: { folder: string; id: string }, c: GroupCtx): Promise<void> {
  const name = (what: string) => `group ${g.folder}: ${what}`;
  const respawn = `send the group a message, or \`ncl groups restart --id ${g.id}\` (containers pick the wiring up at spawn)`;
  try {
    const servers = await c.ncl.mcpServers(g.id);
    const s = servers[MCP_SERVER_NAME];
    c.add({
      name: name('MCP server registered'),
      ok: !!s && s.command === 'node' && s.args?.[0] === IN_CONTAINER.bundle,
      detail: s ? `${s.command} ${(s.args ?? []).join(' ')}` : `no ${MCP_SERVER_NAME} in the group's container config`,
      fix: `traffic-guardian uninstall --nanoclaw ${c.dir} && traffic-guardian install --nanoclaw ${c.dir} --group ${g.folder}`,
    });
  } catch (err) {
    c.add({
      name: name('MCP server registered'),
      ok: false,
      detail: (err as Error).message,
      fix: `start NanoClaw (${c.restart})`,
    });
  }

  const wf = wiringFile(c.np, g.folder);
  let wiring: Wiring | null = null;
  try {
    wiring = JSON.parse(readFileSync(wf, 'utf8')) as Wiring;
  } catch (err) {
    c.add({
      name: name('wiring file'),
      ok: false,
      detail: `${wf}: ${(err as Error).message}`,
      fix: `traffic-guardian install --nanoclaw ${c.dir} --group ${g.folder}`,
    });
  }
  let authorization: string | undefined;
  if (wiring) {
    const u = new URL(wiring.env.HTTP_PROXY!);
    authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    const portOk = !c.cfg || Number(u.port) === c.cfg.proxy_port;
    const authOk = c.registry?.authenticate(authorization).ok === true;
    c.add({
      name: name('wiring file'),
      ok: portOk && authOk,
      detail: !portOk
        ? `its proxy port ${u.port} is not the guardian's ${c.cfg!.proxy_port}`
        : !authOk
          ? `its credential is not in ${c.o.paths.groupsFile}`
          : `${wf} (proxy host.docker.internal:${u.port}, credential valid)`,
      fix: `traffic-guardian uninstall --nanoclaw ${c.dir} && traffic-guardian install --nanoclaw ${c.dir} --group ${g.folder}`,
    });
  }

  // The container's uid must be able to open its own socket (root hosts run containers as 1000).
  const sock = groupSocketPath(c.o.paths, g.folder);
  if (!existsSync(sock)) {
    c.add({
      name: name('status socket'),
      ok: false,
      detail: `${sock} does not exist`,
      fix: 'start (or restart) the guardian: it creates one socket per wired group',
    });
  } else {
    const dirSt = statSync(path.dirname(sock));
    const sockSt = lstatSync(sock);
    const opens = (st: { uid: number; mode: number }) =>
      st.uid === c.cuid || c.cuid === 0 || (st.mode & 0o007) === 0o007;
    const worldWritable = (sockSt.mode & 0o002) !== 0;
    const ok = opens(dirSt) && opens(sockSt) && !worldWritable;
    c.add({
      name: name('container uid can open its socket'),
      ok,
      detail: `containers run as uid ${c.cuid}; directory owned by ${dirSt.uid} mode ${(dirSt.mode & 0o777).toString(8)}, socket owned by ${sockSt.uid} mode ${(sockSt.mode & 0o777).toString(8)}`,
      fix: `restart the guardian (it gives each group's socket to the owner of its directory), then \`traffic-guardian install --nanoclaw ${c.dir}\``,
    });
  }

  // What the container trusts: written by the helper at the group's last spawn.
  const share = shareDir(c.np, g.folder);
  const bundle = path.join(share, 'ca-bundle.pem');
  const extra = path.join(share, 'extra-ca.pem');
  if (!existsSync(bundle) || !existsSync(extra)) {
    c.add({
      name: name('CA bundles'),
      ok: false,
      detail: `not written yet: the group has not spawned since install`,
      fix: respawn,
    });
  } else {
    const guardianCa = pemFingerprints(readFileSync(path.join(share, 'ca.crt'), 'utf8'));
    const up = readUpstream(upstreamFile(c.np, g.folder));
    const onecliCa = up?.ca_pem ? pemFingerprints(up.ca_pem) : new Set<string>();
    const inBundle = pemFingerprints(readFileSync(bundle, 'utf8'));
    const inExtra = pemFingerprints(readFileSync(extra, 'utf8'));
    const publicRoots = pemFingerprints(tls.rootCertificates.join('\n'));
    const has = (set: Set<string>, need: Set<string>) => [...need].every((f) => set.has(f));
    const roots = [...publicRoots].filter((f) => inBundle.has(f)).length;
    const missing = [
      !has(inBundle, guardianCa) || !has(inExtra, guardianCa) ? 'the guardian CA' : '',
      !has(inBundle, onecliCa) || !has(inExtra, onecliCa) ? "OneCLI's CA" : '',
      roots < 10 ? 'public roots' : '',
    ].filter(Boolean);
    c.add({
      name: name('CA bundles cover guardian, OneCLI and public roots'),
      ok: missing.length === 0,
      detail: missing.length
        ? `missing ${missing.join(', ')}`
        : `${inBundle.size} certificates (guardian CA, ${onecliCa.size ? "OneCLI's CA, " : 'no OneCLI CA in use, '}${roots} public roots)`,
      fix: respawn,
    });
  }

  // A request through the proxy with the group's credential, answered by the guardian itself.
  if (c.cfg) {
    const r = await probeThroughProxy({ host: c.cfg.proxy_host, port: c.cfg.proxy_port }, PROBE_HOST, authorization);
    let seenGroup: unknown;
    let upstream: unknown;
    if ('status' in r && r.status === 200) {
      try {
        ({ group: seenGroup, upstream } = JSON.parse(r.body) as { group?: unknown; upstream?: unknown });
      } catch {
        seenGroup = undefined;
      }
    }
    c.add({
      name: name('probe through the proxy seen by the guardian'),
      ok: seenGroup === g.folder,
      detail:
        'error' in r ? r.error : r.status !== 200 ? `HTTP ${r.status}` : `the guardian saw group ${String(seenGroup)}`,
      fix: 'start the guardian with the config install wrote (proxy_auth "groups"), then run doctor again',
    });
    // OneCLI picks secrets and approvals by the agent's own token: the group must reach its own gateway.
    const rec = readUpstream(upstreamFile(c.np, g.folder));
    if (rec && seenGroup === g.folder) {
      c.add({
        name: name('chained to its own OneCLI gateway'),
        ok: upstream === 'group',
        detail:
          upstream === 'group'
            ? `gateway ${redactUrl(rec.proxy_url)}, with this agent's own credential`
            : `a gateway is recorded (${redactUrl(rec.proxy_url)}) but the guardian sends this group's traffic ${String(upstream ?? 'elsewhere')}`,
        fix: `set "group_upstreams": true in ${c.o.paths.config} (install writes it) and restart the guardian`,
      });
    }
  }
}

function readUpstream(file: string): { proxy_url: string; ca_pem?: string } | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { proxy_url: string; ca_pem?: string };
  } catch {
    return null;
  }
}

/** A URL without its userinfo: the gateway credential is an agent's secret. */
export function redactUrl(u: string): string {
  try {
    const url = new URL(u);
    if (url.username || url.password) url.username = url.password = '';
    return `${url.protocol}//${url.host}`;
  } catch {
    return '(unparsable URL)';
  }
}

export function formatChecks(checks: Check[]): string {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    if (!c.ok && c.fix) lines.push(`     next: ${c.fix}`);
  }
  const failed = checks.filter((c) => !c.ok).length;
  lines.push(failed === 0 ? `all ${checks.length} checks hold` : `${failed} of ${checks.length} checks fail`);
  return lines.join('\n');
}
