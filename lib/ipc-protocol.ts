// The IPC protocol between the host service and its clients (the container's MCP server, the
// operator's `status`): newline-delimited JSON frames over a Unix socket. Both sides validate every
// frame with these schemas.
import { z } from 'zod';
import { FindingSchema } from './finding-schema.js';
import { FindingsQuerySchema } from './findings-query.js';
import { StatusSchema } from './status-schema.js';

export const IPC_PROTOCOL_VERSION = 1;
/** Largest request frame the server reads; a longer line is answered `frame_too_large` and skipped. */
export const MAX_REQUEST_FRAME = 64 * 1024;
/** Largest response frame a client accepts. */
export const MAX_RESPONSE_FRAME = 4 * 1024 * 1024;
/** Largest serialized config `validate_config` accepts. */
export const MAX_CONFIG_BYTES = 32 * 1024;

export const ErrorCodeSchema = z.enum([
  'parse_error',
  'frame_too_large',
  'invalid_request',
  'unknown_method',
  'invalid_params',
  'timeout',
  'busy',
  'internal',
]);
export type ErrorCode = z.infer<typeof ErrorCodeSchema>;

const IdSchema = z.union([z.string().max(64), z.number().int().safe()]);

export const RequestSchema = z
  .object({ id: IdSchema, method: z.string().max(64), params: z.unknown().optional() })
  .strict();
export type Request = z.infer<typeof RequestSchema>;

export const ErrorResponseSchema = z
  .object({
    id: IdSchema.nullable(),
    ok: z.literal(false),
    error: z.object({ code: ErrorCodeSchema, message: z.string().max(1000) }).strict(),
  })
  .strict();

/** A finding as it leaves the host: injection snippets neutralised (see lib/neutralise.ts). */
export const SafeFindingSchema = FindingSchema.extend({ snippet_neutralised: z.boolean() }).strict();
export type SafeFinding = z.infer<typeof SafeFindingSchema>;

export const HelloResultSchema = z
  .object({ protocol_version: z.number().int(), server_version: z.string().max(40), group: z.string().nullable() })
  .strict();
export const StatusResultSchema = StatusSchema.extend({ recent_findings: z.array(SafeFindingSchema).max(50) }).strict();
export const ListFindingsParamsSchema = FindingsQuerySchema.omit({ group: true });
export const ListFindingsResultSchema = z
  .object({ findings: z.array(SafeFindingSchema), group: z.string().nullable() })
  .strict();
export const ValidateConfigParamsSchema = z.object({ config: z.unknown() }).strict();
export const ValidateConfigResultSchema = z
  .object({
    ok: z.boolean(),
    errors: z.array(z.object({ path: z.string().max(200), message: z.string().max(500) }).strict()).max(100),
  })
  .strict();

/** Methods, their params and result schemas: the one table both sides read. */
export const METHODS = {
  hello: { params: z.object({}).strict().optional(), result: HelloResultSchema },
  get_status: { params: z.object({}).strict().optional(), result: StatusResultSchema },
  list_findings: { params: ListFindingsParamsSchema.optional(), result: ListFindingsResultSchema },
  validate_config: { params: ValidateConfigParamsSchema, result: ValidateConfigResultSchema },
} as const;
export type Method = keyof typeof METHODS;

export function isMethod(m: string): m is Method {
  return Object.hasOwn(METHODS, m);
}

export function successFrame(id: Request['id'], result: unknown): string {
  return `${JSON.stringify({ id, ok: true, result })}\n`;
}

export function errorFrame(id: Request['id'] | null, code: ErrorCode, message: string): string {
  return `${JSON.stringify({ id, ok: false, error: { code, message: message.slice(0, 1000) } })}\n`;
}

/**
 * Splits a byte stream into lines without ever holding more than `max` bytes of one line: an
 * over-long line is reported once (`oversize`) and skipped up to its newline.
 */
export class FrameSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  private skipping = false;

  constructor(private readonly max: number) {}

  /** Returns complete frames (and `null` for each over-long frame skipped) found in `chunk`. */
  push(chunk: Buffer): (string | null)[] {
    const out: (string | null)[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const piece = chunk.subarray(start, nl === -1 ? chunk.length : nl);
      if (!this.skipping) {
        if (this.size + piece.length > this.max) {
          this.skipping = true;
          this.parts = [];
          this.size = 0;
          out.push(null);
        } else if (piece.length > 0) {
          this.parts.push(Buffer.from(piece));
          this.size += piece.length;
        }
      }
      if (nl === -1) break;
      if (!this.skipping && this.size > 0) out.push(Buffer.concat(this.parts).toString('utf8'));
      this.parts = [];
      this.size = 0;
      this.skipping = false;
      start = nl + 1;
    }
    return out;
  }
}
