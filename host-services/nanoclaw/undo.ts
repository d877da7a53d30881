// Undoing one recorded install step. Every undo tolerates a step that was recorded but never (or only
// half) carried out, so a failed install and a later uninstall both work from the same manifest.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { GroupRegistry } from '../group-registry.js';
import type { HomePaths } from '../home.js';
import type { CommandRunner } from './commands-runner.js';
import type { Step } from './manifest.js';
import { MCP_SERVER_NAME } from './paths.js';
import type { Ncl } from './ncl.js';
import { BEGIN, removeRunnerPatch } from './runner-patch.js';
import { writeAtomic } from './write-atomic.js';

export const sha256 = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

export interface UndoContext {
  paths: HomePaths;
  ncl: Ncl;
  commands: CommandRunner;
  log: (line: string) => void;
}

export function describeUndo(s: Step): string {
  switch (s.kind) {
    case 'file-created':
      return `remove ${s.path}`;
    case 'file-patched':
      return `restore ${s.path} (remove the marked blocks)`;
    case 'file-replaced':
      return s.backup ? `restore ${s.path} from ${s.backup}` : `remove ${s.path}`;
    case 'dir-created':
      return `remove ${s.path}`;
    case 'group-credential':
      return `revoke group ${s.folder}'s proxy credential`;
    case 'mcp-registered':
      return `unregister the ${MCP_SERVER_NAME} MCP server from group ${s.folder} (ncl groups config remove-mcp-server --id ${s.id})`;
    case 'guardian-service':
      return `stop and remove the guardian's ${s.manager} service ${s.name}`;
  }
}

export async function undoStep(s: Step, c: UndoContext): Promise<void> {
  switch (s.kind) {
    case 'file-created': {
      if (!existsSync(s.path)) return;
      const cur = readFileSync(s.path);
      // Ours when unchanged, or when it still carries our marker on its first line (NanoClaw's pre-commit
      // hook may have reformatted it; it is still the file install added).
      if (sha256(cur) !== s.sha256 && !cur.toString('utf8').startsWith(BEGIN)) {
        c.log(`  keep ${s.path}: it was edited after install and no longer carries the install marker`);
        return;
      }
      rmSync(s.path);
      return;
    }
    case 'file-patched': {
      if (!existsSync(s.path)) return;
      const cur = readFileSync(s.path, 'utf8');
      if (sha256(cur) === s.original_sha256) return;
      if (sha256(cur) === s.patched_sha256 && existsSync(s.backup)) {
        writeAtomic(s.path, readFileSync(s.backup));
      } else {
        // Changed since install (by NanoClaw, the user or a formatter): remove only our marked blocks.
        writeAtomic(s.path, removeRunnerPatch(cur));
      }
      return;
    }
    case 'file-replaced':
      if (s.backup && existsSync(s.backup)) writeAtomic(s.path, readFileSync(s.backup), 0o600);
      else rmSync(s.path, { force: true });
      return;
    case 'dir-created':
      if (!existsSync(s.path)) return;
      // Directories under the guardian home are ours with their content; one in the NanoClaw tree is
      // removed only once empty (its files are undone one by one).
      if (s.path.startsWith(c.paths.root + path.sep)) rmSync(s.path, { recursive: true, force: true });
      else if (readdirSync(s.path).length === 0) rmdirSync(s.path);
      return;
    case 'group-credential': {
      const registry = GroupRegistry.load(c.paths.groupsFile);
      if (registry.remove(s.folder)) registry.save();
      return;
    }
    case 'mcp-registered':
      await c.ncl.removeMcpServer(s.id, MCP_SERVER_NAME);
      return;
    case 'guardian-service':
      if (s.manager === 'systemd-user' || s.manager === 'systemd-system') {
        const ctl = s.manager === 'systemd-user' ? ['systemctl', '--user'] : ['systemctl'];
        c.commands.run([{ argv: [...ctl, 'disable', '--now', s.name], optional: true }]);
        rmSync(s.file, { force: true });
        c.commands.run([{ argv: [...ctl, 'daemon-reload'], optional: true }]);
      } else if (s.manager === 'launchd') {
        c.commands.run([{ argv: ['launchctl', 'unload', s.file], optional: true }]);
        rmSync(s.file, { force: true });
      } else {
        c.commands.run([{ argv: [process.execPath, guardianCli(), 'stop'], optional: true }]);
        rmSync(s.file, { force: true });
      }
      return;
  }
}

/** This package's CLI entry, for commands that run the guardian. */
export function guardianCli(): string {
  return new URL('../cli.js', import.meta.url).pathname;
}
