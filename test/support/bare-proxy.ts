// The real GuardianProxy on its own, without the service around it, for the few tests that need an
// option the service does not expose (a short headers timeout). Findings are kept in memory.
import { rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { loadOrCreateCa, type CertificateAuthority } from '../../host-services/ca.js';
import { FindingSink } from '../../host-services/finding-sink.js';
import { homePaths } from '../../host-services/home.js';
import { ClientAllowlist } from '../../host-services/proxy/client-allowlist.js';
import { GuardianProxy } from '../../host-services/proxy/guardian-proxy.js';
import { Deduper } from '../../lib/dedup.js';
import type { Finding } from '../../lib/finding-schema.js';
import { rulesFor } from '../../lib/rules/index.js';
import { zeroCounters, type Counters } from '../../lib/status-schema.js';
import { tempHome } from './service.js';

export interface BareProxy {
  proxy: GuardianProxy;
  port: number;
  ca: CertificateAuthority;
  counters: Counters;
  findings: Finding[];
  logs: string[];
  /** The proxy's open client sockets. */
  openSockets: () => number;
  stop: () => Promise<void>;
}

export async function startBareProxy(
  opts: { headersTimeoutMs?: number; upstreamTrust?: string[]; maxScanBytes?: number } = {},
): Promise<BareProxy> {
  const home = tempHome('tg-bare-');
  const ca = loadOrCreateCa(homePaths(home), { create: true })!;
  const counters = zeroCounters();
  const findings: Finding[] = [];
  const logs: string[] = [];
  const sink = new FindingSink(new Deduper(0), { append: (f) => findings.push(f) }, counters);
  const proxy = new GuardianProxy({
    host: '127.0.0.1',
    port: 0,
    ca,
    allowlist: new ClientAllowlist([]),
    upstreamTrust: opts.upstreamTrust ?? [],
    counters,
    sink,
    rules: { outbound: rulesFor('outbound'), inbound: rulesFor('inbound') },
    salt: randomBytes(32),
    maxScanBytes: opts.maxScanBytes ?? 1024 * 1024,
    allowHosts: [],
    headersTimeoutMs: opts.headersTimeoutMs,
    log: (level, msg) => logs.push(`${level}: ${msg}`),
  });
  const addr = await proxy.start();
  return {
    proxy,
    port: addr.port,
    ca,
    counters,
    findings,
    logs,
    openSockets: () => proxy.openSockets,
    stop: async () => {
      await proxy.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
