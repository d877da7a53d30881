// Where the guardian listens so that containers reach it as host.docker.internal: on Linux that name is
// Docker's host gateway, the docker0 bridge address (NanoClaw adds --add-host=host.docker.internal:
// host-gateway), and clients come from the bridge subnet; Docker Desktop on macOS forwards it to the
// host's loopback.
import os from 'node:os';

export interface ListenAddress {
  host: string;
  /** CIDRs allowed to connect (loopback is always allowed). */
  allowedClients: string[];
  /** How it was chosen, for the install log. */
  source: string;
}

export class ListenAddressError extends Error {}

function ipv4Network(address: string, prefix: number): string {
  const n = address.split('.').reduce((acc, part) => (acc << 8) + Number(part), 0) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${prefix}`;
}

export function chooseListenAddress(
  explicit: string | undefined,
  platform: NodeJS.Platform = process.platform,
  interfaces: NodeJS.Dict<os.NetworkInterfaceInfo[]> = os.networkInterfaces(),
): ListenAddress {
  if (explicit) {
    const loop = explicit === '127.0.0.1' || explicit === '::1' || explicit === 'localhost';
    const info = Object.values(interfaces)
      .flat()
      .find((i) => i && i.address === explicit && i.family === 'IPv4');
    const allowed = loop ? [] : info?.cidr ? [ipv4Network(info.address, Number(info.cidr.split('/')[1]))] : [explicit];
    return { host: explicit, allowedClients: allowed, source: '--listen-host' };
  }
  if (platform === 'darwin') {
    return {
      host: '127.0.0.1',
      allowedClients: [],
      source: 'Docker Desktop forwards host.docker.internal to loopback',
    };
  }
  const bridge = (interfaces.docker0 ?? []).find((i) => i.family === 'IPv4');
  if (!bridge) {
    throw new ListenAddressError(
      'no docker0 bridge found, so the address containers reach as host.docker.internal is unknown: ' +
        'start Docker, or pass --listen-host ADDR (the host address your containers reach)',
    );
  }
  const prefix = Number((bridge.cidr ?? `${bridge.address}/16`).split('/')[1]);
  return {
    host: bridge.address,
    allowedClients: [ipv4Network(bridge.address, prefix)],
    source: 'the docker0 bridge (Docker host gateway)',
  };
}
