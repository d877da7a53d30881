// What each IPC method answers: one handler per method in a table typed by the protocol
// (lib/ipc-protocol.ts), so a method without a handler, or a handler answering the wrong shape, does
// not compile. Answers are built from GuardianApi results only; findings leave through
// neutraliseFinding, and a group socket only ever sees its own group.
//
// To add a method: its params and result schemas go into METHODS (lib/ipc-protocol.ts), its handler here.
import {
  IPC_PROTOCOL_VERSION,
  ListFindingsParamsSchema,
  MAX_RESPONSE_FRAME,
  type Method,
  type MethodParams,
  type METHODS,
  type SafeFinding,
} from '../lib/ipc-protocol.js';
import { neutraliseFinding } from '../lib/neutralise.js';
import type { z } from 'zod';
import type { GuardianApi } from './guardian-api.js';

export interface HandlerContext {
  api: GuardianApi;
  /** Non-null: the socket belongs to this agent group and answers only about it. */
  group: string | null;
  version: string;
}

/** What a handler returns: the result's schema input (the server validates it before sending). */
type Answer<M extends Method> = z.input<(typeof METHODS)[M]['result']>;

export type Handlers = {
  [M in Method]: (params: MethodParams<M>, ctx: HandlerContext) => Answer<M> | Promise<Answer<M>>;
};

/** Findings that fit one response frame, and whether the list was cut to fit. */
function fitFindings(findings: SafeFinding[]): { findings: SafeFinding[]; cut: boolean } {
  // Room for the envelope (id, group, flags): ids are <= 64 chars and groups <= 128.
  let budget = MAX_RESPONSE_FRAME - 4096;
  for (let i = 0; i < findings.length; i++) {
    budget -= Buffer.byteLength(JSON.stringify(findings[i])) + 1;
    if (budget < 0) return { findings: findings.slice(0, i), cut: true };
  }
  return { findings, cut: false };
}

export const HANDLERS: Handlers = {
  hello: (_params, ctx) => ({ protocol_version: IPC_PROTOCOL_VERSION, server_version: ctx.version, group: ctx.group }),

  get_status: (_params, ctx) => {
    const st = ctx.api.status(ctx.group);
    // The api scopes a group's status; the filter keeps a group socket to its own findings regardless.
    const recent = ctx.group === null ? st.recent_findings : st.recent_findings.filter((f) => f.group === ctx.group);
    return { ...st, group: ctx.group, recent_findings: recent.map(neutraliseFinding) };
  },

  list_findings: async (params, ctx) => {
    const q = params ?? ListFindingsParamsSchema.parse({});
    // A group socket is pinned to its group: `group` is not a parameter, and the query carries this
    // socket's group whatever else the client sent. One more than asked tells whether more exist.
    const found = await ctx.api.listFindings({
      ...q,
      limit: q.limit + 1,
      ...(ctx.group !== null ? { group: ctx.group } : {}),
    });
    const own = ctx.group === null ? found : found.filter((f) => f.group === ctx.group);
    const fit = fitFindings(own.slice(0, q.limit).map(neutraliseFinding));
    return { findings: fit.findings, truncated: fit.cut || own.length > q.limit, group: ctx.group };
  },

  validate_config: ({ config }, ctx) => {
    const r = ctx.api.validateConfig(config);
    return r.ok ? { ok: true, errors: [] } : { ok: false, errors: r.errors.slice(0, 100) };
  },
};
