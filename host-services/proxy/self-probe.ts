// The guardian's answer to the self-probe (lib/probe.ts): a request to PROBE_HOST is answered here,
// never forwarded, never scanned and counted in no traffic counter, so an agent can check that its
// traffic passes this guardian, with which group and whether HTTPS is inspected.
import { PROBE_GUARDIAN_NAME, PROBE_HOST, type ProbeAnswer } from '../../lib/probe.js';

export { PROBE_HOST } from '../../lib/probe.js';

export interface ProbeContext {
  group?: string;
  client: string;
  protocol: 'http' | 'https';
  httpsInspection: boolean;
  version: string;
  upstream?: 'group' | 'proxy' | 'direct';
}

/** True for PROBE_HOST in any letter case, with or without a trailing dot. */
export function isProbeHost(host: string): boolean {
  const h = host.endsWith('.') ? host.slice(0, -1) : host;
  return h.toLowerCase() === PROBE_HOST;
}

export function probeResponse(ctx: ProbeContext): { status: number; headers: Record<string, string>; body: string } {
  const answer: ProbeAnswer = {
    guardian: PROBE_GUARDIAN_NAME,
    version: ctx.version,
    group: ctx.group ?? null,
    protocol: ctx.protocol,
    https_inspection: ctx.httpsInspection,
    upstream: ctx.upstream,
  };
  const body = `${JSON.stringify(answer)}\n`;
  return {
    status: 200,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
    },
    body,
  };
}
