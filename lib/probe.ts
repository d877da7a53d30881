// The self-probe: a host name only the guardian answers, so a client can tell whether its traffic
// really passes the guardian (and not some other proxy, or none). `.invalid` never resolves (RFC 6761
// §6.4), so a probe that reaches anything but the guardian goes nowhere and leaks nothing.
import { z } from 'zod';

export const PROBE_HOST = 'traffic-guardian.invalid';
export const PROBE_GUARDIAN_NAME = 'nanoclaw-traffic-guardian';
/** The text body of the guardian's `403` to a CONNECT to PROBE_HOST while HTTPS inspection is off. */
export const PROBE_INSPECTION_OFF = 'HTTPS inspection is off';

/** The JSON body the guardian answers a probe request with. */
export const ProbeAnswerSchema = z
  .object({
    guardian: z.literal(PROBE_GUARDIAN_NAME),
    version: z.string().max(40),
    group: z.string().max(128).nullable(),
    protocol: z.enum(['http', 'https']),
    https_inspection: z.boolean(),
    /** Where this group's traffic goes on: its own upstream (NanoClaw's OneCLI gateway), `upstream_proxy`, or direct. */
    upstream: z.enum(['group', 'proxy', 'direct']).optional(),
  })
  .strict();
export type ProbeAnswer = z.infer<typeof ProbeAnswerSchema>;
