// Host pattern matching shared by issuer checks and the config allowlist.
// `example.com` matches exactly; `*.example.com` matches any subdomain (not the apex).

/** Strips a port and brackets and lowercases: `API.Example.com:443` -> `api.example.com`. */
export function normaliseHost(hostOrDest: string): string {
  let h = hostOrDest.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 ? h.slice(1, end) : h;
  }
  const colon = h.lastIndexOf(':');
  if (colon > 0 && h.indexOf(':') === colon) h = h.slice(0, colon);
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

export function hostMatches(host: string, patterns: readonly string[]): boolean {
  const h = normaliseHost(host);
  for (const raw of patterns) {
    const p = raw.toLowerCase();
    if (p.startsWith('*.')) {
      if (h.endsWith(p.slice(1)) && h.length > p.length - 1) return true;
    } else if (h === p) {
      return true;
    }
  }
  return false;
}
