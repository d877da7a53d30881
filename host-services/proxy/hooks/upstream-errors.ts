// Upstream failures are counted and logged with the destination's host and port only (a path or query
// may carry a token).
import type { Counters } from '../../../lib/status-schema.js';
import { formatHostPort } from '../connect-target.js';
import type { Flow } from '../flow.js';
import type { ProxyHook } from '../hooks.js';

const what = (flow: Flow) => (flow.protocol === 'websocket' ? 'websocket' : 'upstream');

export function upstreamErrorsHook(counters: Counters, log: (level: 'warn', msg: string) => void): ProxyHook {
  return {
    error(flow, err) {
      counters.upstream_errors++;
      // An error's message may name the host (`getaddrinfo ENOTFOUND <host>`): when the host carried a
      // secret (its dest is masked), only the code is written.
      const masked = flow.dest !== formatHostPort(flow.target);
      if (masked) log('warn', `${what(flow)} ${flow.dest}: ${err.code ?? 'error'}`);
      else if (flow.protocol === 'websocket') log('warn', `websocket ${flow.dest}: ${err.code ?? err.message}`);
      else log('warn', `upstream ${flow.dest}: ${`${err.code ?? ''} ${err.message}`.trim()}`);
    },
  };
}
