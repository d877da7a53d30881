// `traffic-guardian doctor --nanoclaw DIR [--group F] [--json]`: exit 0 only when every link holds.
import { parseArgs } from 'node:util';
import { homePaths } from '../home.js';
import { doctor, formatChecks } from '../nanoclaw/doctor.js';
import { hostFacts } from '../nanoclaw/services.js';
import { EXIT_FAIL, EXIT_OK, UsageError } from '../cli-errors.js';

export const DOCTOR_HELP = `Usage: traffic-guardian doctor --nanoclaw DIR [--group FOLDER] [--json]

Checks every link between NanoClaw and the guardian and says what to run for each that fails:
the install is recorded; the guardian runs and is reachable where containers connect; NanoClaw's dist/
carries the patch and its host was restarted after the build; for each wired group, its MCP server is
registered, its wiring file and credential are valid, the container's uid can open its status socket,
its CA bundles cover the guardian's CA, OneCLI's CA and the public roots, and a probe through the proxy
with its credential is seen by the guardian. Exit 0 only when every check holds.`;

export async function runDoctor(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      nanoclaw: { type: 'string' },
      group: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (v.help) {
    process.stdout.write(`${DOCTOR_HELP}\n`);
    return EXIT_OK;
  }
  if (!v.nanoclaw) throw new UsageError('--nanoclaw DIR is required');
  const checks = await doctor({ nanoclawDir: v.nanoclaw, group: v.group, paths: homePaths(), host: hostFacts() });
  process.stdout.write(
    v.json ? `${JSON.stringify({ ok: checks.every((c) => c.ok), checks }, null, 2)}\n` : `${formatChecks(checks)}\n`,
  );
  return checks.every((c) => c.ok) ? EXIT_OK : EXIT_FAIL;
}
