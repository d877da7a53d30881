// The guardian's own probe name: a request through the proxy to this host is answered by the guardian
// itself and never forwarded, so a client can tell whether its traffic really passes the guardian.
import { z } from 'zod';

/** `.invalid` is reserved (RFC 6761): no real host can ever have this name. */
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
