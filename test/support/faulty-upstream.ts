// Upstreams that misbehave on purpose, for the fault tests: each is a raw TCP server whose
// behaviour per connection is given by a function.
import net from 'node:net';
import { once } from 'node:events';

export interface Faulty {
  port: number;
  close: () => Promise<void>;
}

export async function faultyUpstream(onConn: (s: net.Socket) => void): Promise<Faulty> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    s.once('data', () => onConn(s));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => srv.close(r));
    },
  };
}
