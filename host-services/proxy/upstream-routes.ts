// Where a flow's upstream connections go: straight out, through the configured `upstream_proxy`, or
// through the upstream proxy recorded for the flow's group (`group_upstreams`: each NanoClaw group chained
// to its own OneCLI gateway with that agent's own token). Each route has its own connection pool and
// agents, so a connection opened with one group's upstream credential is never reused for another group.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import { UpstreamPool } from './upstream-pool.js';
import { TunnelingHttpsAgent, upstreamHttpAgent, type UpstreamProxy } from './upstream-proxy.js';

export interface UpstreamRoute {
  proxy: UpstreamProxy | undefined;
  /** Keep-alive connections of the guardian's own HTTP client (forward-request.ts). */
  pool: UpstreamPool;
  /** Agents for upstream WebSocket handshakes. */
  httpAgent: http.Agent;
  httpsAgent: https.Agent;
}

/** A group's own upstream: the proxy, the extra CA it re-signs with, and a key naming proxy + credential. */
export interface GroupRoute {
  key: string;
  proxy: UpstreamProxy;
  caPem: string;
}

/** Routes kept for groups' upstreams; the oldest is closed past this (a token change makes a new key). */
const MAX_GROUP_ROUTES = 256;
const AGENT_OPTS = { keepAlive: true, maxSockets: 1024, maxFreeSockets: 256, noDelay: true };

export class UpstreamRoutes {
  readonly fallback: UpstreamRoute;
  private readonly groups = new Map<string, UpstreamRoute>();

  constructor(
    private readonly o: {
      /** CA certificates upstream TLS is verified against. */
      trust: string[];
      upstreamProxy?: UpstreamProxy;
      /** The group's own upstream, or null for the fallback route. */
      forGroup?: (group: string | undefined) => GroupRoute | null;
      /** Told of every TCP connection opened directly (loop detection). */
      track?: (s: net.Socket) => void;
    },
  ) {
    this.fallback = this.make(o.upstreamProxy, o.trust);
  }

  route(group: string | undefined): UpstreamRoute {
    const own = this.o.forGroup?.(group);
    if (!own) return this.fallback;
    let r = this.groups.get(own.key);
    if (r) return r;
    r = this.make(own.proxy, own.caPem ? [...this.o.trust, own.caPem] : this.o.trust);
    this.groups.set(own.key, r);
    if (this.groups.size > MAX_GROUP_ROUTES) {
      const [oldest, old] = this.groups.entries().next().value as [string, UpstreamRoute];
      this.groups.delete(oldest);
      close(old);
    }
    return r;
  }

  destroy(): void {
    close(this.fallback);
    for (const r of this.groups.values()) close(r);
    this.groups.clear();
  }

  private make(proxy: UpstreamProxy | undefined, trust: string[]): UpstreamRoute {
    // One secure context per route. Passing the trust list as `ca` instead would make https.Agent build its
    // pool key from ~300 PEM certificates on every request (measured: ~30% of CPU and ~6 ms per HTTPS
    // request); `secureContext` is not part of that key.
    const secureContext = tls.createSecureContext({ ca: trust });
    return {
      proxy,
      pool: new UpstreamPool({ secureContext, upstreamProxy: proxy, track: this.o.track }),
      httpAgent: proxy ? upstreamHttpAgent() : new http.Agent(AGENT_OPTS),
      httpsAgent: proxy
        ? (new TunnelingHttpsAgent(proxy, { ...AGENT_OPTS, secureContext }) as https.Agent)
        : new https.Agent({ ...AGENT_OPTS, secureContext }),
    };
  }
}

function close(r: UpstreamRoute): void {
  r.pool.destroy();
  r.httpAgent.destroy();
  r.httpsAgent.destroy();
}
