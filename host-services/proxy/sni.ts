// The server name (SNI) a TLS ClientHello asks for, read from the first bytes of a tunnel without
// terminating anything: blind tunnels scan it as outbound text (a secret in it is a DNS-label channel).
// Only a ClientHello that arrived whole in those bytes is read; anything malformed gives null.

/** The first host_name of the server_name extension, or null. */
export function clientHelloServerName(b: Buffer): string | null {
  // TLS record: type 22 (handshake), version (2), length (2); handshake: type 1 (ClientHello), length (3).
  if (b.length < 9 || b[0] !== 0x16 || b[5] !== 0x01) return null;
  const end = Math.min(b.length, 5 + b.readUInt16BE(3));
  let p = 9 + 2 + 32; // client version, random
  if (p + 1 > end) return null;
  p += 1 + b[p]!; // session id
  if (p + 2 > end) return null;
  p += 2 + b.readUInt16BE(p); // cipher suites
  if (p + 1 > end) return null;
  p += 1 + b[p]!; // compression methods
  if (p + 2 > end) return null;
  const extEnd = Math.min(end, p + 2 + b.readUInt16BE(p));
  p += 2;
  while (p + 4 <= extEnd) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (p + len > extEnd) return null;
    if (type === 0) {
      // server_name_list: length (2), then entries of type (1), length (2), name.
      let q = p + 2;
      while (q + 3 <= p + len) {
        const nameType = b[q]!;
        const nameLen = b.readUInt16BE(q + 1);
        q += 3;
        if (q + nameLen > p + len) return null;
        if (nameType === 0) return b.toString('latin1', q, q + nameLen);
        q += nameLen;
      }
      return null;
    }
    p += len;
  }
  return null;
}
