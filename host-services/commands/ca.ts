// `traffic-guardian ca [--create] [--json]`: shows the CA certificate path, SHA-256 fingerprint, validity
// and per-runtime trust commands. It prints those commands and runs none.
import { parseArgs } from 'node:util';
import { homePaths } from '../home.js';
import { loadOrCreateCa } from '../ca.js';
import { trustInstructions } from '../trust-instructions.js';
import { EXIT_FAIL, EXIT_OK, UsageError } from '../cli-errors.js';

export const CA_HELP = `Usage: traffic-guardian ca [--create] [--json]

Prints the path and SHA-256 fingerprint of the CA certificate the guardian signs inspected
HTTPS traffic with, its validity, and the commands that make a client trust it. The
commands are printed only; this never changes any trust store.

The CA is created under $NANOCLAW_TRAFFIC_GUARDIAN_HOME/ca/ on the first \`start --mitm\`.

Options:
  --create     create the CA now if it does not exist yet
  --json       print {"cert_path", "fingerprint256", "not_after", "exists"}
  -h, --help   this help

Exit status: 0 the CA exists, 1 no CA yet (or it could not be loaded), 2 usage error.`;

export async function runCa(
  argv: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  let values: { json: boolean; create: boolean; help: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean', default: false },
        create: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) {
    out.write(`${CA_HELP}\n`);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`ca takes no arguments, got "${positionals[0]}"`);

  const paths = homePaths();
  let ca = loadOrCreateCa(paths, { create: false });
  const existed = ca !== null;
  if (!ca && values.create) ca = loadOrCreateCa(paths, { create: true });

  if (values.json) {
    const body = ca
      ? {
          cert_path: ca.certPath,
          fingerprint256: ca.fingerprint256,
          not_after: ca.notAfter.toISOString(),
          exists: true,
        }
      : { cert_path: paths.caCert, fingerprint256: null, not_after: null, exists: false };
    out.write(`${JSON.stringify(body, null, 2)}\n`);
    return ca ? EXIT_OK : EXIT_FAIL;
  }
  if (!ca) {
    err.write(
      `No CA yet: it is created under ${paths.caDir} on the first \`traffic-guardian start --mitm\`.\n` +
        'Run `traffic-guardian ca --create` to create it now.\n',
    );
    return EXIT_FAIL;
  }
  const daysLeft = Math.floor((ca.notAfter.getTime() - Date.now()) / 86_400_000);
  out.write(
    [
      ...(existed ? [] : [`Created a new CA in ${paths.caDir} (private keys mode 0600, directory 0700).`, '']),
      `Certificate:          ${ca.certPath}`,
      `Subject:              ${ca.subject}`,
      `SHA-256 fingerprint:  ${ca.fingerprint256}`,
      `Valid:                ${ca.notBefore.toISOString()} to ${ca.notAfter.toISOString()} (${daysLeft} days left)`,
      '',
      trustInstructions(ca.certPath, ca.fingerprint256),
    ].join('\n'),
  );
  return EXIT_OK;
}
