// The IPC client: one Unix-socket connection to the host guardian, requests answered in order, every
// answer validated against the protocol schemas (lib/ipc-protocol.ts). It lives on the container side,
// where it runs, because lib/ is pure (no sockets). The host's own clients (`traffic-guardian status`
// and `traffic-guardian mcp`) import it from here: host code may use container-side code, never the
// reverse (eslint.config.js), and the MCP bundle stays free of host code.
import net from 'node:net';
import { z } from 'zod';
import {
  ErrorResponseSchema,
  FrameSplitter,
  IPC_PROTOCOL_VERSION,
  MAX_RESPONSE_FRAME,
  METHODS,
  type Method,
} from '../lib/ipc-protocol.js';

export class IpcError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface IpcClientOptions {
  socketPath: string;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
}

type Result<M extends Method> = z.infer<(typeof METHODS)[M]['result']>;

export class IpcClient {
  private socket: net.Socket | null = null;
  private connecting: Promise<net.Socket> | null = null;
  private nextId = 1;
  /** Requests waiting for an answer, each with the connection it was sent on. */
  private readonly pending = new Map<number, { socket: net.Socket; done: (frame: unknown) => void }>();

  /** The waiters of one connection, oldest first. */
  private waitersOf(s: net.Socket): ((frame: unknown) => void)[] {
    return [...this.pending.values()].filter((p) => p.socket === s).map((p) => p.done);
  }
  private helloChecked = false;

  constructor(private readonly opts: IpcClientOptions) {}

  private connect(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const p = this.opts.socketPath;
      const ms = this.opts.connectTimeoutMs ?? 2000;
      const s = net.connect(p);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new IpcError(`timed out after ${ms} ms connecting to the guardian at ${p}`, 'timeout'));
      }, ms);
      s.once('connect', () => {
        clearTimeout(timer);
        this.attach(s);
        resolve(s);
      });
      s.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const why =
          err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'guardian not running' : 'cannot reach guardian';
        reject(new IpcError(`${why} at ${p} (${err.code ?? err.message})`, 'unavailable'));
      });
    }).finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private attach(s: net.Socket): void {
    this.socket = s;
    this.helloChecked = false;
    const splitter = new FrameSplitter(MAX_RESPONSE_FRAME);
    s.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) {
        if (line === null) {
          // Answers come in request order, so an answer too large to read is the oldest pending one's.
          this.waitersOf(s)[0]?.(
            new IpcError(`answer larger than ${MAX_RESPONSE_FRAME} bytes from the guardian`, 'protocol'),
          );
          continue;
        }
        let frame: unknown = null;
        try {
          frame = JSON.parse(line);
        } catch {
          frame = null;
        }
        const id = (frame as { id?: unknown } | null)?.id;
        const waiter = typeof id === 'number' ? this.pending.get(id) : undefined;
        if (waiter?.socket === s) waiter.done(frame);
      }
    });
    // Only this connection's state: after close() and a reconnect, the old socket's late 'close' event
    // must not touch the new connection or its requests.
    const fail = () => {
      if (this.socket === s) this.socket = null;
      for (const w of this.waitersOf(s)) w(new IpcError('connection to the guardian closed', 'unavailable'));
    };
    s.on('close', fail);
    s.on('error', () => s.destroy());
  }

  /**
   * Sends one request and resolves with its validated result. Rejects with an IpcError: code
   * `unavailable` (not running), `timeout`, `version`, `protocol` (malformed answer) or the server's
   * error code. The first request on each connection is preceded by `hello` to check the version.
   */
  async request<M extends Method>(method: M, params?: unknown, opts: { timeoutMs?: number } = {}): Promise<Result<M>> {
    const reused = this.socket !== null && !this.socket.destroyed;
    try {
      return await this.requestOnce(method, params, opts);
    } catch (err) {
      // Every method only reads, so a request cut off because the server closed an idle connection
      // just as it was sent is sent once more, on a fresh connection.
      if (reused && err instanceof IpcError && err.code === 'unavailable' && err.message.includes('closed')) {
        return this.requestOnce(method, params, opts);
      }
      throw err;
    }
  }

  private async requestOnce<M extends Method>(
    method: M,
    params: unknown,
    opts: { timeoutMs?: number },
  ): Promise<Result<M>> {
    const socket = await this.connect();
    if (!this.helloChecked && method !== 'hello') {
      const hello = await this.requestOnce('hello', {}, opts);
      if (hello.protocol_version !== IPC_PROTOCOL_VERSION) {
        throw new IpcError(
          `guardian speaks IPC protocol ${hello.protocol_version}, this client ${IPC_PROTOCOL_VERSION}: update one of them`,
          'version',
        );
      }
      this.helloChecked = true;
    }
    const id = this.nextId++;
    const ms = opts.timeoutMs ?? this.opts.requestTimeoutMs ?? 5000;
    const frame = await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new IpcError(`timed out after ${ms} ms waiting for ${method}`, 'timeout'));
      }, ms);
      this.pending.set(id, {
        socket,
        done: (f) => {
          clearTimeout(timer);
          this.pending.delete(id);
          if (f instanceof IpcError) reject(f);
          else resolve(f);
        },
      });
      if (socket.destroyed) {
        this.pending.get(id)?.done(new IpcError('connection to the guardian closed', 'unavailable'));
        return;
      }
      socket.write(`${JSON.stringify({ id, method, params: params ?? {} })}\n`);
    });
    const err = ErrorResponseSchema.safeParse(frame);
    if (err.success) throw new IpcError(`${method}: ${err.data.error.message}`, err.data.error.code);
    const ok = z.object({ id: z.number(), ok: z.literal(true), result: METHODS[method].result }).safeParse(frame);
    if (!ok.success) throw new IpcError(`${method}: malformed answer from the guardian`, 'protocol');
    return ok.data.result as Result<M>;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = null;
  }
}
