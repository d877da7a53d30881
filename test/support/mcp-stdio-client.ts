// A second MCP client, written from the protocol rather than taken from the SDK: newline-delimited
// JSON-RPC 2.0 over a child's stdin/stdout, the `initialize` handshake, `notifications/initialized`,
// then `tools/list` and `tools/call`. It proves the server speaks MCP to clients other than the SDK's
// own (the MCP Inspector's CLI was too heavy a devDependency: a web UI, vite, react and a native keyring).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface RawToolResult {
  isError?: boolean;
  content: { type: string; text?: string }[];
  structuredContent?: unknown;
}

interface RpcAnswer {
  jsonrpc: '2.0';
  id: number;
  result?: unknown;
  error?: { code: number; message: string };
}

export class RawMcpClient {
  private nextId = 1;
  private buffer = '';
  private readonly waiting = new Map<number, (a: RpcAnswer) => void>();
  /** Every line the server wrote to stdout (each must be a JSON-RPC message). */
  readonly lines: string[] = [];
  serverInfo: unknown;
  protocolVersion = '';

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      this.buffer += d;
      for (let nl = this.buffer.indexOf('\n'); nl !== -1; nl = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        if (line.trim() === '') continue;
        this.lines.push(line);
        const msg = JSON.parse(line) as RpcAnswer;
        if (typeof msg.id === 'number') this.waiting.get(msg.id)?.(msg);
      }
    });
  }

  static async start(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<RawMcpClient> {
    const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr.resume();
    const c = new RawMcpClient(child);
    const init = (await c.request('initialize', {
      protocolVersion: '2025-06-18',
      capabilities: {},
      clientInfo: { name: 'raw-test-client', version: '0.0.0' },
    })) as { protocolVersion: string; serverInfo: unknown; capabilities: { tools?: unknown } };
    if (!init.capabilities.tools) throw new Error('server announced no tools capability');
    c.protocolVersion = init.protocolVersion;
    c.serverInfo = init.serverInfo;
    c.notify('notifications/initialized');
    return c;
  }

  private send(msg: object): void {
    this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', ...msg })}\n`);
  }

  notify(method: string, params?: object): void {
    this.send({ method, ...(params ? { params } : {}) });
  }

  /** One request; rejects with the JSON-RPC error's message, or after `ms`. */
  request(method: string, params: object = {}, ms = 20_000): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${method} within ${ms} ms`)), ms);
      this.waiting.set(id, (a) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        if (a.error) reject(new Error(`${a.error.code}: ${a.error.message}`));
        else resolve(a.result);
      });
      this.send({ id, method, params });
    });
  }

  async listTools(): Promise<{ name: string; title?: string; annotations?: Record<string, unknown> }[]> {
    return ((await this.request('tools/list')) as { tools: { name: string }[] }).tools;
  }

  async callTool(name: string, args: Record<string, unknown> = {}): Promise<RawToolResult> {
    return (await this.request('tools/call', { name, arguments: args })) as RawToolResult;
  }

  /** Closes stdin (the MCP way to end a stdio server) and resolves with its exit code. */
  async close(): Promise<number | null> {
    const exited = new Promise<number | null>((r) => this.child.once('exit', (code) => r(code)));
    this.child.stdin.end();
    return exited;
  }
}
