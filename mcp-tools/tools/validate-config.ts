// `validate_config`: checks a proposed guardian config on the host without applying it.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ValidateConfigParamsSchema, ValidateConfigResultSchema } from '../../lib/ipc-protocol.js';
import type { IpcClient } from '../ipc-client.js';
import { configText } from '../render-text.js';
import { failure, READ_ONLY } from './common.js';

export function registerValidateConfig(server: McpServer, client: IpcClient): void {
  server.registerTool(
    'validate_config',
    {
      title: 'Validate a guardian config',
      description:
        'Checks a proposed traffic-guardian config object on the host without applying it or starting ' +
        'anything. Returns ok, or each error by key path (e.g. "proxy_port: Too big").',
      inputSchema: ValidateConfigParamsSchema,
      outputSchema: ValidateConfigResultSchema,
      annotations: { title: 'Validate a guardian config', ...READ_ONLY },
    },
    async ({ config }) => {
      try {
        const r = await client.request('validate_config', { config });
        return { content: [{ type: 'text' as const, text: configText(r) }], structuredContent: r };
      } catch (err) {
        return failure(err);
      }
    },
  );
}
