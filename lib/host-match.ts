// Host pattern matching shared by issuer checks and the config allowlist.
// `example.com` matches exactly; `*.example.com` matches any subdomain (not the apex; config allowlist
// only: issuer lists never use it, see lib/issuer-hosts.ts); a `{region}` label matches one AWS region
// label (`us-east-1`, `us-gov-west-1`, `cn-north-1`) and nothing else.

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

/** One AWS region label; never a bucket-style label such as `s3`, `s3-website-us-east-1` or `compute-1`. */
const AWS_REGION = /^[a-z]{2,4}(?:-[a-z]+){1,2}-\d{1,2}$/;

function labelsMatch(h: string, p: string): boolean {
  const hl = h.split('.');
  const pl = p.split('.');
  if (hl.length !== pl.length) return false;
  for (let i = 0; i < pl.length; i++) {
    if (pl[i] === '{region}' ? !AWS_REGION.test(hl[i]!) : pl[i] !== hl[i]) return false;
  }
  return true;
}

export function hostMatches(host: string, patterns: readonly string[]): boolean {
  const h = normaliseHost(host);
  for (const raw of patterns) {
    const p = raw.toLowerCase();
    if (p.includes('{region}')) {
      if (labelsMatch(h, p)) return true;
    } else if (p.startsWith('*.')) {
      if (h.endsWith(p.slice(1)) && h.length > p.length - 1) return true;
    } else if (h === p) {
      return true;
    }
  }
  return false;
}
