// The self-probe (issue 14): a request to PROBE_HOST is answered by the guardian itself, after the
// credentials hook (so a 407 still applies and the group is known), and never forwarded, scanned or
// counted. A CONNECT to it is inspected when HTTPS inspection is on (the requests inside are answered
// the same way) and refused with 403 when it is off. The answer itself is self-probe.ts's.
import { PROBE_INSPECTION_OFF } from '../../../lib/probe.js';
import { isProbeHost, probeResponse } from '../self-probe.js';
import type { ProxyHook } from '../hooks.js';

export function selfProbeHook(o: {
  httpsInspection: boolean;
  version: string;
  /** Where the group's traffic goes on, reported so a check can see the chaining really applies. */
  upstreamOf?: (group: string | undefined) => 'group' | 'proxy' | 'direct';
}): ProxyHook {
  return {
    connect(flow) {
      if (!isProbeHost(flow.target.host)) return;
      flow.local = true;
      if (!o.httpsInspection) return { status: 403, body: PROBE_INSPECTION_OFF, local: true };
    },
    requestHeaders(flow) {
      if (!isProbeHost(flow.target.host)) return;
      flow.local = true;
      const r = probeResponse({
        group: flow.group,
        client: flow.client,
        protocol: flow.tunnel ? 'https' : 'http',
        httpsInspection: o.httpsInspection,
        version: o.version,
        upstream: o.upstreamOf?.(flow.group),
      });
      return { status: r.status, headers: r.headers, body: r.body, local: true };
    },
  };
}
