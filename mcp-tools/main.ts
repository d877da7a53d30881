// Entry of the container-side MCP stdio server (bundled into one file, run with plain `node`).
// stdout carries MCP frames only; diagnostics go to stderr.
import { parseArgs } from 'node:util';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { IpcClient } from './ipc-client.js';
import { createMcpServer } from './server.js';

export const SOCKET_ENV = 'NANOCLAW_TRAFFIC_GUARDIAN_SOCKET';
/** Where NanoClaw mounts the group's socket directory inside the container. */
export const CONTAINER_SOCKET = '/run/traffic-guardian/guardian.sock';
export const MCP_VERSION = '0.1.0';

/**
 * Runs the MCP server on stdio until stdin closes. Socket: `--socket PATH`, else
 * $NANOCLAW_TRAFFIC_GUARDIAN_SOCKET, else `defaultSocket` (in a container `/run/traffic-guardian/guardian.sock`,
 * where `traffic-guardian install` mounts the group's socket directory; on the host `<home>/run/guardian.sock`).
 * `--timeout-ms N` bounds each request to the guardian (default 5000).
 */
export async function runMcpServer(argv: string[], defaultSocket = CONTAINER_SOCKET): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { socket: { type: 'string' }, 'timeout-ms': { type: 'string' } },
  });
  const socketPath = values.socket ?? process.env[SOCKET_ENV] ?? defaultSocket;
  const timeoutArg = values['timeout-ms'];
  const requestTimeoutMs = timeoutArg === undefined ? 5000 : Number(timeoutArg);
  if (!Number.isInteger(requestTimeoutMs) || requestTimeoutMs < 1 || requestTimeoutMs > 600_000) {
    throw new Error(`--timeout-ms must be an integer from 1 to 600000, got ${String(timeoutArg)}`);
  }
  const client = new IpcClient({ socketPath, connectTimeoutMs: 2000, requestTimeoutMs });
  const server = createMcpServer(client, MCP_VERSION);
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  process.stderr.write(`traffic-guardian MCP server on stdio, guardian socket ${socketPath}\n`);
  await closed;
  client.close();
}

// Run when executed directly (the bundle), not when imported by the host CLI.
const invoked = process.argv[1] ?? '';
if (/traffic-guardian-mcp\.m?js$/.test(invoked) || /mcp-tools[\\/]main\.js$/.test(invoked)) {
  // A stray rejection in a tool must not end the server an agent relies on: report it and keep serving.
  process.on('unhandledRejection', (err) => {
    process.stderr.write(`traffic-guardian MCP server: unexpected error: ${(err as Error)?.message ?? String(err)}\n`);
  });
  runMcpServer(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: Error) => {
      process.stderr.write(`traffic-guardian MCP server: ${err.message}\n`);
      process.exit(1);
    },
  );
}
