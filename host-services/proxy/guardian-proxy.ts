// The inspecting proxy's transport, on node:http, node:tls and `ws` directly: one listener for plain
// requests, CONNECT and upgrades; an inner HTTP server (never listening) for the requests decrypted
// from inspected tunnels. For every exchange it makes a Flow and asks the hooks (hooks.ts) what to do:
// credentials, allow_hosts, the self-probe and scanning are hook modules (hooks/); this file only moves
// bytes. Requests are forwarded by the proxy's own HTTP/1.1 client (forward-request.ts), tunnels are
// tunnel.ts, WebSockets websocket-relay.ts.
import http from 'node:http';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Rule } from '../../lib/rules/rule.js';
import type { Counters } from '../../lib/status-schema.js';
import type { FindingSink } from '../finding-sink.js';
import type { ClientAllowlist } from './client-allowlist.js';
import { formatHostPort, parseHostPort } from './connect-target.js';
import { newFlow, type Flow } from './flow.js';
import { forwardRequest, requestFraming, type ForwardRequest } from './forward-request.js';
import { HookChain, isAnswer, rawAnswer, sendAnswer, type Answer, type ProxyHook } from './hooks.js';
import { allowHostsHook } from './hooks/allow-hosts.js';
import { credentialsHook, type Authenticate } from './hooks/credentials.js';
import { loopHook } from './hooks/loop.js';
import { LOOP_ANSWER, OwnAddress } from './own-address.js';
import { clientHelloServerName } from './sni.js';
import { ScanHook } from './hooks/scan.js';
import { selfProbeHook } from './hooks/self-probe.js';
import { upstreamErrorsHook } from './hooks/upstream-errors.js';
import {
  firstSpeaker,
  openUpstream,
  pipeTunnel,
  sniffTunnel,
  firstBytes,
  ServerContexts,
  terminateTls,
  TLS_HANDSHAKE_TIMEOUT_MS,
  CONNECT_OK,
} from './tunnel.js';
import type { UpstreamProxy } from './upstream-proxy.js';
import type { UpstreamTarget } from './upstream-pool.js';
import { UpstreamRoutes, type GroupRoute } from './upstream-routes.js';
import { pathOf, requestTarget, upgradeTarget } from './request-target.js';
import { WebSocketRelay } from './websocket-relay.js';

export type { AuthResult } from './hooks/credentials.js';
export { TLS_HANDSHAKE_TIMEOUT_MS, CONNECT_OK };

export interface HostCertificateSource {
  certFor(hostname: string): { cert: string; key: string };
}

export interface GuardianProxyOptions {
  host: string;
  port: number;
  /** Present when HTTPS inspection is on. */
  ca: HostCertificateSource | null;
  allowlist: ClientAllowlist;
  /** CA certificates upstream TLS is verified against. */
  upstreamTrust: string[];
  counters: Counters;
  sink: FindingSink;
  rules: { outbound: readonly Rule[]; inbound: readonly Rule[] };
  salt: Buffer;
  maxScanBytes: number;
  /** Worker threads scanning bodies beside forwarding (`scan_workers`); absent or 0: on this thread. */
  scanWorkers?: number;
  /** `scan_backlog_bytes`: bytes copied for the workers and not yet scanned. */
  scanBacklogBytes?: number;
  /** The workers rebuild `rules` as `rulesFor(direction, disabledRules)`. */
  disabledRules?: readonly string[];
  allowHosts: readonly string[];
  /** Checks Proxy-Authorization; absent means no proxy credentials are required. */
  authenticate?: Authenticate;
  /** Every CONNECT destination, inspected or not (blind tunnels are still recorded). */
  onConnectTarget?: (dest: string, client: string, group: string | undefined, inspected: boolean) => void;
  log: (level: 'info' | 'warn' | 'error', msg: string) => void;
  /** Chain everything through this HTTP proxy (e.g. NanoClaw's OneCLI gateway). */
  upstreamProxy?: UpstreamProxy;
  /** A group's own upstream proxy (`group_upstreams`), used instead of `upstreamProxy` for that group. */
  upstreamFor?: (group: string | undefined) => GroupRoute | null;
  /** Time a client has to send a request's headers (default 30 s; lowered by tests). */
  headersTimeoutMs?: number;
  /** The version the self-probe reports. */
  version?: string;
  /** Replaces the HTTP/1.1 client that forwards requests (the benchmark's undici variant). */
  forward?: (f: ForwardRequest) => void;
}

interface ConnInfo {
  client: string;
  /** The CONNECT flow when this socket is (inside) a tunnel. */
  tunnel?: Flow;
  /** Checked once, at its first request: the connection is not one of the guardian's own. */
  notOwn?: boolean;
  /** The response to the connection's latest request (what a half-closing client waits for). */
  res?: http.ServerResponse;
}

export const HEADERS_TIMEOUT_MS = 30_000;
/** How long stop() waits for the scans of messages it cut off. */
const STOP_SCAN_WAIT_MS = 2_000;
/** How long a refused client may take to close its side after the answer before it is cut off. */
const REFUSE_LINGER_MS = 2_000;
/**
 * How long the upstream has to start answering after the client shut down its write side. A client that
 * closed its socket completely sends the same FIN as one that only half-closed: the two can be told apart
 * only once something is written to them, so an answer that never starts is not waited for forever.
 */
export const HALF_CLOSE_WAIT_MS = 2_000;

const BAD_REQUEST: Answer = { status: 400 };
const BAD_TARGET: Answer = {
  status: 400,
  headers: { 'content-type': 'text/plain; charset=utf-8' },
  body: 'traffic-guardian: bad request target\n',
};

/**
 * Answers a refused request on the raw client socket and closes the connection. The HTTP server's
 * sockets allow half-open connections, so `end()` alone closes only our side: a client that never
 * closes its own would hold the connection (and a descriptor) forever. What it still sends is read and
 * dropped (so its FIN is seen and the close is clean), and the socket is destroyed after a short linger.
 */
function refuse(socket: Duplex, answer: string): void {
  socket.on('error', () => socket.destroy());
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(answer);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), REFUSE_LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

function clientAddress(socket: Duplex | undefined): string {
  const s = socket as net.Socket | undefined;
  const a = s?.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}

export class GuardianProxy {
  private readonly conns = new WeakMap<object, ConnInfo>();
  private readonly contexts: ServerContexts | null;
  private readonly hooks: HookChain;
  private readonly scan: ScanHook;
  private server: http.Server | undefined;
  private innerServer: http.Server | undefined;
  private relay: WebSocketRelay | undefined;
  private readonly sockets = new Set<Duplex>();
  /** Upstream pools and agents: the fallback route and one per group upstream (upstream-routes.ts). */
  private routes: UpstreamRoutes | undefined;
  private address_: { host: string; port: number } | undefined;
  private readonly forward: (f: ForwardRequest) => void;
  /** The listener's own addresses and upstream connections (loop detection). */
  private readonly own = new OwnAddress();

  constructor(private readonly g: GuardianProxyOptions) {
    this.forward = g.forward ?? forwardRequest;
    this.contexts = g.ca ? new ServerContexts((h) => g.ca!.certFor(h)) : null;
    this.scan = new ScanHook({
      sink: g.sink,
      rules: g.rules,
      salt: g.salt,
      maxScanBytes: g.maxScanBytes,
      log: g.log,
      scanWorkers: g.scanWorkers,
      scanBacklogBytes: g.scanBacklogBytes,
      disabledRules: g.disabledRules,
      counters: g.counters,
    });
    // The order matters: credentials first (a 407 applies to everything, the probe included, and the
    // group is known after it), then loops (508), then the self-probe (answered here, never scanned), then
    // allow_hosts (which exempts a flow from scanning), then scanning.
    const hooks: (ProxyHook | null)[] = [
      g.authenticate ? credentialsHook(g.authenticate, g.counters) : null,
      loopHook(this.own),
      selfProbeHook({
        httpsInspection: g.ca !== null,
        version: g.version ?? '0.0.0',
        upstreamOf: (group) => (g.upstreamFor?.(group) ? 'group' : g.upstreamProxy ? 'proxy' : 'direct'),
      }),
      allowHostsHook(g.allowHosts),
      this.scan,
      upstreamErrorsHook(g.counters, g.log),
    ];
    this.hooks = new HookChain(hooks.filter((h): h is ProxyHook => h !== null));
  }

  /** Starts listening. */
  start(): Promise<{ host: string; port: number }> {
    this.routes = new UpstreamRoutes({
      trust: this.g.upstreamTrust,
      upstreamProxy: this.g.upstreamProxy,
      forGroup: this.g.upstreamFor,
      track: (s) => this.own.track(s),
    });
    const routes = this.routes;
    this.relay = new WebSocketRelay({
      hooks: this.hooks,
      agentFor: (secure, flow) => {
        const r = routes.route(flow.group);
        return secure ? r.httpsAgent : r.httpAgent;
      },
      log: this.g.log,
    });

    const server = this.makeServer(false);
    server.prependListener('connection', (socket: net.Socket) => this.admit(socket));
    server.on('connect', (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onConnect(req, socket, head),
    );
    this.server = server;
    // Decrypted CONNECT sockets are handed to this server: it never listens. Node starts tracking
    // connections for headersTimeout only when a server emits 'listening', so without this a client could
    // finish the TLS handshake and then trickle (or never send) a request head forever. close() stops it.
    this.innerServer = this.makeServer(true);
    this.innerServer.emit('listening');

    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.g.host, port: this.g.port }, () => {
        server.off('error', reject);
        const a = server.address() as net.AddressInfo;
        this.address_ = { host: this.g.host, port: a.port };
        this.own.listening(this.g.host, a.port);
        resolve(this.address_);
      });
    });
  }

  /** The listener (`isSSL` false) or the inner server for decrypted tunnels (`isSSL` true). */
  private makeServer(isSSL: boolean): http.Server {
    // Node enforces headersTimeout from a periodic sweep (every connectionsCheckingInterval, 30 s by
    // default), so a stalled client could hold a connection for up to twice the timeout: sweep more often.
    const headersTimeout = this.g.headersTimeoutMs ?? HEADERS_TIMEOUT_MS;
    const server = http.createServer({
      maxHeaderSize: 16 * 1024,
      connectionsCheckingInterval: Math.max(100, Math.min(5_000, Math.floor(headersTimeout / 4))),
    });
    server.headersTimeout = headersTimeout;
    server.requestTimeout = 0; // long uploads and streams are normal for agents
    server.keepAliveTimeout = 65_000;
    // A client may send its whole request and then shut down its write side (`curl` reading from stdin, a
    // `nc -N`, an agent's own HTTP code): by default Node's HTTP server then aborts the request and closes
    // the connection, so the upstream's answer was lost. With this the request goes on and the connection
    // is closed after the last response. Node has no option for it, only this long-standing field of its
    // HTTP server (untyped); test/proxy-safety.test.ts fails if a Node version stops honouring it.
    (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.onRequest(req, res, isSSL));
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head, isSSL),
    );
    server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => this.clientError(err, socket));
    return server;
  }

  get address(): { host: string; port: number } | undefined {
    return this.address_;
  }

  /** The listening server (tests count its connections). */
  get httpServer(): http.Server | undefined {
    return this.server;
  }

  /** Open client sockets (plain and decrypted), for tests that check nothing is held. */
  get openSockets(): number {
    return this.sockets.size;
  }

  /** Stops accepting, closes every open connection and the upstream agents. */
  async stop(): Promise<void> {
    const server = this.server;
    const closed = server ? new Promise<void>((r) => server.close(() => r())) : Promise.resolve();
    for (const s of this.sockets) s.destroy();
    this.relay?.close();
    this.innerServer?.close();
    server?.closeAllConnections();
    this.routes?.destroy();
    await closed;
    // Messages cut off just now are scanned as far as they arrived (their bytes may already be upstream);
    // their scans end from the connections' close events: wait for them, so no finding is lost.
    await this.scan.drained(STOP_SCAN_WAIT_MS);
    await this.scan.close();
  }

  /** The scan workers (null when bodies are scanned on this thread). */
  get scanPool() {
    return this.scan.pool;
  }

  private admit(socket: net.Socket): void {
    const client = clientAddress(socket);
    if (!this.g.allowlist.allows(socket.remoteAddress)) {
      this.g.counters.refused_clients++;
      this.g.log('warn', `refused connection from ${client}: not in allowed_clients`);
      socket.destroy();
      return;
    }
    // Responses go out in several pieces (headers, body chunks, TLS records): never let Nagle hold the
    // last one back waiting for a delayed ACK.
    socket.setNoDelay(true);
    this.track(socket);
    this.onHalfClose(socket);
    // Plain HTTP inside a CONNECT tunnel is handed to this server as a new 'connection': keep what the
    // CONNECT established (its flow: group and target) instead of starting over.
    if (!this.conns.has(socket)) this.conns.set(socket, { client });
  }

  /**
   * A client that sent its request and shut down its write side still gets the answer (the servers allow
   * half-open connections); if the answer has not started within HALF_CLOSE_WAIT_MS, the client is taken
   * to have left and the exchange is dropped (see forward-request.ts, a client closing).
   */
  private onHalfClose(socket: Duplex): void {
    socket.once('end', () => {
      const res = this.conns.get(socket)?.res;
      if (!res || res.headersSent || res.writableEnded) return;
      const timer = setTimeout(() => {
        if (!res.headersSent) socket.destroy();
      }, HALF_CLOSE_WAIT_MS);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    });
  }

  private track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private clientError(err: Error & { code?: string }, socket: Duplex): void {
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? '431 Request Header Fields Too Large'
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? '408 Request Timeout'
          : '400 Bad Request';
    refuse(socket, `HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  }

  /**
   * Whether a client connection is one the guardian opened upstream (a request that came back). Asked at
   * its first request, when the outgoing side has long seen its connect; the answer is kept.
   */
  private isOwnConnection(socket: Duplex, info: ConnInfo): boolean {
    if (this.own.isOwnConnection(socket)) return true;
    info.notOwn = true;
    return false;
  }

  private info(socket: Duplex): ConnInfo {
    return this.conns.get(socket) ?? { client: clientAddress(socket) };
  }

  // ---- requests ----

  /** The flow of a request (plain, or decrypted when `isSSL`); null when it names nothing reachable. */
  private requestFlow(
    req: http.IncomingMessage,
    info: ConnInfo,
    isSSL: boolean,
  ): { flow: Flow; absolute: boolean } | null {
    // Inside a tunnel (TLS or plain), the destination is what the client CONNECTed to, not what a Host
    // header or an absolute URL claims.
    const tunnel = info.tunnel;
    if (tunnel) {
      const target = { host: tunnel.target.host, port: tunnel.target.port, tls: isSSL };
      const flow = newFlow({
        client: info.client,
        target,
        protocol: isSSL ? 'https' : 'http',
        method: req.method ?? 'GET',
        path: pathOf(req.url),
        tunnel,
      });
      return { flow, absolute: false };
    }
    const aim = requestTarget(req, isSSL);
    if (!aim) return null;
    const flow = newFlow({
      client: info.client,
      target: aim.target,
      protocol: aim.target.tls ? 'https' : 'http',
      method: req.method ?? 'GET',
      path: aim.path,
    });
    return { flow, absolute: aim.absolute };
  }

  /**
   * One client request: its flow passes the request hooks (credentials, self-probe, allow_hosts, the
   * header scan and the body tap), then forward-request.ts carries it; the response hooks give the
   * response body's tap.
   */
  private onRequest(req: http.IncomingMessage, res: http.ServerResponse, isSSL: boolean): void {
    // Client-side errors end that connection only (the socket's own handlers close it).
    req.on('error', () => undefined);
    res.on('error', () => undefined);
    const info = this.info(req.socket);
    info.res = res;
    if (!info.notOwn && this.isOwnConnection(req.socket, info)) {
      // One of the guardian's own upstream connections: a name that resolves back to it.
      this.g.counters.requests++;
      sendAnswer(res, req, LOOP_ANSWER);
      return;
    }
    const aim = this.requestFlow(req, info, isSSL);
    if (!aim) {
      // A target the client names but nothing can reach (`http://h:99999/`, no Host, an empty host).
      this.g.counters.requests++;
      sendAnswer(res, req, BAD_TARGET);
      return;
    }
    const { flow, absolute } = aim;
    const framing = requestFraming(req.rawHeaders);
    const verdict = this.hooks.requestHeaders(flow, req, framing.hasBody);
    if (isAnswer(verdict)) {
      if (!verdict.local) this.g.counters.requests++;
      sendAnswer(res, req, verdict);
      return;
    }
    this.g.counters.requests++;
    const target = flow.target as UpstreamTarget;
    const route = this.routes!.route(flow.group);
    // One object literal, written out: building it by spreading a base object measured ~25 µs more per
    // request here (1.3x the requests per second without it).
    this.forward({
      req,
      res,
      target,
      path: flow.path,
      absolute,
      framing,
      pool: route.pool,
      upstreamProxy: route.proxy,
      requestTap: verdict,
      responseTap: flow.scan ? (head) => this.hooks.responseHeaders(flow, head) : null,
      onUpstreamError: (err) => this.hooks.error(flow, err),
    });
  }

  /** A WebSocket upgrade: the same request hooks as any request, then the relay. */
  private onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, isSSL: boolean): void {
    if (this.own.isOwnConnection(socket)) {
      refuse(socket, rawAnswer(LOOP_ANSWER));
      return;
    }
    const info = this.info(socket);
    const aim = info.tunnel ? { target: info.tunnel.target, secure: isSSL } : upgradeTarget(req);
    if (!aim) {
      // A target nothing can reach (no Host, a bad port) is refused before the upgrade is accepted.
      refuse(socket, rawAnswer(BAD_REQUEST));
      return;
    }
    const flow = newFlow({
      client: info.client,
      target: aim.target,
      protocol: 'websocket',
      method: req.method ?? 'GET',
      path: pathOf(req.url),
      tunnel: info.tunnel,
    });
    const verdict = this.hooks.requestHeaders(flow, req, false);
    if (isAnswer(verdict)) {
      refuse(socket, rawAnswer(verdict));
      return;
    }
    this.relay!.accept(flow, aim.secure, req, socket, head);
  }

  // ---- CONNECT ----

  private onConnect(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.own.isOwnConnection(socket)) {
      this.g.counters.connects++;
      refuse(socket, rawAnswer(LOOP_ANSWER));
      return;
    }
    const info = this.info(socket);
    if (info.tunnel) {
      // A CONNECT sent inside an inspected tunnel would open a new tunnel to wherever it names, though
      // what travels in a tunnel goes to the tunnel's target (§8); and each level would pile more
      // listeners on the one client socket. Refused.
      this.g.counters.connects++;
      this.g.log('warn', `refused CONNECT inside a tunnel to ${info.tunnel.dest} from ${info.client}`);
      refuse(socket, rawAnswer(BAD_REQUEST));
      return;
    }
    const target = parseHostPort(req.url, 443);
    if (!target) {
      this.g.counters.connects++;
      refuse(socket, rawAnswer(BAD_REQUEST));
      return;
    }
    const flow = newFlow({
      client: info.client,
      target,
      protocol: 'connect',
      method: 'CONNECT',
      path: formatHostPort(target),
    });
    const verdict = this.hooks.connect(flow, req);
    if (!flow.local) this.g.counters.connects++;
    if (verdict) {
      refuse(socket, rawAnswer(verdict));
      return;
    }
    this.conns.set(socket, { client: info.client, tunnel: flow });
    const inspect = this.contexts !== null && (flow.scan || flow.local);
    if (!flow.local) this.g.onConnectTarget?.(flow.dest, flow.client, flow.group, inspect);
    if (!inspect) {
      this.g.counters.tunnels++;
      openUpstream(target, this.routes!.route(flow.group).proxy, (s) => this.own.track(s)).then(
        (upstream) => this.carryUninspected(socket, head, upstream, flow),
        (err: Error & { code?: string }) => {
          this.hooks.error(flow, err);
          refuse(socket, rawAnswer({ status: 502 }));
        },
      );
      return;
    }
    socket.write(CONNECT_OK);
    firstBytes(socket, head, (first) => this.openTunnel(socket, first, flow));
  }

  /**
   * A tunnel that is not inspected (inspection off, or a host in allow_hosts), once its upstream is open.
   * Only TLS stays blind: plain HTTP in it is read like any request, and other bytes (or a server that
   * speaks first) are piped with both directions scanned, since none of that needs a CA to be read.
   */
  private carryUninspected(socket: Duplex, head: Buffer, upstream: Duplex, flow: Flow): void {
    if (socket.destroyed) {
      upstream.destroy();
      return;
    }
    socket.write(CONNECT_OK);
    if (!flow.scan) {
      if (head.length > 0) socket.unshift(head);
      pipeTunnel(socket, upstream);
      return;
    }
    // Until the first bytes decide, either side going away ends the other.
    const upstreamGone = () => socket.destroy();
    const clientGone = () => upstream.destroy();
    upstream.on('error', upstreamGone);
    upstream.on('close', upstreamGone);
    socket.on('close', clientGone);
    firstSpeaker(socket, head, upstream, (who, first) => {
      upstream.off('error', upstreamGone);
      upstream.off('close', upstreamGone);
      socket.off('close', clientGone);
      const kind = who === 'upstream' ? 'raw' : sniffTunnel(first);
      if (kind === 'tls') {
        const name = clientHelloServerName(first);
        if (name !== null) this.hooks.serverName(flow, name);
        pipeTunnel(socket, upstream);
      } else if (kind === 'http') {
        upstream.on('error', () => undefined);
        upstream.destroy(); // the requests go out through the proxy's own client
        this.readAsHttp(socket);
      } else {
        this.carryRaw(socket, upstream, flow);
      }
    });
  }

  /** Pipes a tunnel that carries neither TLS nor HTTP, both directions scanned as raw streams. */
  private carryRaw(socket: Duplex, upstream: Duplex, flow: Flow): void {
    pipeTunnel(socket, upstream, {
      outbound: this.hooks.rawStream(flow, false),
      inbound: this.hooks.rawStream(flow, true),
    });
  }

  /** Plain HTTP inside a tunnel (e.g. ws://, or `curl -p`): parsed like a direct request. */
  private readAsHttp(socket: Duplex): void {
    this.server!.emit('connection', socket);
    socket.resume();
  }

  /**
   * An inspected tunnel's first bytes decide: TLS is terminated here, HTTP is read as requests, anything
   * else is piped to the target with both directions scanned.
   */
  private openTunnel(socket: Duplex, head: Buffer, flow: Flow): void {
    socket.pause();
    socket.unshift(head);
    const kind = sniffTunnel(head);
    if (kind === 'tls') {
      const tlsSocket = terminateTls(
        socket,
        flow.target.host,
        this.contexts!,
        (err) => this.g.log('warn', `TLS from ${flow.client} for ${flow.dest}: ${err.code ?? err.message}`),
        (name) => this.hooks.serverName(flow, name),
      );
      if (!tlsSocket) return;
      this.conns.set(tlsSocket, { client: flow.client, tunnel: flow });
      this.track(tlsSocket);
      this.onHalfClose(tlsSocket);
      this.innerServer!.emit('connection', tlsSocket);
      return;
    }
    if (kind === 'http') {
      this.readAsHttp(socket);
      return;
    }
    openUpstream(flow.target, this.routes!.route(flow.group).proxy, (s) => this.own.track(s)).then(
      (upstream) => {
        if (socket.destroyed) upstream.destroy();
        else this.carryRaw(socket, upstream, flow);
      },
      (err: Error & { code?: string }) => {
        this.hooks.error(flow, err);
        socket.destroy();
      },
    );
  }
}
