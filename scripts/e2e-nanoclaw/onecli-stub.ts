// A stand-in OneCLI for the e2e: the HTTP API NanoClaw's @onecli-sh/sdk calls (ensureAgent,
// container-config, approvals) and the gateway proxy containers use, which records which agent's
// credential arrives on every request. The gateway terminates HTTPS with its own CA (as the real
// OneCLI does to inject credentials) and answers requests itself: no traffic leaves the machine.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import tls from 'node:tls';
import { z } from 'zod';
import { loadOrCreateCa } from '../../host-services/ca.js';
import { homePaths } from '../../host-services/home.js';

/** Where OneCLI tells NanoClaw to mount its CA inside the container (the SDK's own default path). */
export const ONECLI_CA_CONTAINER_PATH = '/tmp/onecli-proxy-ca.pem';

export interface GatewayHit {
  /** The agent whose token came in Proxy-Authorization, or null if none/unknown. */
  agent: string | null;
  kind: 'http' | 'connect' | 'https';
  host: string;
  method: string;
  path: string;
  /** Body bytes the gateway received (length only; bodies are not kept). */
  bodyBytes: number;
}

export interface OneCliStub {
  apiUrl: string;
  gatewayPort: number;
  caPem: string;
  caFile: string;
  /** agent identifier -> its gateway token */
  tokens: Map<string, string>;
  agents: { name: string; identifier: string }[];
  configRequests: string[];
  hits: GatewayHit[];
  close(): Promise<void>;
}

const AgentInput = z.object({ name: z.string(), identifier: z.string() }).passthrough();

/** The `env` OneCLI's container-config answers with for one agent (shape of the real API). */
export function containerConfigFor(
  token: string,
  gatewayHost: string,
  gatewayPort: number,
  caPem: string,
): { env: Record<string, string>; caCertificate: string; caCertificateContainerPath: string } {
  const url = `http://x:${token}@${gatewayHost}:${gatewayPort}`;
  return {
    env: { HTTPS_PROXY: url, HTTP_PROXY: url, NODE_EXTRA_CA_CERTS: ONECLI_CA_CONTAINER_PATH },
    caCertificate: caPem,
    caCertificateContainerPath: ONECLI_CA_CONTAINER_PATH,
  };
}

/** The token in a `Proxy-Authorization: Basic base64(user:token)` header, or null. */
export function proxyToken(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

function listen(server: http.Server | import('node:net').Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

export async function startOneCliStub(opts: { home: string; gatewayHost?: string }): Promise<OneCliStub> {
  const ca = loadOrCreateCa(homePaths(opts.home), { create: true })!;
  const tokens = new Map<string, string>();
  const agentOf = (token: string | null) => {
    if (!token) return null;
    for (const [agent, t] of tokens) if (t === token) return agent;
    return null;
  };
  const agents: { name: string; identifier: string }[] = [];
  const configRequests: string[] = [];
  const hits: GatewayHit[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const tokenFor = (agent: string) => {
    let t = tokens.get(agent);
    if (!t) {
      t = `aoc_${randomBytes(16).toString('hex')}`;
      tokens.set(agent, t);
    }
    return t;
  };

  let gatewayPort = 0;
  let apiPort = 0;
  const api = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://onecli');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'POST' && url.pathname === '/api/agents') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const parsed = AgentInput.safeParse(JSON.parse(body || '{}'));
        if (!parsed.success) return json(400, { error: 'bad agent' });
        if (agents.some((a) => a.identifier === parsed.data.identifier)) return json(409, { error: 'exists' });
        agents.push({ name: parsed.data.name, identifier: parsed.data.identifier });
        tokenFor(parsed.data.identifier);
        json(201, { id: parsed.data.identifier, ...parsed.data });
      });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/api/container-config') {
      const agent = url.searchParams.get('agent') ?? 'default';
      configRequests.push(agent);
      return json(
        200,
        containerConfigFor(tokenFor(agent), opts.gatewayHost ?? 'host.docker.internal', gatewayPort, ca.certPem),
      );
    }
    if (url.pathname === '/api/gateway-url') return json(200, { url: `http://127.0.0.1:${apiPort}` });
    if (url.pathname === '/api/approvals/pending') {
      // ApprovalClient long-polls here; answer "nothing pending" after a short hold.
      const t = setTimeout(() => json(200, { requests: [], timeoutSeconds: 30 }), 1000);
      res.on('close', () => clearTimeout(t));
      return;
    }
    json(404, { error: 'not in the stand-in' });
  });

  // The gateway: a forward proxy that answers as the destination, recording the agent.
  const answer = (res: http.ServerResponse, hit: GatewayHit) => {
    hits.push(hit);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ onecli_stand_in: true, agent: hit.agent, host: hit.host, path: hit.path }));
  };
  const drain = (req: http.IncomingMessage, done: (n: number) => void) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => done(n));
  };
  const gateway = http.createServer((req, res) => {
    const agent = agentOf(proxyToken(req.headers['proxy-authorization']));
    if (!agent) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="onecli"' });
      res.end('proxy credentials required\n');
      return;
    }
    const target = url(req);
    drain(req, (n) =>
      answer(res, {
        agent,
        kind: 'http',
        host: target?.host ?? '',
        method: req.method ?? '',
        path: target?.pathname ?? '',
        bodyBytes: n,
      }),
    );
  });
  gateway.on('connection', track);
  gateway.on('connect', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    const agent = agentOf(proxyToken(req.headers['proxy-authorization']));
    const host = (req.url ?? '').replace(/:\d+$/, '');
    hits.push({ agent, kind: 'connect', host, method: 'CONNECT', path: '', bodyBytes: 0 });
    if (!agent) {
      socket.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="onecli"\r\n\r\n');
      return;
    }
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) socket.unshift(head);
    const leaf = ca.certFor(host);
    const tlsSocket = new tls.TLSSocket(socket, { isServer: true, cert: leaf.cert, key: leaf.key });
    const inner = http.createServer((ireq, ires) =>
      drain(ireq, (n) =>
        answer(ires, { agent, kind: 'https', host, method: ireq.method ?? '', path: ireq.url ?? '', bodyBytes: n }),
      ),
    );
    inner.emit('connection', tlsSocket);
    tlsSocket.on('error', () => socket.destroy());
  });
  api.on('connection', track);

  apiPort = await listen(api);
  gatewayPort = await listen(gateway);
  return {
    apiUrl: `http://127.0.0.1:${apiPort}`,
    gatewayPort,
    caPem: ca.certPem,
    caFile: ca.certPath,
    tokens,
    agents,
    configRequests,
    hits,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise((r) => api.close(r)), new Promise((r) => gateway.close(r))]);
    },
  };
}

/** The absolute-form target of a proxied request, or null for origin-form (`/path`). */
function url(req: http.IncomingMessage): URL | null {
  try {
    return /^https?:\/\//i.test(req.url ?? '') ? new URL(req.url!) : null;
  } catch {
    return null;
  }
}
