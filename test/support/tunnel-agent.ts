// A keep-alive HTTPS agent that reaches its origin through the guardian: each new socket is a
// CONNECT tunnel with TLS on top (trusting only the given CA), and Node's agent pools and reuses the
// sockets like any other keep-alive connection. So several HTTPS requests travel one inspected tunnel.
import https from 'node:https';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { connectTunnel } from './proxy-client.js';

export class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxyPort: number,
    private readonly caPem: string,
    opts: https.AgentOptions = {},
  ) {
    super({ keepAlive: true, ...opts });
  }

  // Node's Agent accepts an asynchronous createConnection: return nothing and call back with the socket.
  override createConnection(
    options: https.RequestOptions,
    cb?: (err: Error | null, stream: Duplex) => void,
  ): Duplex | undefined {
    const host = options.host ?? 'localhost';
    connectTunnel(this.proxyPort, `${host}:${options.port}`).then(
      (raw) => {
        const s = tls.connect({ socket: raw, servername: options.servername ?? host, ca: [this.caPem] });
        cb?.(null, s);
      },
      (err: Error) => cb?.(err, undefined as unknown as Duplex),
    );
    return undefined;
  }
}
