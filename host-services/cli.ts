#!/usr/bin/env node
// traffic-guardian: the operator's command line. Each command lives in host-services/commands/ and
// is loaded only when used, so `scan` or `mcp` never load the proxy or CA code.
import { UsageError, EXIT_USAGE, EXIT_FAIL } from './cli-errors.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; run: Command }> = {
  start: {
    summary: 'run the guardian in the foreground (--config F, --mitm|--no-mitm, --port N)',
    run: async (a) => (await import('./commands/start.js')).runStart(a),
  },
  stop: {
    summary: 'stop the running guardian',
    run: async (a) => (await import('./commands/stop.js')).runStop(a),
  },
  status: {
    summary: 'show whether it runs, its listener, mode, counters (--json)',
    run: async (a) => (await import('./commands/status.js')).runStatus(a),
  },
  findings: {
    summary: 'list findings, newest first (--limit N, --json, --follow, filters)',
    run: async (a) => (await import('./commands/findings.js')).runFindings(a),
  },
  scan: {
    summary: 'scan a captured body offline (FILE|- --direction outbound|inbound)',
    run: async (a) => (await import('./commands/scan.js')).runScan(a, process.stdout, process.stdin),
  },
  'check-config': {
    summary: 'validate a config file without starting anything',
    run: async (a) => (await import('./commands/check-config.js')).runCheckConfig(a, process.stdout, process.stderr),
  },
  ca: {
    summary: 'print the CA certificate path, fingerprint and trust commands (runs none)',
    run: async (a) => (await import('./commands/ca.js')).runCa(a),
  },
  mcp: {
    summary: 'run the container-side MCP stdio server (--socket PATH)',
    run: async (a) => (await import('./commands/mcp.js')).runMcp(a),
  },
  install: {
    summary: 'wire a NanoClaw v2 checkout, build and restart it (--nanoclaw DIR --group F ... [--manual] [--dry-run])',
    run: async (a) => (await import('./commands/install.js')).runInstall(a),
  },
  uninstall: {
    summary: 'reverse exactly what install did (also a failed install), then rebuild and restart NanoClaw',
    run: async (a) => (await import('./commands/install.js')).runUninstall(a),
  },
  doctor: {
    summary: 'check every link of the NanoClaw wiring (--nanoclaw DIR [--group F] [--json])',
    run: async (a) => (await import('./commands/doctor.js')).runDoctor(a),
  },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'Usage: traffic-guardian <command> [options]',
    '',
    'Watches AI agents\u2019 HTTP/HTTPS traffic for secret exfiltration and injection; logs redacted findings.',
    'Detect-and-log only: it never blocks traffic.',
    '',
    'Commands:',
    ...lines,
    '',
    'State lives under $NANOCLAW_TRAFFIC_GUARDIAN_HOME (default ~/.config/nanoclaw/traffic-guardian).',
    'Run `traffic-guardian <command> --help` for a command\u2019s options.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${help()}\n`);
    return name === undefined ? EXIT_USAGE : 0;
  }
  if (name === '--version' || name === '-v') {
    const { readFileSync } = await import('node:fs');
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    process.stderr.write(`traffic-guardian: unknown command "${name}"\n\n${help()}\n`);
    return EXIT_USAGE;
  }
  try {
    return await cmd.run(rest);
  } catch (err) {
    const e = err as Error & { code?: string };
    // parseArgs throws TypeErrors with ERR_PARSE_ARGS_* codes for unknown or malformed options.
    if (err instanceof UsageError || (typeof e.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`traffic-guardian ${name}: ${e.message}\nRun \`traffic-guardian ${name} --help\`.\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`traffic-guardian ${name}: ${e.message}\n`);
    return EXIT_FAIL;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`traffic-guardian: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = EXIT_FAIL;
  },
);
