// `traffic-guardian install` / `uninstall`: wire a NanoClaw v2 checkout (see host-services/nanoclaw/).
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { homePaths } from '../home.js';
import { install } from '../nanoclaw/install.js';
import { uninstall } from '../nanoclaw/uninstall.js';
import { hostFacts } from '../nanoclaw/services.js';
import { EXIT_OK, UsageError } from '../cli-errors.js';

export const INSTALL_HELP = `Usage: traffic-guardian install --nanoclaw DIR --group FOLDER [--group FOLDER ...]
                                [--mitm | --no-mitm] [--port N] [--listen-host ADDR] [--manual] [--dry-run]
       traffic-guardian uninstall --nanoclaw DIR [--manual] [--dry-run]

install wires a NanoClaw v2 checkout as one transaction. It first checks everything it needs (the
checkout, NanoClaw's host running so ncl answers, each group spawned once, nothing foreign in the way),
records each change in <home>/nanoclaw/install.json before making it, and undoes them all if a step fails.
It then:
  - adds src/traffic-guardian.ts and a marked import and call in src/container-runner.ts (NanoClaw has no
    supported per-group container env), and the skill .claude/skills/add-traffic-guardian/;
  - for each --group: issues proxy credentials, writes the group's wiring (proxy env, CA bundles, MCP
    bundle and status socket, mounted read-only) and registers the MCP server "traffic-guardian" with
    \`ncl groups config add-mcp-server\`;
  - writes the guardian's config (listener on the Docker host gateway, per-group credentials, each group
    chained to its own OneCLI gateway) and runs the guardian as a service beside NanoClaw's;
  - runs NanoClaw's \`pnpm run build\` and restarts NanoClaw's service so the running host uses the change.
uninstall undoes exactly what install recorded (also after a failed install), then rebuilds and restarts.
Check the result with \`traffic-guardian doctor --nanoclaw DIR\`.

Options:
  --nanoclaw DIR       the NanoClaw checkout (required)
  --group FOLDER       an agent group folder under DIR/groups (repeatable); groups not named are untouched
  --mitm, --no-mitm    turn HTTPS inspection on or off (default: keep the config's choice, else off)
  --port N             guardian port (default: proxy_port from the config, else 8888)
  --listen-host ADDR   address containers reach as host.docker.internal (default: the docker0 bridge on
                       Linux, 127.0.0.1 on macOS)
  --manual             do not build, restart or start services: print those commands instead
  --dry-run            print the changes without making any`;

function parse(argv: string[]) {
  const { values } = parseArgs({
    args: argv,
    options: {
      nanoclaw: { type: 'string' },
      group: { type: 'string', multiple: true, default: [] },
      port: { type: 'string' },
      'listen-host': { type: 'string' },
      mitm: { type: 'boolean' },
      'no-mitm': { type: 'boolean' },
      manual: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  return values;
}

const asset = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));

export async function runInstall(argv: string[]): Promise<number> {
  const v = parse(argv);
  if (v.help) {
    process.stdout.write(`${INSTALL_HELP}\n`);
    return EXIT_OK;
  }
  if (!v.nanoclaw) throw new UsageError('--nanoclaw DIR is required');
  if (v.mitm && v['no-mitm']) throw new UsageError('--mitm and --no-mitm contradict each other');
  let port: number | undefined;
  if (v.port !== undefined) {
    port = Number(v.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError('--port must be 1..65535');
  }
  await install({
    nanoclawDir: v.nanoclaw,
    groups: v.group,
    dryRun: v['dry-run'],
    manual: v.manual,
    mitm: v.mitm ? true : v['no-mitm'] ? false : undefined,
    port,
    listenHost: v['listen-host'],
    paths: homePaths(),
    bundleFile: asset('../../mcp-tools/traffic-guardian-mcp.mjs'),
    skillDir: asset('../../../skill/add-traffic-guardian'),
    host: hostFacts(),
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
    manual: v.manual,
    paths: homePaths(),
    host: hostFacts(),
    log: (l) => process.stdout.write(`${l}\n`),
  });
  return EXIT_OK;
}
