// The IPC protocol between the host service and its clients (the container's MCP server, the
// operator's `status`): newline-delimited JSON frames over a Unix socket. Both sides validate every
// frame with these schemas.
import { z } from 'zod';
import { FindingSchema } from './finding-schema.js';
import { FindingsQuerySchema, MAX_QUERY_LIMIT } from './findings-query.js';
import { StatusSchema } from './status-schema.js';
import { formatPath } from './config-schema.js';

export const IPC_PROTOCOL_VERSION = 1;
/** Largest request frame the server reads; a longer line is answered `frame_too_large` and skipped. */
export const MAX_FRAME_BYTES = 64 * 1024;
/**
 * Largest response frame a client accepts. A finding serializes to at most ~12 KiB (a 2 KiB snippet of
 * 3-byte characters, a 1 KiB path, ...), so 500 of them could exceed any small bound: the server trims a
 * `list_findings` answer to fit (and says `truncated`), and status answers carry at most 50 findings.
 */
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

/** Params of the methods that take none: strict, so an unknown argument is an error, not ignored. */
export const NoParamsSchema = z.object({}).strict();

export const HelloResultSchema = z
  .object({ protocol_version: z.number().int(), server_version: z.string().max(40), group: z.string().nullable() })
  .strict();
export const StatusResultSchema = StatusSchema.extend({ recent_findings: z.array(SafeFindingSchema).max(50) }).strict();

const query = FindingsQuerySchema.shape;
/**
 * `list_findings` params: the findings query without `group` (the socket decides it: a group socket is
 * pinned to its group), with the descriptions the MCP tool shows. Every query key but `group` must be
 * listed here (a new one is a compile error until it is).
 */
export const ListFindingsParamsSchema = z
  .object({
    limit: query.limit.describe('How many findings, newest first.'),
    since: query.since.describe('Only findings at or after this ISO 8601 time, e.g. 2026-01-31T00:00:00Z.'),
    severity: query.severity.describe('Minimum severity: low, medium, high or critical (high = high and critical).'),
    threat_type: query.threat_type.describe(
      'EXFIL (secrets leaving the agent) or INJECTION (hostile content arriving).',
    ),
    direction: query.direction.describe('outbound (agent to internet) or inbound (internet to agent).'),
    pattern: query.pattern.describe('One rule id, e.g. github_token or pipe_to_shell.'),
  } satisfies Record<Exclude<keyof typeof query, 'group'>, z.ZodType>)
  .strict();
export const ListFindingsResultSchema = z
  .object({
    findings: z.array(SafeFindingSchema).max(MAX_QUERY_LIMIT),
    /** True when more findings matched than were returned (the limit or the response size cut the list). */
    truncated: z.boolean(),
    group: z.string().nullable(),
  })
  .strict();

function jsonBytes(v: unknown): number {
  try {
    return Buffer.byteLength(JSON.stringify(v) ?? 'null');
  } catch {
    return Infinity;
  }
}

export const ValidateConfigParamsSchema = z
  .object({
    config: z
      .unknown()
      .describe('The proposed config object, as it would be written to config.json. Nothing is applied.'),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (jsonBytes(p.config) > MAX_CONFIG_BYTES) {
      ctx.addIssue({ code: 'custom', path: ['config'], message: `larger than ${MAX_CONFIG_BYTES} bytes serialized` });
    }
  });
export const ValidateConfigResultSchema = z
  .object({
    ok: z.boolean(),
    errors: z.array(z.object({ path: z.string().max(200), message: z.string().max(500) }).strict()).max(100),
  })
  .strict();

/**
 * Methods, their params and result schemas: the one table both sides read. A new method goes here
 * first; the server's handler table (host-services/ipc-handlers.ts) then fails to compile until it
 * answers it. Params may be omitted on the wire where `undefined` parses.
 */
export const METHODS = {
  hello: { params: NoParamsSchema.optional(), result: HelloResultSchema },
  get_status: { params: NoParamsSchema.optional(), result: StatusResultSchema },
  list_findings: { params: ListFindingsParamsSchema.optional(), result: ListFindingsResultSchema },
  validate_config: { params: ValidateConfigParamsSchema, result: ValidateConfigResultSchema },
} as const;
export type Method = keyof typeof METHODS;
/** A method's params as the server receives them (validated, defaults applied). */
export type MethodParams<M extends Method> = z.output<(typeof METHODS)[M]['params']>;
/** A method's result as a client receives it. */
export type MethodResult<M extends Method> = z.output<(typeof METHODS)[M]['result']>;

export function isMethod(m: string): m is Method {
  return Object.hasOwn(METHODS, m);
}

/** One frame: the value as single-line JSON (JSON.stringify escapes every newline) plus `\n`. */
export function encodeFrame(obj: unknown): string {
  return `${JSON.stringify(obj)}\n`;
}

export function successFrame(id: Request['id'], result: unknown): string {
  return encodeFrame({ id, ok: true, result });
}

export function errorFrame(id: Request['id'] | null, code: ErrorCode, message: string): string {
  return encodeFrame({ id, ok: false, error: { code, message: message.slice(0, 1000) } });
}

/** The first validation issue as `params.<path>: <message>` (an unknown key is named as such). */
export function describeParamsIssue(
  issues: readonly { code: string; path: PropertyKey[]; message: string; keys?: string[] }[],
): string {
  const issue = issues[0];
  if (!issue) return 'params: invalid';
  if (issue.code === 'unrecognized_keys') {
    return `params.${formatPath([...issue.path, issue.keys?.[0] ?? '?'])}: unknown parameter`;
  }
  return `params${issue.path.length > 0 ? `.${formatPath(issue.path)}` : ''}: ${issue.message}`;
}

export type ParsedRequest =
  | { ok: true; id: Request['id']; method: Method; params: unknown }
  | { ok: false; id: Request['id'] | null; code: ErrorCode; message: string };

/**
 * One request line to a validated request (method known, params valid for it) or the error to answer
 * with. Never throws, whatever the line holds. The id is echoed when it is one the client could have
 * meant (a number stays a number); otherwise the error carries id null.
 */
export function parseRequest(line: string): ParsedRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { ok: false, id: null, code: 'parse_error', message: 'frame is not valid JSON' };
  }
  const req = RequestSchema.safeParse(parsed);
  if (!req.success) {
    const id = parsed !== null && typeof parsed === 'object' ? (parsed as { id?: unknown }).id : undefined;
    const safeId =
      typeof id === 'string' ? id.slice(0, 64) : typeof id === 'number' && Number.isSafeInteger(id) ? id : null;
    return { ok: false, id: safeId, code: 'invalid_request', message: 'a request is {"id", "method", "params"}' };
  }
  const { id, method } = req.data;
  if (!isMethod(method)) return { ok: false, id, code: 'unknown_method', message: `unknown method "${method}"` };
  const params = METHODS[method].params.safeParse(req.data.params);
  if (!params.success) {
    return { ok: false, id, code: 'invalid_params', message: describeParamsIssue(params.error.issues) };
  }
  return { ok: true, id, method, params: params.data };
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
