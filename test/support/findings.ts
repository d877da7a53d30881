// Valid finding records for store and CLI tests.
import { randomUUID } from 'node:crypto';
import { FINDING_SCHEMA_VERSION, type Finding } from '../../lib/finding-schema.js';

export function makeFinding(over: Partial<Finding> = {}): Finding {
  return {
    schema_version: FINDING_SCHEMA_VERSION,
    platform: 'nanoclaw',
    direction: 'outbound',
    protocol: 'https',
    threat_type: 'EXFIL',
    pattern: 'github_token',
    severity: 'critical',
    source: '127.0.0.1',
    dest: 'example.org:443',
    snippet: 'token=ghp_[REDACTED 36 chars]',
    timestamp: new Date().toISOString(),
    id: randomUUID(),
    ...over,
  };
}
