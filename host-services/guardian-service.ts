// The running guardian: owns the proxy, CA, findings store, counters and IPC sockets, and answers
// status and findings questions. `start` brings it up in order and `stop` takes it down flushing
// every finding; a failure half-way through start undoes what was already started.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Config } from '../lib/config-schema.js';
import { Deduper } from '../lib/dedup.js';
import { SCAN_TRUNCATED, type Finding } from '../lib/finding-schema.js';
import type { FindingsQuery } from '../lib/findings-query.js';
import { rulesFor } from '../lib/rules/index.js';
import { zeroCounters, type Counters, type Status } from '../lib/status-schema.js';
import { loadOrCreateCa, type CertificateAuthority } from './ca.js';
import { validateConfigValue } from './config-file.js';
import { FindingSink } from './finding-sink.js';
import { FindingsStore } from './findings-store.js';
import type { GuardianApi } from './guardian-api.js';
import { ensurePrivateDir, groupSocketPath, type HomePaths } from './home.js';
import { GroupRegistry } from './group-registry.js';
import { parseUpstreamProxy } from './proxy/upstream-proxy.js';
import { GroupUpstreams } from './group-upstreams.js';
import { nanoclawPaths } from './nanoclaw/paths.js';
import { startIpcServer } from './ipc-server.js';
import type { Logger } from './logger.js';
import { readPidFile, removePidFile, writePidFile } from './pid-file.js';
import { ClientAllowlist } from './proxy/client-allowlist.js';
import { GuardianProxy, type AuthResult } from './proxy/guardian-proxy.js';
import { loadOrCreateSalt } from './salt.js';
import { upstreamTrust } from './upstream-trust.js';

export function packageVersion(): string {
  try {
    const url = new URL('../../package.json', import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

export interface ServiceOptions {
  config: Config;
  paths: HomePaths;
  log: Logger;
  /** Proxy credential check (per-group identity); absent = no proxy auth. */
  authenticate?: (header: string | undefined) => AuthResult;
  /** Extra group-scoped IPC sockets: group name -> socket path. */
  groupSockets?: ReadonlyMap<string, string>;
  /** Write and honour the pid file (off for in-process tests that run several services). */
  pidFile?: boolean;
}

interface ConnectDest {
  dest: string;
  count: number;
  inspected: boolean;
  last_seen: string;
  group: string | null;
}

const MAX_DESTS = 200;
/** Agent groups whose finding counts are kept (groups come from groups.json, so this is never reached in practice). */
const MAX_GROUPS = 1000;
const RECENT_FINDINGS = 10;

interface GroupFindings {
  findings: Counters['findings'];
  /** Newest first, at most RECENT_FINDINGS. */
  recent: Finding[];
}

/** Refuses a second instance; removes the pid file of one that is gone (or whose pid now is another process). */
function claimPidFile(paths: HomePaths, log: Logger): void {
  const pid = readPidFile(paths.pidFile);
  if (pid.state === 'running') {
    throw new Error(
      `already running (pid ${pid.record.pid}, listening on ${pid.record.listener.host}:${pid.record.listener.port}); ` +
        'use `traffic-guardian stop` first',
    );
  }
  if (pid.state === 'stale') {
    const why = pid.reused ? 'now belongs to another process' : 'is gone';
    log('warn', `removing stale pid file ${paths.pidFile}${pid.pid ? ` (pid ${pid.pid} ${why})` : ''}`);
    removePidFile(paths.pidFile, pid.pid ?? -1);
    removePidFile(paths.pidFile);
  }
}

/** Per-group identity: credentials from groups.json, one scoped socket per group. */
function groupIdentity(opts: ServiceOptions): {
  authenticate: ServiceOptions['authenticate'];
  groupSockets: Map<string, string>;
} {
  const { config, paths, log } = opts;
  const groupSockets = new Map(opts.groupSockets ?? []);
  if (config.proxy_auth !== 'groups' || opts.authenticate) return { authenticate: opts.authenticate, groupSockets };
  const registry = GroupRegistry.load(paths.groupsFile);
  if (registry.groups().length === 0) {
    log('warn', `proxy_auth is "groups" but ${paths.groupsFile} lists no group: every client will get 407`);
  }
  for (const g of registry.groups()) if (!groupSockets.has(g)) groupSockets.set(g, groupSocketPath(paths, g));
  return { authenticate: (h) => registry.authenticate(h), groupSockets };
}

export class GuardianService implements GuardianApi {
  readonly startedAt = new Date();
  readonly version = packageVersion();
  private readonly dests = new Map<string, ConnectDest>();
  /** Per-group finding counts and newest findings, so a group's status is not limited to the shared recent ring. */
  private readonly groupFindings = new Map<string, GroupFindings>();
  private closers: (() => Promise<void>)[] = [];
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly opts: ServiceOptions,
    readonly store: FindingsStore,
    readonly ca: CertificateAuthority | null,
    readonly proxy: GuardianProxy,
    readonly socketPath: string,
    readonly counters: Counters,
  ) {}

  static async start(opts: ServiceOptions): Promise<GuardianService> {
    const { config, paths, log } = opts;
    const usePid = opts.pidFile ?? true;
    ensurePrivateDir(paths.root);
    ensurePrivateDir(paths.runDir);
    if (usePid) claimPidFile(paths, log);
    const salt = loadOrCreateSalt(paths.salt);
    const ca = config.https_inspection ? loadOrCreateCa(paths, { create: true }) : null;
    const trust = upstreamTrust({
      extraCaFile: process.env.NODE_EXTRA_CA_CERTS,
      upstreamCaFile: config.upstream_ca_file,
    });
    const store = new FindingsStore({
      file: paths.findings,
      maxFileBytes: config.findings_log.max_file_bytes,
      maxFiles: config.findings_log.max_files,
      retentionDays: config.findings_log.retention_days,
    });
    const { authenticate, groupSockets } = groupIdentity(opts);
    const counters = zeroCounters();
    // The proxy and the sink report to the service, which exists only once the proxy does.
    const self: { svc?: GuardianService } = {};
    const sink = new FindingSink(new Deduper(config.dedup_window_secs * 1000), store, counters, (f) => {
      self.svc?.recordGroupFinding(f);
      log(
        'warn',
        `finding ${f.severity} ${f.threat_type} ${f.pattern} ${f.direction} ${f.dest}${f.group ? ` group=${f.group}` : ''}`,
      );
    });
    const proxy = new GuardianProxy({
      host: config.proxy_host,
      port: config.proxy_port,
      ca,
      allowlist: new ClientAllowlist(config.allowed_clients),
      upstreamTrust: trust,
      counters,
      sink,
      rules: {
        outbound: rulesFor('outbound', config.disabled_rules),
        inbound: rulesFor('inbound', config.disabled_rules),
      },
      salt,
      maxScanBytes: config.max_scan_bytes,
      scanWorkers: config.scan_workers,
      scanBacklogBytes: config.scan_backlog_bytes,
      disabledRules: config.disabled_rules,
      allowHosts: config.allow_hosts,
      authenticate,
      upstreamProxy: config.upstream_proxy ? parseUpstreamProxy(config.upstream_proxy) : undefined,
      upstreamFor: config.group_upstreams ? groupUpstreamsFor(paths, log) : undefined,
      onConnectTarget: (dest, client, group, inspected) => self.svc?.recordConnect(dest, client, group, inspected),
      log,
      version: packageVersion(),
    });
    const socketPath = config.ipc_socket ?? paths.socket;
    // One counters object is shared by the proxy, the sink and status answers.
    const svc = new GuardianService(opts, store, ca, proxy, socketPath, counters);
    self.svc = svc;
    try {
      // Registered first: stop() also ends the scan workers if the listener never came up.
      svc.closers.push(() => proxy.stop());
      await proxy.start();
      // The operator's socket (group null: everything), then one scoped socket per group.
      for (const [group, sock] of [[null, socketPath] as const, ...groupSockets]) {
        const ipc = await startIpcServer({
          socketPath: sock,
          api: svc,
          group,
          version: svc.version,
          log: (m) => log('warn', m),
        });
        svc.closers.push(() => ipc.close());
      }
      if (usePid) {
        writePidFile(paths.pidFile, {
          pid: process.pid,
          started_at: svc.startedAt.toISOString(),
          listener: proxy.address!,
          socket: socketPath,
          https_inspection: config.https_inspection,
        });
        svc.closers.push(async () => removePidFile(paths.pidFile));
      }
    } catch (err) {
      await svc.stop();
      throw err;
    }
    return svc;
  }

  private recordConnect(dest: string, client: string, group: string | undefined, inspected: boolean): void {
    const key = `${dest}\u0000${group ?? ''}`;
    const now = new Date().toISOString();
    const cur = this.dests.get(key);
    if (cur) {
      this.dests.delete(key);
      cur.count++;
      cur.last_seen = now;
      cur.inspected = inspected;
      this.dests.set(key, cur);
      return;
    }
    this.opts.log(
      'info',
      `CONNECT ${client} -> ${dest} (${inspected ? 'inspected' : 'blind tunnel'})${group ? ` group=${group}` : ''}`,
    );
    this.dests.set(key, { dest, count: 1, inspected, last_seen: now, group: group ?? null });
    if (this.dests.size > MAX_DESTS) this.dests.delete(this.dests.keys().next().value!);
  }

  private recordGroupFinding(f: Finding): void {
    if (f.group === undefined) return;
    let g = this.groupFindings.get(f.group);
    if (!g) {
      g = { findings: { EXFIL: 0, INJECTION: 0 }, recent: [] };
      this.groupFindings.set(f.group, g);
      if (this.groupFindings.size > MAX_GROUPS) this.groupFindings.delete(this.groupFindings.keys().next().value!);
    }
    // A truncation record is shown with the group's findings but is no detection: not counted as one.
    if (f.pattern !== SCAN_TRUNCATED) g.findings[f.threat_type]++;
    g.recent.unshift(f);
    if (g.recent.length > RECENT_FINDINGS) g.recent.pop();
  }

  get address(): { host: string; port: number } {
    return this.proxy.address!;
  }

  status(group: string | null): Status {
    this.counters.dropped_writes = this.store.dropped;
    const reasons: string[] = [];
    if (this.store.degraded) reasons.push(`findings log not writable: ${this.store.lastError ?? 'unknown error'}`);
    // A group's findings are counted and kept apart: filtering the shared ring would lose them (and
    // undercount them) as soon as other groups or more than a handful of findings came along.
    const own = group === null ? undefined : this.groupFindings.get(group);
    const recent = group === null ? this.store.recent(RECENT_FINDINGS) : [...(own?.recent ?? [])];
    const dests = [...this.dests.values()]
      .filter((d) => group === null || d.group === group)
      .reverse()
      .slice(0, 50);
    return {
      state: reasons.length > 0 ? 'degraded' : 'running',
      degraded_reasons: reasons,
      version: this.version,
      pid: process.pid,
      started_at: this.startedAt.toISOString(),
      uptime_secs: Math.round((Date.now() - this.startedAt.getTime()) / 1000),
      listener: this.address,
      https_inspection: this.ca !== null,
      scan_workers: this.opts.config.scan_workers,
      ca_fingerprint: this.ca?.fingerprint256 ?? null,
      upstream_proxy: this.opts.config.upstream_proxy !== undefined,
      group,
      counters: group === null ? structuredClone(this.counters) : this.groupCounters(own),
      connect_destinations: dests,
      recent_findings: recent,
    };
  }

  /** A group sees its own finding counts only; traffic counters of other groups are not its business. */
  private groupCounters(own: GroupFindings | undefined): Counters {
    const c = zeroCounters();
    if (own) c.findings = { ...own.findings };
    return c;
  }

  listFindings(query: FindingsQuery): Promise<Finding[]> {
    return this.store.query(query);
  }

  validateConfig(value: unknown) {
    const r = validateConfigValue(value);
    return r.ok ? { ok: true as const } : { ok: false as const, errors: r.errors };
  }

  /** Stops everything in reverse order and flushes findings. Safe to call twice. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const close of this.closers.reverse()) {
        try {
          await close();
        } catch (err) {
          this.opts.log('warn', `stop: ${(err as Error).message}`);
        }
      }
      // The proxy's stop waited for the scans of the messages it cut off: their findings are in the queue.
      await this.store.close();
    })();
    return this.stopping;
  }

  describeStartup(): string {
    const a = this.address;
    const url = `http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
    const lines = [
      `traffic-guardian ${this.version} listening on ${url} (host ${hostname()}, pid ${process.pid})`,
      `  HTTPS inspection: ${this.ca ? `on, CA ${this.ca.certPath}` : 'off (CONNECT is a blind tunnel; destinations are recorded)'}`,
    ];
    if (this.ca) lines.push(`  CA SHA-256 fingerprint: ${this.ca.fingerprint256}`);
    lines.push(
      `  findings: ${this.opts.paths.findings}`,
      `  status socket: ${this.socketPath}`,
      '  Point one process at it (nothing global is changed):',
      `    HTTP_PROXY=${url} HTTPS_PROXY=${url}${this.ca ? ` NODE_EXTRA_CA_CERTS=${this.ca.certPath}` : ''} <command>`,
      '  Detect-and-log only: traffic is never blocked. Ctrl-C stops it.',
    );
    return lines.join('\n');
  }
}

/** Each group's own upstream, as the NanoClaw helper recorded it at spawn (config `group_upstreams`). */
function groupUpstreamsFor(paths: HomePaths, log: ServiceOptions['log']) {
  const records = new GroupUpstreams(nanoclawPaths(paths).upstreams, (m) => log('warn', m));
  return (group: string | undefined) => records.forGroup(group);
}
