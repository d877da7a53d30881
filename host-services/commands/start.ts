// `traffic-guardian start`: runs the guardian in the foreground until SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { homePaths } from '../home.js';
import { formatConfigErrors, loadConfig, validateConfigValue } from '../config-file.js';
import { EXIT_FAIL, EXIT_OK, UsageError } from '../cli-errors.js';
import { GuardianService } from '../guardian-service.js';
import { stderrLogger } from '../logger.js';

export const START_HELP = `Usage: traffic-guardian start [--config FILE] [--mitm|--no-mitm] [--port N] [--host ADDR]

Runs the guardian in the foreground. Without --config it reads <home>/config.json if present,
else the embedded defaults (127.0.0.1:8888, HTTPS inspection off). SIGINT/SIGTERM stop it cleanly.

Options:
  --config FILE   JSON config (see \`traffic-guardian check-config\`)
  --mitm          turn HTTPS inspection on (creates the CA on first use)
  --no-mitm       turn HTTPS inspection off: CONNECT is a blind tunnel, destinations recorded
  --port N        listener port (0 = any free port)
  --host ADDR     listener address (non-loopback needs allowed_clients in the config)`;

export async function runStart(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      mitm: { type: 'boolean' },
      'no-mitm': { type: 'boolean' },
      port: { type: 'string' },
      host: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${START_HELP}\n`);
    return EXIT_OK;
  }
  if (values.mitm && values['no-mitm']) throw new UsageError('--mitm and --no-mitm contradict each other');
  const paths = homePaths();
  const loaded = loadConfig(values.config, paths.config);
  if (!loaded.ok) {
    process.stderr.write(`${formatConfigErrors(loaded)}\n`);
    return EXIT_FAIL;
  }
  // Command-line overrides go through the same validation as the file.
  const merged: Record<string, unknown> = { ...loaded.config };
  if (values.mitm) merged.https_inspection = true;
  if (values['no-mitm']) merged.https_inspection = false;
  if (values.port !== undefined) {
    if (!/^\d+$/.test(values.port))
      throw new UsageError(`--port must be a number from 0 to 65535, got "${values.port}"`);
    merged.proxy_port = Number(values.port);
  }
  if (values.host !== undefined) merged.proxy_host = values.host;
  const checked = validateConfigValue(merged);
  if (!checked.ok) {
    process.stderr.write(
      `${formatConfigErrors({ errors: checked.errors, source: `${loaded.source} + command line` })}\n`,
    );
    return EXIT_FAIL;
  }

  const log = stderrLogger();
  const svc = await GuardianService.start({ config: checked.config, paths, log });
  process.stdout.write(`${svc.describeStartup()}\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        log('warn', `${sig} again: exiting without waiting`);
        process.exit(EXIT_FAIL);
      }
      stopping = true;
      log('info', `${sig} received, stopping (flushing findings)`);
      svc.stop().then(
        () => {
          log('info', 'stopped');
          resolve(EXIT_OK);
        },
        (err: Error) => {
          log('error', `stop failed: ${err.message}`);
          resolve(EXIT_FAIL);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
