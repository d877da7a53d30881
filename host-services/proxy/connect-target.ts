// Parses `host:port` targets (CONNECT request targets and Host headers), IPv6 brackets included.

export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(target: string | undefined, defaultPort: number): HostPort | null {
  if (!target) return null;
  const t = target.trim();
  let host: string;
  let portText: string | undefined;
  if (t.startsWith('[')) {
    const end = t.indexOf(']');
    if (end < 0) return null;
    host = t.slice(1, end);
    const rest = t.slice(end + 1);
    if (rest && !rest.startsWith(':')) return null;
    portText = rest ? rest.slice(1) : undefined;
  } else {
    const parts = t.split(':');
    if (parts.length > 2) return null;
    host = parts[0]!;
    portText = parts[1];
  }
  if (!host || !/^[A-Za-z0-9._:-]+$/.test(host)) return null;
  const port = portText === undefined || portText === '' ? defaultPort : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host: host.toLowerCase(), port };
}

export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}
