// The floor for any proxy hop written for Node on this machine: a TCP relay that copies bytes between
// a client and the upstream and does nothing else (no HTTP parsing, no scanning, no findings). The
// bench runs every HTTP workload through it too, so each row's ratio can be read against what a hop
// costs by itself in the same run. Prints `{"port":N}` once listening on 127.0.0.1.
// Usage: node dist/bench/tcp-relay.js <upstream port>
import net from 'node:net';

const target = Number(process.argv[2]);
if (!Number.isInteger(target) || target <= 0 || target > 65535) {
  process.stderr.write('usage: tcp-relay.js <upstream port>\n');
  process.exit(2);
}

const server = net.createServer({ noDelay: true }, (client) => {
  const upstream = net.connect({ host: '127.0.0.1', port: target, noDelay: true });
  // Backpressure both ways, as the guardian does: a reader pauses while its writer's queue is full.
  const relay = (from: net.Socket, to: net.Socket) => {
    from.on('data', (d: Buffer) => {
      if (!to.write(d)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
  };
  relay(client, upstream);
  relay(upstream, client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  for (const s of [client, upstream]) {
    s.on('error', close);
    s.on('close', close);
  }
});
server.listen(0, '127.0.0.1', () => {
  const a = server.address() as net.AddressInfo;
  process.stdout.write(`${JSON.stringify({ port: a.port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
