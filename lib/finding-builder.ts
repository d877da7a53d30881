// Turns a redacted detection plus what the proxy knows about the message into a finding record.
import { randomUUID } from 'node:crypto';
import type { Detection } from './detection.js';
import { FINDING_SCHEMA_VERSION, type Direction, type Finding, type Protocol } from './finding-schema.js';
import { redactPath } from './redact.js';

export interface MessageMeta {
  direction: Direction;
  protocol: Protocol;
  /** Who sent it: the client address for outbound, the `host:port` for inbound. */
  source: string;
  /** `host:port` of the remote side. */
  dest: string;
  method?: string;
  /** Raw request path; redacted here. */
  path?: string;
  group?: string;
}

export function buildFinding(d: Detection, meta: MessageMeta, now = new Date()): Finding {
  const f: Finding = {
    schema_version: FINDING_SCHEMA_VERSION,
    platform: 'nanoclaw',
    direction: meta.direction,
    protocol: meta.protocol,
    threat_type: d.threat_type,
    pattern: d.pattern,
    severity: d.severity,
    source: meta.source.slice(0, 256),
    dest: meta.dest.slice(0, 300),
    snippet: d.snippet.slice(0, 2048),
    timestamp: now.toISOString(),
    id: randomUUID(),
    fingerprint: d.fingerprint,
    location: d.location,
    encoding: d.encoding,
    offset: d.offset,
    untrusted: d.untrusted,
    description: d.description.slice(0, 256),
  };
  if (meta.method) f.method = meta.method.slice(0, 32);
  if (meta.path !== undefined) f.path = redactPath(meta.path);
  if (meta.group) f.group = meta.group.slice(0, 128);
  return f;
}
