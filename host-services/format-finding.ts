// Human-readable finding lines for the CLI. Snippets are already redacted and escaped.
import type { Finding } from '../lib/finding-schema.js';

export function formatFinding(f: Finding): string {
  const where = [f.location, f.encoding ? `via ${f.encoding}` : '', f.offset !== undefined ? `@${f.offset}` : '']
    .filter(Boolean)
    .join(' ');
  const head = [
    f.timestamp,
    f.severity.toUpperCase().padEnd(8),
    f.threat_type.padEnd(9),
    f.pattern,
    `${f.direction} ${f.protocol}`,
    `${f.method ?? ''} ${f.dest}${f.path ?? ''}`.trim(),
    f.group ? `group=${f.group}` : '',
  ]
    .filter(Boolean)
    .join('  ');
  const label = f.untrusted ? 'untrusted text' : 'snippet';
  return `${head}\n    ${where ? `[${where}] ` : ''}${label}: ${f.snippet}`;
}
