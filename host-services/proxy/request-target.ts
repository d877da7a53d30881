// Where a request goes, read from what the client sent: the authority of an absolute-form target, else
// the Host header (inside a tunnel the CONNECT target decides instead, see guardian-proxy.ts).
import type http from 'node:http';
import { parseHostPort, type HostPort } from './connect-target.js';
import type { UpstreamTarget } from './upstream-pool.js';

/** The origin-form path of a request target (`/p?q` from `http://h/p?q`); `/` when there is none. */
export function pathOf(url: string | undefined): string {
  if (!url) return '/';
  if (url.startsWith('/')) return url;
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return '/';
  }
}

/**
 * Where an upgrade request outside a tunnel is aimed (absolute URL, else Host header), and whether over
 * TLS; null when nothing could be reached (no Host, a bad port, a scheme that is no WebSocket's).
 */
export function upgradeTarget(req: http.IncomingMessage): { target: HostPort; secure: boolean } | null {
  const url = req.url ?? '';
  if (url === '' || url.startsWith('/')) {
    const target = parseHostPort(req.headers.host, 80);
    return target ? { target, secure: false } : null;
  }
  try {
    const u = new URL(url);
    if (!/^(http|https|ws|wss):$/.test(u.protocol)) return null;
    const secure = u.protocol === 'https:' || u.protocol === 'wss:';
    const target = parseHostPort(u.host, secure ? 443 : 80);
    return target ? { target, secure } : null;
  } catch {
    return null;
  }
}

const ABSOLUTE = /^(https?):\/\/([^/?#]*)([^#]*)/i;

/** Targets parsed from authorities (`host:port` and scheme): agents talk to a few hosts, over and over. */
const targetCache = new Map<string, UpstreamTarget | null>();
const TARGET_CACHE_MAX = 1000;

function cachedTarget(authority: string | undefined, tls: boolean): UpstreamTarget | null {
  if (authority === undefined) return null;
  const key = tls ? `s${authority}` : `p${authority}`;
  let t = targetCache.get(key);
  if (t === undefined) {
    const hp = parseHostPort(authority, tls ? 443 : 80);
    t = hp ? { host: hp.host, port: hp.port, tls } : null;
    if (targetCache.size >= TARGET_CACHE_MAX) targetCache.clear();
    targetCache.set(key, t);
  }
  return t;
}

/**
 * Where a request outside a tunnel goes: the authority of an absolute-form target (`http://h:p/x`,
 * also `https://`), else the Host header of an origin-form one. Null when nothing reachable is named.
 */
export function requestTarget(
  req: http.IncomingMessage,
  isSSL: boolean,
): { target: UpstreamTarget; path: string; absolute: boolean } | null {
  const url = req.url ?? '/';
  if (url.startsWith('/')) {
    const target = cachedTarget(req.headers.host, isSSL);
    return target ? { target, path: url, absolute: false } : null;
  }
  const m = ABSOLUTE.exec(url);
  if (!m) return null;
  const target = cachedTarget(m[2], m[1]!.toLowerCase() === 'https');
  if (!target) return null;
  const rest = m[3] ?? '';
  return { target, path: rest.startsWith('/') ? rest : `/${rest}`, absolute: true };
}
