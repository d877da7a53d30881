// One exchange through the proxy, as the hooks see it: who sent it (client, group), where it goes
// (target), how (protocol, method, path), and what the hooks decided about it. The transport makes one
// Flow per CONNECT, per plain or decrypted request and per WebSocket; flows inside a tunnel point to
// the tunnel's own flow, which carries the credentials the CONNECT presented.
import type { Protocol } from '../../lib/finding-schema.js';
import { formatHostPort, type HostPort } from './connect-target.js';

export interface Flow {
  /** Client address (IPv4-mapped IPv6 written as IPv4). */
  readonly client: string;
  /** Agent group, once the credentials hook has read it (or from the tunnel the flow travels in). */
  group: string | undefined;
  /** Where the bytes go: the CONNECT target inside a tunnel, else the request's own target. */
  readonly target: HostPort;
  /**
   * `host:port` of the target, as findings, logs and status write it: with the host's secret-bearing
   * labels masked when the scan hook found a secret in the host name.
   */
  dest: string;
  /** `connect` for a CONNECT itself; `http`/`https` for requests; `websocket` for an upgraded exchange. */
  readonly protocol: Protocol;
  /** Request method (`CONNECT` for a tunnel). */
  readonly method: string;
  /** Origin-form path (`/p?q`); the CONNECT target for a tunnel. */
  readonly path: string;
  /** The CONNECT flow this one travels in, if any. */
  readonly tunnel: Flow | undefined;
  /** False once a hook (allow_hosts) exempts the flow from scanning (and a tunnel from inspection). */
  scan: boolean;
  /** True when the guardian itself answers the flow (the self-probe): it is no traffic. */
  local: boolean;
}

export function newFlow(f: {
  client: string;
  target: HostPort;
  protocol: Protocol;
  method: string;
  path: string;
  tunnel?: Flow;
}): Flow {
  return {
    client: f.client,
    group: f.tunnel?.group,
    target: f.target,
    // Inside a tunnel the target is the tunnel's: so is its (possibly masked) name.
    dest: f.tunnel && f.tunnel.target.host === f.target.host ? f.tunnel.dest : formatHostPort(f.target),
    protocol: f.protocol,
    method: f.method,
    path: f.path,
    tunnel: f.tunnel,
    scan: true,
    local: false,
  };
}
