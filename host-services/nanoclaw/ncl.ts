// NanoClaw's own CLI, the supported way to register an MCP server for a group. It talks to the
// running NanoClaw host over data/ncl.sock, so NanoClaw must be running for install to register.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';

const run = promisify(execFile);

const FrameSchema = z.union([
  z.object({ ok: z.literal(true), data: z.unknown() }).passthrough(),
  z.object({ ok: z.literal(false), error: z.object({ message: z.string() }).passthrough() }).passthrough(),
]);

export class NclError extends Error {}

export class Ncl {
  constructor(private readonly nanoclawDir: string) {}

  private async call(args: string[]): Promise<unknown> {
    const bin = path.join(this.nanoclawDir, 'bin', 'ncl');
    let stdout: string;
    try {
      ({ stdout } = await run(bin, [...args, '--json'], { cwd: this.nanoclawDir, timeout: 30_000 }));
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      if (e.stdout) stdout = e.stdout;
      else throw new NclError(`ncl ${args.slice(0, 3).join(' ')} failed: ${(e.stderr || e.message).trim()}`);
    }
    let frame: z.infer<typeof FrameSchema>;
    try {
      frame = FrameSchema.parse(JSON.parse(stdout));
    } catch {
      throw new NclError(`ncl ${args.slice(0, 3).join(' ')}: unexpected output`);
    }
    if (!frame.ok) throw new NclError(`ncl ${args.slice(0, 3).join(' ')}: ${frame.error.message}`);
    return frame.data;
  }

  /** The agent group id for a folder under groups/. */
  async groupId(folder: string): Promise<string> {
    const data = await this.call(['groups', 'list', '--folder', folder]);
    const rows = z.array(z.object({ id: z.string(), folder: z.string() }).passthrough()).parse(data);
    const row = rows.find((r) => r.folder === folder);
    if (!row) throw new NclError(`no NanoClaw agent group with folder "${folder}"`);
    return row.id;
  }

  async addMcpServer(
    id: string,
    name: string,
    command: string,
    args: string[],
    env: Record<string, string>,
  ): Promise<void> {
    await this.call([
      'groups',
      'config',
      'add-mcp-server',
      '--id',
      id,
      '--name',
      name,
      '--command',
      command,
      '--args',
      JSON.stringify(args),
      '--env',
      JSON.stringify(env),
    ]);
  }

  /** Removes the server; an already-absent server is not an error (uninstall must be idempotent). */
  async removeMcpServer(id: string, name: string): Promise<void> {
    try {
      await this.call(['groups', 'config', 'remove-mcp-server', '--id', id, '--name', name]);
    } catch (err) {
      if (!/not found/i.test((err as Error).message)) throw err;
    }
  }
}
