// The hooks the transport calls for every flow, in the order of an exchange (after mitmproxy's
// http_connect / requestheaders / responseheaders / websocket_message / error): policy lives in small
// hook modules (hooks/), the transport (guardian-proxy.ts, tunnel.ts, websocket-relay.ts) only moves
// bytes and asks. Every path (plain HTTP, blind CONNECT, inspected CONNECT, WebSocket over each) calls
// the same chain, so a policy written once holds on all of them.
import type http from 'node:http';
import type { ResponseHead } from './http1/response-parser.js';
import type { BodyTap } from './forward-request.js';
import type { Flow } from './flow.js';

/** An answer the guardian gives in place of the upstream (a refusal, the self-probe). */
export interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Answered by the guardian itself for its own sake (self-probe): counted in no traffic counter. */
  local?: boolean;
}

export type UpstreamError = Error & { code?: string };

export interface ProxyHook {
  /** A CONNECT, before any byte goes anywhere. An answer refuses the tunnel. */
  connect?(flow: Flow, req: http.IncomingMessage): Answer | void;
  /**
   * A request head (plain, decrypted from a tunnel, or a WebSocket upgrade), before it is forwarded. An
   * answer is sent instead of forwarding; a tap receives the request body after it was forwarded.
   */
  requestHeaders?(flow: Flow, req: http.IncomingMessage, hasBody: boolean): Answer | BodyTap | null | void;
  /** A response head; a tap receives the response body after it was forwarded. */
  responseHeaders?(flow: Flow, head: ResponseHead): BodyTap | null | void;
  /** The server name (SNI) a client asked for inside a tunnel, inspected or blind. */
  serverName?(flow: Flow, name: string): void;
  /**
   * A tunnel that carries neither TLS nor HTTP (or whose server speaks first): the tap for one direction of
   * its raw bytes, which it gets after they were passed on.
   */
  rawStream?(flow: Flow, fromServer: boolean): BodyTap | null | void;
  /** One whole WebSocket message, after it was relayed. */
  webSocketMessage?(flow: Flow, fromServer: boolean, data: Buffer): void;
  /** The upstream side failed (connect, TLS, reset, malformed answer, WebSocket error). */
  error?(flow: Flow, err: UpstreamError): void;
}

export function isAnswer(x: Answer | BodyTap | null): x is Answer {
  return x !== null && typeof (x as Answer).status === 'number';
}

/** Both taps get every chunk. */
function bothTaps(a: BodyTap, b: BodyTap): BodyTap {
  return {
    write: (c) => {
      a.write(c);
      b.write(c);
    },
    end: (complete) => {
      a.end(complete);
      b.end(complete);
    },
  };
}

/** Runs hooks in order; the first answer wins and later hooks are not asked. */
export class HookChain {
  private readonly connectHooks: ProxyHook[];
  private readonly requestHooks: ProxyHook[];
  private readonly responseHooks: ProxyHook[];
  private readonly messageHooks: ProxyHook[];
  private readonly rawHooks: ProxyHook[];
  private readonly nameHooks: ProxyHook[];
  private readonly errorHooks: ProxyHook[];

  constructor(hooks: readonly ProxyHook[]) {
    this.connectHooks = hooks.filter((h) => h.connect);
    this.requestHooks = hooks.filter((h) => h.requestHeaders);
    this.responseHooks = hooks.filter((h) => h.responseHeaders);
    this.messageHooks = hooks.filter((h) => h.webSocketMessage);
    this.rawHooks = hooks.filter((h) => h.rawStream);
    this.nameHooks = hooks.filter((h) => h.serverName);
    this.errorHooks = hooks.filter((h) => h.error);
  }

  connect(flow: Flow, req: http.IncomingMessage): Answer | null {
    for (const h of this.connectHooks) {
      const a = h.connect!(flow, req);
      if (a) return a;
    }
    return null;
  }

  /** The answer that replaces forwarding, else the request body's tap (null: no tap). */
  requestHeaders(flow: Flow, req: http.IncomingMessage, hasBody: boolean): Answer | BodyTap | null {
    let tap: BodyTap | null = null;
    for (const h of this.requestHooks) {
      const r = h.requestHeaders!(flow, req, hasBody);
      if (!r) continue;
      if (isAnswer(r)) return r;
      tap = tap ? bothTaps(tap, r) : r;
    }
    return tap;
  }

  responseHeaders(flow: Flow, head: ResponseHead): BodyTap | null {
    let tap: BodyTap | null = null;
    for (const h of this.responseHooks) {
      const r = h.responseHeaders!(flow, head);
      if (r) tap = tap ? bothTaps(tap, r) : r;
    }
    return tap;
  }

  serverName(flow: Flow, name: string): void {
    for (const h of this.nameHooks) h.serverName!(flow, name);
  }

  rawStream(flow: Flow, fromServer: boolean): BodyTap | null {
    let tap: BodyTap | null = null;
    for (const h of this.rawHooks) {
      const r = h.rawStream!(flow, fromServer);
      if (r) tap = tap ? bothTaps(tap, r) : r;
    }
    return tap;
  }

  webSocketMessage(flow: Flow, fromServer: boolean, data: Buffer): void {
    for (const h of this.messageHooks) h.webSocketMessage!(flow, fromServer, data);
  }

  error(flow: Flow, err: UpstreamError): void {
    for (const h of this.errorHooks) h.error!(flow, err);
  }
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  407: 'Proxy Authentication Required',
  502: 'Bad Gateway',
  508: 'Loop Detected',
};

/** An answer as raw HTTP/1.1 bytes for a socket (CONNECT, upgrade), closing the connection. */
export function rawAnswer(a: Answer): string {
  const body = a.body ?? '';
  let head = `HTTP/1.1 ${a.status} ${REASONS[a.status] ?? 'Error'}\r\n`;
  for (const [k, v] of Object.entries(a.headers ?? {})) head += `${k}: ${v}\r\n`;
  return `${head}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** Writes an answer on a ServerResponse and closes the connection after it. */
export function sendAnswer(res: http.ServerResponse, req: http.IncomingMessage, a: Answer): void {
  const body = a.body ?? '';
  res.writeHead(a.status, { ...a.headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' });
  res.end(body);
  req.resume();
}
