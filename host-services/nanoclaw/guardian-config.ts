// The guardian config install writes for NanoClaw: the operator's own keys are kept; the listener,
// client allowlist, per-group credentials and per-group chaining to OneCLI are set, so nobody
// hand-writes a config from the docs.
import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '../../lib/config-schema.js';
import { validateConfigValue } from '../config-file.js';
import type { ListenAddress } from './listen-address.js';

export class ConfigFileError extends Error {}

export const DEFAULT_PORT = 8888;

/** The operator's config as written (not with defaults filled in), validated. */
export function readOwnConfig(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigFileError(`${file} is not valid JSON (${(err as Error).message}): fix it, then run install again`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigFileError(`${file} must hold a JSON object`);
  }
  const r = validateConfigValue(raw);
  if (!r.ok) {
    throw new ConfigFileError(
      `${file} is not a valid config: ${r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}; fix it, then run install again`,
    );
  }
  return raw as Record<string, unknown>;
}

export interface ConfigChoices {
  listen: ListenAddress;
  port: number;
  /** undefined keeps the operator's choice (default off). */
  mitm?: boolean;
}

export function guardianConfigFor(own: Record<string, unknown>, c: ConfigChoices): Config {
  const allowed = new Set([...((own.allowed_clients as string[] | undefined) ?? []), ...c.listen.allowedClients]);
  const next = {
    ...own,
    proxy_host: c.listen.host,
    proxy_port: c.port,
    allowed_clients: [...allowed],
    proxy_auth: 'groups',
    group_upstreams: true,
    https_inspection: c.mitm ?? own.https_inspection ?? false,
  };
  const r = validateConfigValue(next);
  if (!r.ok) {
    throw new ConfigFileError(
      `the config install would write is invalid: ${r.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
    );
  }
  // Written as the operator's keys plus ours, not with every default spelled out.
  return next as unknown as Config;
}

export function portFrom(own: Record<string, unknown>, flag: number | undefined): number {
  if (flag !== undefined) return flag;
  const p = own.proxy_port;
  return typeof p === 'number' && p > 0 ? p : DEFAULT_PORT;
}
