// Loads the config file: JSON, validated by the lib schema, with errors that name file and key.
import { lstatSync, readFileSync } from 'node:fs';
import { parseConfig, defaultConfig, type Config, type ConfigError } from '../lib/config-schema.js';
import { RULE_IDS } from '../lib/rules/index.js';
import { readFileNoFollow } from './home.js';

export type LoadedConfig =
  { ok: true; config: Config; source: string } | { ok: false; errors: ConfigError[]; source: string };

const KNOWN_RULES = new Set(RULE_IDS);

export function validateConfigValue(
  value: unknown,
): { ok: true; config: Config } | { ok: false; errors: ConfigError[] } {
  return parseConfig(value, KNOWN_RULES);
}

/**
 * JSON.parse's message quotes the text around the error (`"{"upstream_proxy": "http://u:p@..." is not
 * valid JSON`), which may hold a credential: keep the reason and the position only.
 */
function jsonErrorWithoutText(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  // Everything from the first quote on is the quoted input; a quoted token character goes too.
  const reason = msg
    .split('"')[0]!
    .replace(/'[^']*'/g, 'character')
    .replace(/[,\s]+$/, '')
    .slice(0, 120);
  return reason || 'syntax error';
}

/** `http://user:pass@host:port` -> `http://[REDACTED]@host:port`: proxy credentials are never echoed. */
export function maskUrlUserinfo(url: string): string {
  const at = url.lastIndexOf('@');
  const scheme = url.indexOf('://');
  if (at === -1 || scheme === -1 || at < scheme) return url;
  // Only an `@` before the first `/` of the authority is userinfo.
  const slash = url.indexOf('/', scheme + 3);
  if (slash !== -1 && slash < at) return url;
  return `${url.slice(0, scheme + 3)}[REDACTED]${url.slice(at)}`;
}

/** The config as it may be shown (check-config, logs): credentials in URLs masked. */
export function displayableConfig(config: Config): Config {
  return config.upstream_proxy === undefined
    ? config
    : { ...config, upstream_proxy: maskUrlUserinfo(config.upstream_proxy) };
}

export function parseConfigText(text: string, source: string): LoadedConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, source, errors: [{ path: '(file)', message: `not valid JSON: ${jsonErrorWithoutText(err)}` }] };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, source, errors: [{ path: '(root)', message: 'must be a JSON object' }] };
  }
  const r = validateConfigValue(value);
  return r.ok ? { ok: true, config: r.config, source } : { ok: false, errors: r.errors, source };
}

/**
 * Loads `file`, or `defaultFile` if it exists, or the embedded defaults. An explicit file that is
 * missing is an error (a typo in --config must not silently run with defaults).
 */
export function loadConfig(file: string | undefined, defaultFile: string): LoadedConfig {
  // lstat: a link (even a dangling one) in config.json's place is refused below, not skipped.
  const target = file ?? (lexists(defaultFile) ? defaultFile : undefined);
  if (!target) return { ok: true, config: defaultConfig(), source: '(embedded defaults)' };
  let text: string;
  try {
    // The home's own config.json is never read through a link; a file named with --config is the
    // operator's explicit choice and may be one.
    text =
      target === defaultFile && file === undefined ? readFileNoFollow(target, 'utf8') : readFileSync(target, 'utf8');
  } catch (err) {
    return {
      ok: false,
      source: target,
      errors: [{ path: '(file)', message: `cannot read: ${(err as Error).message}` }],
    };
  }
  return parseConfigText(text, target);
}

function lexists(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

export function formatConfigErrors(r: { errors: ConfigError[]; source: string }): string {
  return [`invalid config ${r.source}:`, ...r.errors.map((e) => `  ${e.path}: ${e.message}`)].join('\n');
}
