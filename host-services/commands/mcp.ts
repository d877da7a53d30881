// `traffic-guardian mcp [--socket PATH]`: the MCP stdio server on the host (for testing or for an
// agent running directly on the host). Containers run the bundled file instead.
import { homePaths } from '../home.js';
import { runMcpServer } from '../../mcp-tools/main.js';

export async function runMcp(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      'Usage: traffic-guardian mcp [--socket PATH]\n\nRuns the MCP stdio server (tools get_status, list_findings, validate_config)\n' +
        'against the guardian socket (default <home>/run/guardian.sock, or $NANOCLAW_TRAFFIC_GUARDIAN_SOCKET).\n',
    );
    return 0;
  }
  await runMcpServer(argv, homePaths().socket);
  return 0;
}
