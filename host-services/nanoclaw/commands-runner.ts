// Runs (or, with --manual, only prints) the commands install and uninstall need: NanoClaw's build, its
// restart, the guardian's service. Output is captured and only its tail is shown on failure.
import { execFileSync } from 'node:child_process';
import { showCommand, type Command } from './services.js';

export class CommandError extends Error {}

export interface CommandRunner {
  /** Runs each command in order; throws CommandError on the first required one that fails. */
  run(commands: Command[], cwd?: string): void;
}

export function commandRunner(log: (line: string) => void, manual: boolean): CommandRunner {
  return {
    run(commands, cwd) {
      for (const c of commands) {
        if (manual) {
          log(`  ${cwd ? `(cd ${cwd} && ${showCommand(c)})` : showCommand(c)}`);
          continue;
        }
        log(`run: ${showCommand(c)}${cwd ? ` (in ${cwd})` : ''}`);
        try {
          execFileSync(c.argv[0]!, c.argv.slice(1), {
            cwd,
            stdio: ['ignore', 'pipe', 'pipe'],
            timeout: 15 * 60_000,
            maxBuffer: 64 * 1024 * 1024,
          });
        } catch (err) {
          const e = err as { stdout?: Buffer; stderr?: Buffer; message: string; code?: string };
          const out = `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`.trim().split('\n').slice(-15);
          const why = e.code === 'ENOENT' ? `${c.argv[0]} is not installed or not on PATH` : e.message.split('\n')[0];
          if (c.optional) {
            log(`  (ignored: ${why})`);
            continue;
          }
          throw new CommandError(
            `\`${showCommand(c)}\` failed: ${why}${out.length ? `\n    ${out.join('\n    ')}` : ''}`,
          );
        }
      }
    },
  };
}
