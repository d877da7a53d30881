// Filters for reading findings, shared by the store, the CLI and the IPC `list_findings` method.
import { z } from 'zod';
import { DirectionSchema, SEVERITY_RANK, SeveritySchema, ThreatTypeSchema, type Finding } from './finding-schema.js';

export const MAX_QUERY_LIMIT = 500;

export const FindingsQuerySchema = z
  .object({
    /** Newest first; at most MAX_QUERY_LIMIT. */
    limit: z.number().int().min(1).max(MAX_QUERY_LIMIT).default(50),
    /** ISO 8601 timestamp: only findings at or after it. */
    since: z.iso.datetime({ offset: true }).optional(),
    /** Minimum severity (`high` returns high and critical). */
    severity: SeveritySchema.optional(),
    threat_type: ThreatTypeSchema.optional(),
    direction: DirectionSchema.optional(),
    pattern: z
      .string()
      .regex(/^[a-z0-9_]{1,64}$/)
      .optional(),
    group: z.string().min(1).max(128).optional(),
  })
  .strict();
export type FindingsQuery = z.infer<typeof FindingsQuerySchema>;
export type FindingsQueryInput = z.input<typeof FindingsQuerySchema>;

/** The filter part of a query (everything but limit) as a predicate. */
export function matchesQuery(f: Finding, q: Omit<FindingsQuery, 'limit'>): boolean {
  if (q.since !== undefined && Date.parse(f.timestamp) < Date.parse(q.since)) return false;
  if (q.severity !== undefined && SEVERITY_RANK[f.severity] < SEVERITY_RANK[q.severity]) return false;
  if (q.threat_type !== undefined && f.threat_type !== q.threat_type) return false;
  if (q.direction !== undefined && f.direction !== q.direction) return false;
  if (q.pattern !== undefined && f.pattern !== q.pattern) return false;
  if (q.group !== undefined && f.group !== q.group) return false;
  return true;
}
