// The container-side MCP server: three tools an agent can use to ask the host guardian what it sees.
// Everything comes from the host over IPC, already redacted and with snippets made inert; this process
// never sees a body, a key or the CA key. To add a tool: its IPC method first (lib/ipc-protocol.ts and
// host-services/ipc-handlers.ts), then a file in mcp-tools/tools/ deriving its input from the method's
// params schema, registered here.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { IpcClient } from './ipc-client.js';
import type { SelfCheckOptions } from './self-check.js';
import { registerGetStatus } from './tools/get-status.js';
import { registerListFindings } from './tools/list-findings.js';
import { registerValidateConfig } from './tools/validate-config.js';

export { MCP_FINDINGS_LIMIT } from './tools/list-findings.js';

export function createMcpServer(client: IpcClient, version = '0.1.0', selfCheck: SelfCheckOptions = {}): McpServer {
  const server = new McpServer({ name: 'traffic-guardian', version });
  registerGetStatus(server, client, selfCheck);
  registerListFindings(server, client);
  registerValidateConfig(server, client);
  return server;
}
