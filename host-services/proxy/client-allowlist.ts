// Which client addresses may use the proxy: loopback always, others only inside `allowed_clients`.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export class ClientAllowlist {
  private readonly list = new BlockList();
  private readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    this.empty = cidrs.length === 0;
    for (const c of cidrs) {
      const [addr, bits] = c.split('/');
      const type = isIPv6(addr!) ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(addr!, type);
      else this.list.addSubnet(addr!, Number(bits), type);
    }
  }

  allows(remote: string | undefined): boolean {
    if (!remote) return false;
    // IPv4-mapped IPv6 (`::ffff:10.0.0.2`) is checked as IPv4.
    const addr = remote.startsWith('::ffff:') && isIPv4(remote.slice(7)) ? remote.slice(7) : remote;
    if (addr === '::1' || addr.startsWith('127.')) return true;
    if (this.empty) return false;
    return this.list.check(addr, isIPv6(addr) ? 'ipv6' : 'ipv4');
  }
}
