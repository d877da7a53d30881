// Loads the config file: JSON, validated by the lib schema, with errors that name file and key.
import { existsSync, readFileSync } from 'node:fs';
import { parseConfig, defaultConfig, type Config, type ConfigError } from '../lib/config-schema.js';
import { RULE_IDS } from '../lib/rules/index.js';

export type LoadedConfig =
  { ok: true; config: Config; source: string } | { ok: false; errors: ConfigError[]; source: string };

const KNOWN_RULES = new Set(RULE_IDS);

export function validateConfigValue(
  value: unknown,
): { ok: true; config: Config } | { ok: false; errors: ConfigError[] } {
  return parseConfig(value, KNOWN_RULES);
}

export function parseConfigText(text: string, source: string): LoadedConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, source, errors: [{ path: '(file)', message: `not valid JSON: ${(err as Error).message}` }] };
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
  const target = file ?? (existsSync(defaultFile) ? defaultFile : undefined);
  if (!target) return { ok: true, config: defaultConfig(), source: '(embedded defaults)' };
  let text: string;
  try {
    text = readFileSync(target, 'utf8');
  } catch (err) {
    return {
      ok: false,
      source: target,
      errors: [{ path: '(file)', message: `cannot read: ${(err as Error).message}` }],
    };
  }
  return parseConfigText(text, target);
}

export function formatConfigErrors(r: { errors: ConfigError[]; source: string }): string {
  return [`invalid config ${r.source}:`, ...r.errors.map((e) => `  ${e.path}: ${e.message}`)].join('\n');
}
