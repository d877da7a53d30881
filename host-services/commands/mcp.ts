// `traffic-guardian mcp [--socket PATH]`: the MCP stdio server on the host (for testing or for an
// agent running directly on the host). Containers run the bundled file instead.
import { homePaths } from '../home.js';
import { runMcpServer } from '../../mcp-tools/main.js';

export async function runMcp(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'Usage: traffic-guardian mcp [--socket PATH] [--timeout-ms N]\n\n' +
        'Runs the MCP stdio server (tools get_status, list_findings, validate_config) until stdin closes,\n' +
        'against the guardian socket (--socket, else $NANOCLAW_TRAFFIC_GUARDIAN_SOCKET, else <home>/run/guardian.sock).\n' +
        'Each request to the guardian times out after --timeout-ms (default 5000). Logs go to stderr.\n',
    );
    return 0;
  }
  // Resolves when stdin closes (the MCP client went away).
  await runMcpServer(argv, homePaths().socket);
  return 0;
}
