// The proxy settings this process was started with, read the way common clients read them, and shown
// without secrets. In a NanoClaw container the MCP server inherits the container's environment (docker
// `-e` -> agent-runner -> Claude Code -> this stdio server), so these are the variables the agent's own
// tools use. A proxy URL's user:password is the group's guardian credential: it is used for the probe
// but never shown, and a value that does not parse is never echoed at all.

export const PROXY_VARIABLES = ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'NO_PROXY', 'no_proxy'];
export const CA_VARIABLES = ['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE'];

export type Env = Record<string, string | undefined>;

/** A proxy variable's value as something to connect to, or why it cannot be used. */
export type ProxyTarget =
  | { ok: true; variable: string; host: string; port: number; authorization?: string; shown: string }
  | { ok: false; variable: string; why: string; shown: string };

export interface ProxyEnv {
  /** Every proxy and CA variable, value shown safely (null when unset). */
  shown: Record<string, string | null>;
  /** The proxy plain HTTP uses (http_proxy before HTTP_PROXY), null when none. */
  http: ProxyTarget | null;
  /** The proxy HTTPS uses (https_proxy before HTTPS_PROXY), null when none. */
  https: ProxyTarget | null;
  /** NO_PROXY entries (no_proxy before NO_PROXY), shown safely. */
  noProxy: string[];
  /** Things about the variables an agent should know (differing upper/lower case, ...). */
  notes: string[];
  /** Reasons the variables alone leave some traffic unwatched. */
  gaps: string[];
}

const MAX_SHOWN = 200;

/** Printable, single-line, bounded: an environment value is not trusted display text. */
function printable(s: string, max = MAX_SHOWN): string {
  const t = s.replace(/[^\x20-\x7e]/g, '?');
  return t.length > max ? `${t.slice(0, max)}…` : t;
}

function get(env: Env, name: string): string | undefined {
  const v = env[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

/** Parses a proxy variable. A value without a scheme (`host:port`) means http://, as curl reads it. */
export function parseProxy(variable: string, raw: string): ProxyTarget {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    return { ok: false, variable, why: 'not a URL', shown: '(set, but not a URL)' };
  }
  const credentials = u.username !== '' || u.password !== '';
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
  const shown = printable(`${u.protocol}//${credentials ? '[credentials]@' : ''}${u.host}`);
  if (u.protocol !== 'http:') {
    return { ok: false, variable, why: `a ${u.protocol.replace(':', '')}:// proxy, not an http:// one`, shown };
  }
  if (u.hostname === '') return { ok: false, variable, why: 'no host', shown };
  let authorization: string | undefined;
  if (credentials) {
    let user = u.username;
    let pass = u.password;
    try {
      user = decodeURIComponent(user);
      pass = decodeURIComponent(pass);
    } catch {
      // keep them as written
    }
    authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  }
  // IPv6 literals come as `[::1]`: the socket wants them bare.
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return { ok: true, variable, host, port, ...(authorization ? { authorization } : {}), shown };
}

/** NO_PROXY entries that only keep local traffic local; anything else bypasses the guardian. */
function isLocalEntry(e: string): boolean {
  const h = e
    .replace(/^\*?\./, '')
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '')
    .toLowerCase();
  return (
    h === 'localhost' ||
    h.endsWith('.localhost') ||
    h === '::1' ||
    h === '0.0.0.0' ||
    /^127\.[\d.*/]+$/.test(h) ||
    h === '127.0.0.1'
  );
}

/** One variable pair (upper and lower case): the value tools use, and a note when the two differ. */
function pair(env: Env, upper: string, notes: string[]): { name: string; value: string } | undefined {
  const lower = upper.toLowerCase();
  const lv = get(env, lower);
  const uv = get(env, upper);
  if (lv !== undefined && uv !== undefined && lv !== uv) {
    notes.push(`${lower} and ${upper} differ; most tools (curl, Node, Python) use ${lower}.`);
  }
  if (lv !== undefined) return { name: lower, value: lv };
  return uv !== undefined ? { name: upper, value: uv } : undefined;
}

export function readProxyEnv(env: Env): ProxyEnv {
  const notes: string[] = [];
  const gaps: string[] = [];
  const shown: Record<string, string | null> = {};
  for (const name of PROXY_VARIABLES) {
    const v = get(env, name);
    if (v === undefined) shown[name] = null;
    else if (/no_proxy/i.test(name)) shown[name] = printable(v);
    else shown[name] = parseProxy(name, v).shown;
  }
  for (const name of CA_VARIABLES) {
    const v = get(env, name);
    shown[name] = v === undefined ? null : printable(v);
  }
  const httpVar = pair(env, 'HTTP_PROXY', notes);
  const httpsVar = pair(env, 'HTTPS_PROXY', notes);
  if (httpVar?.name === 'HTTP_PROXY') {
    gaps.push(
      'only HTTP_PROXY is set: curl ignores the upper-case form for http:// URLs, so its plain HTTP goes direct.',
    );
  }
  const noProxyVar = pair(env, 'NO_PROXY', notes);
  const noProxy = (noProxyVar?.value ?? '')
    .split(/[,\s]+/)
    .filter((e) => e !== '')
    .map((e) => printable(e, 100))
    .slice(0, 50);
  const bypass = noProxy.filter((e) => e !== '*' && !isLocalEntry(e));
  if (bypass.length > 0) {
    gaps.push(
      `${noProxyVar!.name} sends traffic to ${bypass.slice(0, 10).join(', ')}${bypass.length > 10 ? ', …' : ''} ` +
        'around the guardian.',
    );
  }
  return {
    shown,
    http: httpVar ? parseProxy(httpVar.name, httpVar.value) : null,
    https: httpsVar ? parseProxy(httpsVar.name, httpsVar.value) : null,
    noProxy,
    notes,
    gaps,
  };
}

/** True when NO_PROXY exempts every host (`*`), so no variable above sends anything to a proxy. */
export function noProxyCoversAll(p: ProxyEnv): boolean {
  return p.noProxy.includes('*');
}
