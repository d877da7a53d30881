// The rule catalogue: every detection rule, and the per-direction selection the scanner uses.
import type { Direction } from '../finding-schema.js';
import { CREDENTIAL_RULES } from './exfil-credentials.js';
import { AI_RULES } from './credentials-ai.js';
import { CHAT_RULES } from './credentials-chat.js';
import { URL_RULES } from './credentials-urls.js';
import { CONFIG_FILE_RULES } from './credentials-config-files.js';
import { CLOUD_RULES } from './credentials-cloud.js';
import { SAAS_RULES } from './credentials-saas.js';
import { GENERIC_RULES } from './credentials-generic.js';
import { FILE_RULES } from './exfil-files.js';
import { PROMPT_RULES } from './injection-prompt.js';
import { SHELL_RULES } from './injection-shell.js';
import type { Rule } from './rule.js';

export type { Rule } from './rule.js';

// One file per family; a new rule goes into its family's file and that file's exported list.
export const ALL_RULES: readonly Rule[] = [
  ...CREDENTIAL_RULES,
  ...AI_RULES,
  ...CHAT_RULES,
  ...URL_RULES,
  ...CONFIG_FILE_RULES,
  ...CLOUD_RULES,
  ...SAAS_RULES,
  ...GENERIC_RULES,
  ...FILE_RULES,
  ...SHELL_RULES,
  ...PROMPT_RULES,
];

export const RULE_IDS: readonly string[] = ALL_RULES.map((r) => r.id);

/** Module-load sanity check: unique ids, global patterns, lowercase keywords. Throws naming the rule. */
function checkCatalogue(rules: readonly Rule[]): void {
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.id)) throw new Error(`duplicate rule id: ${r.id}`);
    seen.add(r.id);
    if (!r.pattern.global) throw new Error(`rule ${r.id}: pattern must have the g flag`);
    if (r.pattern.sticky) throw new Error(`rule ${r.id}: pattern must not have the y flag`);
    if (r.keywords.length === 0) throw new Error(`rule ${r.id}: at least one keyword is required`);
    for (const k of r.keywords) {
      if (k.length === 0 || k !== k.toLowerCase())
        throw new Error(`rule ${r.id}: keyword ${JSON.stringify(k)} must be lowercase`);
    }
    if (r.directions.length === 0) throw new Error(`rule ${r.id}: no direction`);
  }
}

checkCatalogue(ALL_RULES);

const BY_DIRECTION: Record<Direction, readonly Rule[]> = {
  outbound: ALL_RULES.filter((r) => r.directions.includes('outbound')),
  inbound: ALL_RULES.filter((r) => r.directions.includes('inbound')),
};

/** The rules that watch `direction`, minus the ids in `disabled`. */
export function rulesFor(direction: Direction, disabled: readonly string[] = []): readonly Rule[] {
  const all = BY_DIRECTION[direction];
  if (disabled.length === 0) return all;
  const off = new Set(disabled);
  return all.filter((r) => !off.has(r.id));
}
