// IP address syntax without node:net (lib/ stays free of socket modules): dotted-quad IPv4, and IPv6 as
// the WHATWG URL parser (a global, no I/O) accepts it between brackets.
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** 4 for an IPv4 address, 6 for an IPv6 address, 0 otherwise (like node:net's isIP). */
export function ipFamily(s: string): 0 | 4 | 6 {
  if (IPV4.test(s)) return 4;
  if (!s.includes(':') || /[^0-9a-fA-F:.]/.test(s)) return 0;
  try {
    return new URL(`http://[${s}]/`).hostname.length > 2 ? 6 : 0;
  } catch {
    return 0;
  }
}
