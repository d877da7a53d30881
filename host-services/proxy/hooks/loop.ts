// A request or CONNECT aimed at the guardian's own listener is answered 508 at once (see own-address.ts).
import type { ProxyHook } from '../hooks.js';
import { LOOP_ANSWER, type OwnAddress } from '../own-address.js';

export function loopHook(own: OwnAddress): ProxyHook {
  const check = (flow: { target: { host: string; port: number } }) =>
    own.isSelf(flow.target) ? LOOP_ANSWER : undefined;
  return { connect: check, requestHeaders: check };
}
