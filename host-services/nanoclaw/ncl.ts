// NanoClaw's own CLI, the supported way to read a group and register an MCP server for it. It talks to
// the running NanoClaw host over data/ncl.sock, so the host must be running; `bin/ncl` runs through pnpm.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';

const run = promisify(execFile);

const FrameSchema = z.union([
  z.object({ ok: z.literal(true), data: z.unknown() }).passthrough(),
  z.object({ ok: z.literal(false), error: z.object({ message: z.string() }).passthrough() }).passthrough(),
]);

const McpServerSchema = z.object({ command: z.string(), args: z.array(z.string()).optional() }).passthrough();
const ContainerConfigSchema = z.object({ mcp_servers: z.record(z.string(), McpServerSchema) }).passthrough();
export type McpServers = z.infer<typeof ContainerConfigSchema>['mcp_servers'];

export class NclError extends Error {
  constructor(
    message: string,
    /** `unreachable`: the host is not running; `no-config`: the group never spawned; `other`. */
    readonly kind: 'unreachable' | 'no-config' | 'not-found' | 'other' = 'other',
  ) {
    super(message);
  }
}

export class Ncl {
  constructor(private readonly nanoclawDir: string) {}

  private async call(args: string[]): Promise<unknown> {
    const bin = path.join(this.nanoclawDir, 'bin', 'ncl');
    const what = `ncl ${args.slice(0, 3).join(' ')}`;
    let stdout: string;
    try {
      ({ stdout } = await run(bin, [...args, '--json'], { cwd: this.nanoclawDir, timeout: 60_000 }));
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string; code?: string };
      if (e.stdout?.trim()) {
        stdout = e.stdout;
      } else {
        const why = (e.stderr || e.message).trim();
        if (/cannot reach NanoClaw host|ECONNREFUSED|ENOENT.*ncl\.sock/.test(why)) {
          throw new NclError(
            `NanoClaw's host is not running (${what} cannot reach ${path.join(this.nanoclawDir, 'data/ncl.sock')})`,
            'unreachable',
          );
        }
        if (e.code === 'ENOENT') throw new NclError(`${bin} could not be run: ${e.message}`);
        throw new NclError(`${what} failed: ${why.split('\n').slice(-3).join(' ')}`);
      }
    }
    let frame: z.infer<typeof FrameSchema>;
    try {
      frame = FrameSchema.parse(JSON.parse(stdout));
    } catch {
      throw new NclError(`${what}: unexpected output (not an ncl --json frame)`);
    }
    if (!frame.ok) {
      const msg = frame.error.message;
      const kind = /No container config/i.test(msg) ? 'no-config' : /not found/i.test(msg) ? 'not-found' : 'other';
      throw new NclError(`${what}: ${msg}`, kind);
    }
    return frame.data;
  }

  /** The agent group id for a folder under groups/. */
  async groupId(folder: string): Promise<string> {
    const data = await this.call(['groups', 'list', '--folder', folder]);
    const rows = z.array(z.object({ id: z.string(), folder: z.string() }).passthrough()).parse(data);
    const row = rows.find((r) => r.folder === folder);
    if (!row) throw new NclError(`NanoClaw has no agent group with folder "${folder}" (ncl groups list)`, 'not-found');
    return row.id;
  }

  /** The group's MCP servers; NclError kind `no-config` when the group has never spawned. */
  async mcpServers(id: string): Promise<McpServers> {
    const data = await this.call(['groups', 'config', 'get', '--id', id]);
    return ContainerConfigSchema.parse(data).mcp_servers;
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

  /** Removes the server; an already-absent server is not an error (undo must be idempotent). */
  async removeMcpServer(id: string, name: string): Promise<void> {
    try {
      await this.call(['groups', 'config', 'remove-mcp-server', '--id', id, '--name', name]);
    } catch (err) {
      if (!(err instanceof NclError && (err.kind === 'not-found' || err.kind === 'no-config'))) throw err;
    }
  }
}
