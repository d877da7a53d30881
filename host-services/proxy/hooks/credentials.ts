// Proxy credentials (per-group identity), checked once per CONNECT and once per plain request or
// upgrade outside a tunnel. Requests inside a tunnel travel on the CONNECT's credentials and group,
// like mitmproxy's proxyauth addon remembers an authenticated CONNECT for its connection.
import type http from 'node:http';
import type { Counters } from '../../../lib/status-schema.js';
import type { Flow } from '../flow.js';
import type { Answer, ProxyHook } from '../hooks.js';

export type AuthResult = { ok: true; group?: string } | { ok: false };
export type Authenticate = (header: string | undefined) => AuthResult;

export const AUTH_REQUIRED: Answer = {
  status: 407,
  headers: { 'Proxy-Authenticate': 'Basic realm="traffic-guardian"' },
};

export function credentialsHook(authenticate: Authenticate, counters: Counters): ProxyHook {
  const check = (flow: Flow, req: http.IncomingMessage): Answer | void => {
    const auth = authenticate(req.headers['proxy-authorization']);
    if (!auth.ok) {
      counters.auth_failures++;
      return AUTH_REQUIRED;
    }
    flow.group = auth.group;
  };
  return {
    connect: check,
    requestHeaders: (flow, req) => (flow.tunnel ? undefined : check(flow, req)),
  };
}
