// The guardian's answer to its own probe host (contract of issue 14). Minimal version from helper
// "proxy-flow" so the proxy compiles; helper "mcp" owns this file and its fuller version wins at merge.
import { PROBE_HOST, type ProbeAnswer } from '../../lib/probe.js';

export { PROBE_HOST } from '../../lib/probe.js';

export interface ProbeContext {
  group?: string;
  client: string;
  protocol: 'http' | 'https';
  httpsInspection: boolean;
  version: string;
}

/** Case-insensitive; a trailing dot is ignored. */
export function isProbeHost(host: string): boolean {
  const h = host.endsWith('.') ? host.slice(0, -1) : host;
  return h.length === PROBE_HOST.length && h.toLowerCase() === PROBE_HOST;
}

export function probeResponse(ctx: ProbeContext): { status: number; headers: Record<string, string>; body: string } {
  const answer: ProbeAnswer = {
    guardian: 'nanoclaw-traffic-guardian',
    version: ctx.version,
    group: ctx.group ?? null,
    protocol: ctx.protocol,
    https_inspection: ctx.httpsInspection,
  };
  return {
    status: 200,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: `${JSON.stringify(answer)}\n`,
  };
}
