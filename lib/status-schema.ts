// The service status shared by the operator CLI, the IPC protocol and the MCP tools. Built only
// from counters and redacted findings: nothing here can carry a body or key material.
import { z } from 'zod';
import { FindingSchema } from './finding-schema.js';

export const CountersSchema = z
  .object({
    /** HTTP requests seen (plain and inspected HTTPS). */
    requests: z.number().int().nonnegative(),
    /** CONNECT requests (inspected or tunnelled). */
    connects: z.number().int().nonnegative(),
    /** CONNECTs passed through as blind tunnels. */
    tunnels: z.number().int().nonnegative(),
    /** Decoded bytes the rules saw. */
    bytes_scanned: z.number().int().nonnegative(),
    findings: z.object({ EXFIL: z.number().int().nonnegative(), INJECTION: z.number().int().nonnegative() }).strict(),
    suppressed_duplicates: z.number().int().nonnegative(),
    /** Messages whose scan stopped at max_scan_bytes. */
    truncated_scans: z.number().int().nonnegative(),
    /** Findings that could not be written to the log. */
    dropped_writes: z.number().int().nonnegative(),
    decode_errors: z.number().int().nonnegative(),
    upstream_errors: z.number().int().nonnegative(),
    /** Connections refused because the client address is not allowed. */
    refused_clients: z.number().int().nonnegative(),
    /** Requests refused for missing or wrong proxy credentials. */
    auth_failures: z.number().int().nonnegative(),
    /** Bytes forwarded unscanned because the scan backlog (`scan_backlog_bytes`) was full. */
    scan_skipped_bytes: z.number().int().nonnegative(),
    /** Messages that lost bytes so (each leaves one `scan_truncated` record). */
    scan_skipped_messages: z.number().int().nonnegative(),
    /** The highest scan backlog seen (bytes copied for the scan workers and not yet scanned). */
    scan_backlog_peak_bytes: z.number().int().nonnegative(),
  })
  .strict();
export type Counters = z.infer<typeof CountersSchema>;

export function zeroCounters(): Counters {
  return {
    requests: 0,
    connects: 0,
    tunnels: 0,
    bytes_scanned: 0,
    findings: { EXFIL: 0, INJECTION: 0 },
    suppressed_duplicates: 0,
    truncated_scans: 0,
    dropped_writes: 0,
    decode_errors: 0,
    upstream_errors: 0,
    refused_clients: 0,
    auth_failures: 0,
    scan_skipped_bytes: 0,
    scan_skipped_messages: 0,
    scan_backlog_peak_bytes: 0,
  };
}

export const StatusSchema = z
  .object({
    state: z.enum(['running', 'degraded']),
    /** Why the service is degraded (e.g. findings cannot be written). Empty when running normally. */
    degraded_reasons: z.array(z.string().max(300)).max(20),
    version: z.string().max(40),
    pid: z.number().int().positive(),
    started_at: z.iso.datetime(),
    uptime_secs: z.number().nonnegative(),
    listener: z.object({ host: z.string().max(255), port: z.number().int().min(0).max(65535) }).strict(),
    https_inspection: z.boolean(),
    /** Worker threads scanning bodies beside forwarding (0: on the proxy thread). */
    scan_workers: z.number().int().min(0).max(16),
    /** SHA-256 of the CA certificate (colon-separated hex), null when inspection never ran. */
    ca_fingerprint: z.string().max(120).nullable(),
    upstream_proxy: z.boolean(),
    /** The agent group this answer is scoped to, when asked over a group socket. */
    group: z.string().max(128).nullable(),
    counters: CountersSchema,
    /** CONNECT destinations seen (blind tunnels are recorded too), most recent first. */
    connect_destinations: z
      .array(
        z
          .object({
            dest: z.string().max(300),
            count: z.number().int().positive(),
            inspected: z.boolean(),
            last_seen: z.iso.datetime(),
            group: z.string().max(128).nullable(),
          })
          .strict(),
      )
      .max(50)
      .optional(),
    recent_findings: z.array(FindingSchema).max(50),
  })
  .strict();
export type Status = z.infer<typeof StatusSchema>;
