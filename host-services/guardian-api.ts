// What the running service offers its IPC server: status, findings and config validation. The IPC
// server (and through it the MCP tools) sees only this, so no request body or key can reach them.
import type { ConfigError } from '../lib/config-schema.js';
import type { Finding } from '../lib/finding-schema.js';
import type { FindingsQuery } from '../lib/findings-query.js';
import type { Status } from '../lib/status-schema.js';

export interface GuardianApi {
  /** Status; `group` scopes counters of findings and recent findings to one agent group. */
  status(group: string | null): Status;
  /** Findings newest first. A group-scoped caller always has `query.group` forced to its group. */
  listFindings(query: FindingsQuery): Promise<Finding[]>;
  /** Validates a proposed config value without applying it. */
  validateConfig(value: unknown): { ok: true } | { ok: false; errors: ConfigError[] };
}
