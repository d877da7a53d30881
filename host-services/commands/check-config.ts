// `traffic-guardian check-config [FILE]`: validates a config without starting anything.
import { parseArgs } from 'node:util';
import { homePaths } from '../home.js';
import { displayableConfig, formatConfigErrors, loadConfig } from '../config-file.js';
import { EXIT_FAIL, EXIT_OK } from '../cli-errors.js';

export const CHECK_CONFIG_HELP = `Usage: traffic-guardian check-config [FILE] [--json]

Validates a config file (default: <home>/config.json, else the embedded defaults) and prints
the effective configuration (proxy credentials masked). Exit 1 with one line per problem, each naming the key.`;

export function runCheckConfig(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) {
    out.write(`${CHECK_CONFIG_HELP}\n`);
    return EXIT_OK;
  }
  const r = loadConfig(positionals[0], homePaths().config);
  if (values.json) {
    out.write(
      `${JSON.stringify(r.ok ? { ok: true, source: r.source, config: displayableConfig(r.config) } : r, null, 2)}\n`,
    );
    return r.ok ? EXIT_OK : EXIT_FAIL;
  }
  if (!r.ok) {
    err.write(`${formatConfigErrors(r)}\n`);
    return EXIT_FAIL;
  }
  out.write(`config OK (${r.source})\n${JSON.stringify(displayableConfig(r.config), null, 2)}\n`);
  return EXIT_OK;
}
