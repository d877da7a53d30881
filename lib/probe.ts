// The self-probe's name and answer (contract of issue 14). Minimal version from helper "proxy-flow" so
// the proxy compiles; helper "mcp" owns this file and its fuller version wins at merge.
import { z } from 'zod';

/** A reserved name (RFC 6761 `.invalid`): no real host can be reached under it. */
export const PROBE_HOST = 'traffic-guardian.invalid';

export const ProbeAnswerSchema = z
  .object({
    guardian: z.literal('nanoclaw-traffic-guardian'),
    version: z.string(),
    group: z.string().nullable(),
    protocol: z.enum(['http', 'https']),
    https_inspection: z.boolean(),
  })
  .strict();
export type ProbeAnswer = z.infer<typeof ProbeAnswerSchema>;
