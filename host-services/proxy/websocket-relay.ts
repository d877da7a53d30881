// The WebSocket relay, on `ws`'s public API: the client's upgrade is accepted at once (as a browser-like
// client expects), the upstream WebSocket is opened to the flow's target, and the client side is paused
// until it opens. Messages are relayed whole, each one after it went on; whichever side ends or fails,
// the other one is ended too (an upstream that fails or ends abnormally is told to the client as 1014,
// bad gateway).
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Flow } from './flow.js';
import type { HookChain } from './hooks.js';

export interface RelayOptions {
  hooks: HookChain;
  /** The agent for the upstream handshake (TLS trust, chaining). */
  /** The agent for the flow's route (its group may have its own upstream proxy). */
  agentFor: (secure: boolean, flow: Flow) => http.Agent;
  log: (level: 'warn', msg: string) => void;
}

/** Request headers that belong to the client's handshake or hop; the upstream handshake is ws's own. */
const NOT_FORWARDED = new Set([
  'connection',
  'upgrade',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
]);

/** Close codes a WebSocket endpoint may send (1005 "no status" and 1006 "abnormal" are only ever observed). */
function sendableCloseCode(code: number | undefined): code is number {
  if (code === undefined) return false;
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999)
  );
}

/**
 * Ends one side: a close handshake when it is open, otherwise an abort. A paused side is resumed first,
 * or it would never read the peer's close reply (or its FIN) and the connection would outlive both ends.
 */
function endWebSocket(ws: WebSocket, code: number | undefined, reason?: Buffer): void {
  if (ws.readyState === WebSocket.CONNECTING) {
    ws.terminate();
    return;
  }
  if (ws.readyState !== WebSocket.OPEN) return;
  if (ws.isPaused) ws.resume();
  try {
    if (sendableCloseCode(code)) ws.close(code, reason && reason.length <= 123 ? reason : undefined);
    else ws.close();
  } catch {
    ws.terminate();
  }
}

function asBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function forwardedHeaders(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (NOT_FORWARDED.has(name)) continue;
    out[name] = out[name] === undefined ? raw[i + 1]! : `${out[name]}, ${raw[i + 1]}`;
  }
  return out;
}

export class WebSocketRelay {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly upstreams = new Set<WebSocket>();

  constructor(private readonly o: RelayOptions) {
    this.wss.on('error', (err) => o.log('warn', `websocket server: ${err.message}`));
  }

  /** Accepts the client's upgrade (its flow already passed the request hooks) and relays it to the target. */
  accept(flow: Flow, secure: boolean, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (client) => this.relay(flow, secure, req, client));
  }

  /** Ends every relayed WebSocket (both sides). */
  close(): void {
    for (const c of this.wss.clients) c.terminate();
    for (const u of this.upstreams) u.terminate();
    this.wss.close();
  }

  private relay(flow: Flow, secure: boolean, req: http.IncomingMessage, client: WebSocket): void {
    client.pause();
    const protocols = (req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    let upstream: WebSocket;
    try {
      upstream = new WebSocket(`${secure ? 'wss' : 'ws'}://${flow.dest}${flow.path}`, protocols, {
        agent: this.o.agentFor(secure, flow),
        headers: forwardedHeaders(req),
        perMessageDeflate: false,
        followRedirects: false,
        handshakeTimeout: 30_000,
      });
    } catch (err) {
      // The error's message may quote the URL (and a token in it): its name only.
      this.o.log('warn', `websocket from ${flow.client} dropped: ${(err as Error).name}`);
      client.terminate();
      return;
    }
    this.upstreams.add(upstream);
    let failed = false;
    upstream.on('open', () => client.resume());
    client.on('message', (data, isBinary) => {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: isBinary });
      this.o.hooks.webSocketMessage(flow, false, asBuffer(data));
    });
    upstream.on('message', (data, isBinary) => {
      if (client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
      this.o.hooks.webSocketMessage(flow, true, asBuffer(data));
    });
    client.on('close', (code, reason) => endWebSocket(upstream, code, reason));
    upstream.on('close', (code, reason) => {
      this.upstreams.delete(upstream);
      // An abnormal upstream end (1006) is told to the client as a bad gateway.
      endWebSocket(client, code === 1006 ? 1014 : code, reason);
    });
    upstream.on('error', (err: Error & { code?: string }) => {
      if (failed) return;
      failed = true;
      this.o.hooks.error(flow, err);
      endWebSocket(client, 1014);
      endWebSocket(upstream, 1011);
    });
    client.on('error', () => endWebSocket(upstream, 1011));
  }
}
