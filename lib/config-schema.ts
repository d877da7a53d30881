// The guardian's configuration: one JSON object, validated strictly. Unknown keys and
// out-of-range values are errors that name the key path, so a typo never silently weakens scanning.
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { ipFamily } from './ip-address.js';

export const MIN_SCAN_BYTES = 4 * 1024;
export const MAX_SCAN_BYTES = 64 * 1024 * 1024;
export const MAX_SCAN_WORKERS = 16;

/** One worker per spare core, at least one, at most four: the proxy thread keeps a core of its own. */
export function defaultScanWorkers(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

const cidr = z.string().refine(
  (s) => {
    const [addr, bits, ...rest] = s.split('/');
    if (rest.length > 0 || !addr) return false;
    const family = ipFamily(addr);
    if (family === 0) return false;
    if (bits === undefined) return true;
    if (!/^\d{1,3}$/.test(bits)) return false;
    return Number(bits) <= (family === 4 ? 32 : 128);
  },
  { message: 'must be an IP address or CIDR block such as 172.17.0.0/16' },
);

const hostPattern = z
  .string()
  .min(1)
  .max(253)
  .regex(/^(\*\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/i, 'must be a host name, optionally starting with "*."');

const ruleId = z.string().regex(/^[a-z0-9_]{1,64}$/, 'must be a rule id such as ai_api_key');

export const FindingsLogConfigSchema = z
  .object({
    /** Rotate findings.jsonl when it would grow past this many bytes. */
    max_file_bytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(1024 * 1024 * 1024)
      .default(10 * 1024 * 1024),
    /** Rotated files kept (findings.jsonl.1 ... .N); older ones are deleted. */
    max_files: z.number().int().min(1).max(100).default(5),
    /** Rotated files older than this are deleted at start and at each rotation (0 = keep by count only). */
    retention_days: z.number().int().min(0).max(3650).default(30),
  })
  .strict();

export const ConfigSchema = z
  .object({
    /** Listener address. Non-loopback addresses require `allowed_clients`. */
    proxy_host: z.string().min(1).max(255).default('127.0.0.1'),
    /** Listener port; 0 asks the system for a free port. */
    proxy_port: z.number().int().min(0).max(65535).default(8888),
    /** Intercept CONNECT with the guardian's CA and scan HTTPS. Off: CONNECT is a blind tunnel. */
    https_inspection: z.boolean().default(false),
    /** Bytes scanned per message (request or response body), after content decoding. */
    max_scan_bytes: z
      .number()
      .int()
      .min(MIN_SCAN_BYTES)
      .max(MAX_SCAN_BYTES)
      .default(1024 * 1024),
    /**
     * Worker threads that scan bodies beside forwarding (the proxy thread only copies the bytes to them);
     * 0 scans on the proxy thread, as before. Default: one per spare core, 1 to 4.
     */
    scan_workers: z.number().int().min(0).max(MAX_SCAN_WORKERS).default(defaultScanWorkers),
    /**
     * Bytes copied for the scan workers and not yet scanned, across all messages. When it is full, bytes
     * go on unscanned (forwarding never waits), are counted and recorded (`scan_truncated`).
     */
    scan_backlog_bytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .max(1024 * 1024 * 1024)
      .default(32 * 1024 * 1024),
    /** Identical findings (pattern, dest, direction, fingerprint) within this window are counted, not logged. */
    dedup_window_secs: z.number().int().min(0).max(86_400).default(300),
    findings_log: FindingsLogConfigSchema.default(() => FindingsLogConfigSchema.parse({})),
    /** Rule ids that never fire. */
    disabled_rules: z.array(ruleId).max(200).default([]),
    /** Destination hosts whose traffic is forwarded without scanning (`*.example.com` allowed). */
    allow_hosts: z.array(hostPattern).max(1000).default([]),
    /** Client addresses (IP or CIDR) allowed to connect; loopback is always allowed. */
    allowed_clients: z.array(cidr).max(256).default([]),
    /** Forward through this HTTP proxy (e.g. NanoClaw's OneCLI gateway): `http://host:port`. */
    upstream_proxy: z
      .url({ protocol: /^http$/, error: 'must be an http:// proxy URL (https:// proxies are not supported)' })
      .optional(),
    /**
     * Chain each group's traffic to that group's own upstream proxy, as recorded by the NanoClaw helper at
     * container spawn in `<home>/nanoclaw/upstreams/<group>.json` (the OneCLI gateway URL carrying that
     * agent's token, and OneCLI's CA). A group with no record uses `upstream_proxy`, if set. Needs
     * `proxy_auth: "groups"`, since the group comes from the proxy credential.
     */
    group_upstreams: z.boolean().default(false),
    /** Extra CA certificate (PEM file) trusted for upstream TLS and the upstream proxy. */
    upstream_ca_file: z.string().min(1).max(4096).optional(),
    /**
     * `groups`: every client must send per-group proxy credentials (issued by `traffic-guardian install`,
     * stored hashed in `<home>/groups.json`); findings carry the group and each group gets its own socket.
     */
    proxy_auth: z.enum(['off', 'groups']).default('off'),
    /** IPC socket path; default `<home>/run/guardian.sock`. */
    ipc_socket: z.string().min(1).max(100).optional(),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;

export interface ConfigError {
  /** Dotted key path, e.g. `findings_log.max_files` or `allowed_clients[2]`. */
  path: string;
  message: string;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: ConfigError[] };

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out || '(root)';
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

/**
 * Validates a parsed JSON value as a config. `knownRuleIds`, when given, makes unknown rule ids in
 * `disabled_rules` an error too (a typo there would otherwise leave a rule on that the operator meant off).
 */
function unknownRuleErrors(ids: unknown, known: ReadonlySet<string> | undefined): ConfigError[] {
  if (!known || !Array.isArray(ids)) return [];
  return ids.flatMap((id, i): ConfigError[] =>
    typeof id === 'string' && /^[a-z0-9_]{1,64}$/.test(id) && !known.has(id)
      ? [{ path: `disabled_rules[${i}]`, message: `unknown rule id "${id}"` }]
      : [],
  );
}

export function parseConfig(input: unknown, knownRuleIds?: ReadonlySet<string>): ConfigResult {
  const parsed = ConfigSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const errors = parsed.error.issues.flatMap((issue): ConfigError[] => {
      // zod reports unknown keys on the parent object; name each key so the operator sees the typo.
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((k) => ({ path: formatPath([...issue.path, k]), message: 'unknown key' }));
      }
      return [{ path: formatPath(issue.path), message: issue.message }];
    });
    // Report unknown rule ids too, so one run names every problem.
    const raw =
      input !== null && typeof input === 'object' ? (input as Record<string, unknown>).disabled_rules : undefined;
    errors.push(...unknownRuleErrors(raw, knownRuleIds));
    return { ok: false, errors };
  }
  const config = parsed.data;
  const errors: ConfigError[] = unknownRuleErrors(config.disabled_rules, knownRuleIds);
  if (config.group_upstreams && config.proxy_auth !== 'groups') {
    errors.push({
      path: 'group_upstreams',
      message: 'needs proxy_auth "groups": the group comes from its proxy credential',
    });
  }
  if (!isLoopbackHost(config.proxy_host) && config.allowed_clients.length === 0) {
    errors.push({
      path: 'allowed_clients',
      message: `required when proxy_host (${config.proxy_host}) is not a loopback address: list the client CIDRs allowed to connect`,
    });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, config };
}

export function defaultConfig(): Config {
  return ConfigSchema.parse({});
}
