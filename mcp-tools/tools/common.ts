// What every tool shares: its hints (all three only read from the local guardian) and the error answer.
import { IpcError } from '../ipc-client.js';

/** The tools read, change nothing, give the same answer for the same state, and reach only the guardian. */
export const READ_ONLY = {
  readOnlyHint: true,
  destructiveHint: false,
  idempotentHint: true,
  openWorldHint: false,
} as const;

/** An MCP error result naming what failed (the socket, the timeout); `more` adds lines an agent can use. */
export function failure(err: unknown, more: string[] = []) {
  const msg = err instanceof IpcError || err instanceof Error ? err.message : String(err);
  return {
    isError: true,
    content: [{ type: 'text' as const, text: [`traffic-guardian: ${msg}`, ...more].join('\n') }],
  };
}
