// `allow_hosts`: traffic to these hosts is not scanned, and a CONNECT to them is a blind tunnel even
// with HTTPS inspection on. The decision is made on the flow's target (the CONNECT target inside a
// tunnel), so every path, WebSocket messages included, follows it.
import { hostMatches } from '../../../lib/host-match.js';
import type { Flow } from '../flow.js';
import type { ProxyHook } from '../hooks.js';

export function allowHostsHook(allowHosts: readonly string[]): ProxyHook | null {
  if (allowHosts.length === 0) return null;
  const decide = (flow: Flow): void => {
    if (hostMatches(flow.target.host, allowHosts)) flow.scan = false;
  };
  return { connect: decide, requestHeaders: decide };
}
