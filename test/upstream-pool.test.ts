// The upstream connection pool on its own, against a real TCP server: reuse, the idle cap, the idle
// timeout, and an idle connection the server closes or writes to.
import { afterEach, describe, expect, it } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import { UpstreamPool, type UpstreamConn } from '../host-services/proxy/upstream-pool.js';
import { waitFor } from './support/proxy-client.js';

const servers: { srv: net.Server; conns: net.Socket[] }[] = [];
const pools: UpstreamPool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) p.destroy();
  for (const { srv, conns } of servers.splice(0)) {
    for (const c of conns) c.destroy();
    srv.close();
    await once(srv, 'close');
  }
});

/** A TCP server that keeps every connection open and lets the test act on the server side. */
async function server() {
  const conns: net.Socket[] = [];
  const srv = net.createServer((s) => {
    s.on('error', () => undefined);
    conns.push(s);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  servers.push({ srv, conns });
  return { port: (srv.address() as net.AddressInfo).port, conns };
}

function pool(opts: { idleMs?: number; maxIdlePerTarget?: number } = {}) {
  const p = new UpstreamPool({ secureContext: tls.createSecureContext(), ...opts });
  pools.push(p);
  return p;
}

describe('UpstreamPool', () => {
  it('gives back the most recently released connection, marked reused', async () => {
    const s = await server();
    const p = pool();
    const t = { host: '127.0.0.1', port: s.port, tls: false };
    expect(p.take(t)).toBeNull();
    const a = await p.connect(t);
    const b = await p.connect(t);
    expect(a.reused).toBe(false);
    p.release(a);
    p.release(b);
    expect(p.idleCount(t)).toBe(2);
    const again = p.take(t);
    expect(again).toBe(b);
    expect(again!.reused).toBe(true);
    expect(p.idleCount(t)).toBe(1);
  });

  it('keeps at most maxIdlePerTarget idle connections and closes the rest', async () => {
    const s = await server();
    const p = pool({ maxIdlePerTarget: 2 });
    const t = { host: '127.0.0.1', port: s.port, tls: false };
    const conns: UpstreamConn[] = [];
    for (let i = 0; i < 4; i++) conns.push(await p.connect(t));
    for (const c of conns) p.release(c);
    expect(p.idleCount(t)).toBe(2);
    await waitFor(
      () => conns.filter((c) => c.socket.destroyed).length,
      (n) => n === 2,
      'two connections closed',
    );
  });

  it('closes connections idle longer than idleMs', async () => {
    const s = await server();
    const p = pool({ idleMs: 100 });
    const t = { host: '127.0.0.1', port: s.port, tls: false };
    const c = await p.connect(t);
    p.release(c);
    await waitFor(
      () => c.socket.destroyed,
      (d) => d,
      'idle connection closed',
      3000,
    );
    expect(p.idleCount(t)).toBe(0);
    expect(p.take(t)).toBeNull();
  });

  it('drops an idle connection that the server closes or writes to', async () => {
    const s = await server();
    const p = pool();
    const t = { host: '127.0.0.1', port: s.port, tls: false };
    const a = await p.connect(t);
    const b = await p.connect(t);
    p.release(a);
    p.release(b);
    await waitFor(
      () => s.conns.length,
      (n) => n === 2,
      'server saw both',
    );
    s.conns[0]!.end(); // EOF on one
    s.conns[1]!.write('HTTP/1.1 200 OK\r\n\r\n'); // unasked bytes on the other
    await waitFor(
      () => p.idleCount(t),
      (n) => n === 0,
      'both dropped',
    );
    expect(a.socket.destroyed && b.socket.destroyed).toBe(true);
  });

  it('refuses new connections once destroyed, and closes the ones it has', async () => {
    const s = await server();
    const p = pool();
    const t = { host: '127.0.0.1', port: s.port, tls: false };
    const c = await p.connect(t);
    p.destroy();
    expect(c.socket.destroyed).toBe(true);
    await expect(p.connect(t)).rejects.toMatchObject({ code: 'ESTOPPING' });
  });
});
