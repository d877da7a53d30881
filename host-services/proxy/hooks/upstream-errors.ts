// Upstream failures are counted and logged with the destination's host and port only (a path or query
// may carry a token).
import type { Counters } from '../../../lib/status-schema.js';
import type { ProxyHook } from '../hooks.js';

export function upstreamErrorsHook(counters: Counters, log: (level: 'warn', msg: string) => void): ProxyHook {
  return {
    error(flow, err) {
      counters.upstream_errors++;
      if (flow.protocol === 'websocket') log('warn', `websocket ${flow.dest}: ${err.code ?? err.message}`);
      else log('warn', `upstream ${flow.dest}: ${`${err.code ?? ''} ${err.message}`.trim()}`);
    },
  };
}
