// `traffic-guardian install` / `uninstall`: wire a NanoClaw v2 checkout (see host-services/nanoclaw/).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { homePaths } from '../home.js';
import { loadConfig } from '../config-file.js';
import { install, uninstall } from '../nanoclaw/install.js';
import { EXIT_OK, UsageError } from '../cli-errors.js';

export const INSTALL_HELP = `Usage: traffic-guardian install --nanoclaw DIR [--group FOLDER ...] [--port N] [--dry-run]
       traffic-guardian uninstall --nanoclaw DIR [--dry-run]

install wires a NanoClaw v2 checkout and prints every change:
  - adds src/traffic-guardian.ts and a marked 2-line call in src/container-runner.ts (NanoClaw has
    no supported per-group container env; this is the smallest reversible change)
  - for each --group: issues per-group proxy credentials, writes the group's wiring (proxy env,
    CA certificate, status socket, MCP bundle, all read-only) and registers the MCP server
    "traffic-guardian" with \`ncl groups config add-mcp-server\` (NanoClaw must be running)
uninstall reverses exactly what install recorded, and nothing else. Both are idempotent.

Options:
  --nanoclaw DIR   the NanoClaw checkout (required)
  --group FOLDER   an agent group folder under DIR/groups (repeatable); groups not named are untouched
  --port N         guardian port containers use (default: proxy_port from the config, else 8888)
  --dry-run        print the changes without making any`;

function bundlePath(): string {
  return fileURLToPath(new URL('../../mcp-tools/traffic-guardian-mcp.mjs', import.meta.url));
}

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      nanoclaw: { type: 'string' },
      group: { type: 'string', multiple: true, default: [] },
      port: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  return values;
}

export async function runInstall(argv: string[]): Promise<number> {
  const v = parse(argv);
  if (v.help) {
    process.stdout.write(`${INSTALL_HELP}\n`);
    return EXIT_OK;
  }
  if (!v.nanoclaw) throw new UsageError('--nanoclaw DIR is required');
  const paths = homePaths();
  let port = 8888;
  const cfg = loadConfig(undefined, paths.config);
  if (cfg.ok) port = cfg.config.proxy_port || 8888;
  if (v.port !== undefined) {
    port = Number(v.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError('--port must be 1..65535');
  }
  const bundleFile = bundlePath();
  if (!existsSync(bundleFile)) throw new Error(`MCP bundle ${bundleFile} is missing: run \`npm run build\``);
  await install({
    nanoclawDir: v.nanoclaw,
    groups: v.group,
    dryRun: v['dry-run'],
    paths,
    proxyHost: 'host.docker.internal',
    proxyPort: port,
    bundleFile,
    log: (l) => process.stdout.write(`${l}\n`),
  });
  return EXIT_OK;
}

export async function runUninstall(argv: string[]): Promise<number> {
  const v = parse(argv);
  if (v.help) {
    process.stdout.write(`${INSTALL_HELP}\n`);
    return EXIT_OK;
  }
  if (!v.nanoclaw) throw new UsageError('--nanoclaw DIR is required');
  await uninstall({
    nanoclawDir: v.nanoclaw,
    dryRun: v['dry-run'],
    paths: homePaths(),
    log: (l) => process.stdout.write(`${l}\n`),
  });
  return EXIT_OK;
}
