// The benchmark's upstream, run as its own process so it does not share an event loop with the load
// generator. Prints one JSON line {httpPort, httpsPort, caFile} when ready.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { loadOrCreateCa } from '../host-services/ca.js';
import { homePaths } from '../host-services/home.js';

const home = process.argv[2];
if (!home) throw new Error('usage: upstream-server <ca-home>');
const ca = loadOrCreateCa(homePaths(home), { create: true })!;
const pair = ca.certFor('localhost');

function json(bytes: number): Buffer {
  const item = { role: 'assistant', content: 'The quick brown fox jumps over the lazy dog. '.repeat(4) };
  const items: unknown[] = [];
  let s = '';
  while (s.length < bytes) {
    items.push(item);
    s = JSON.stringify({ id: 'msg_bench', items });
  }
  return Buffer.from(s);
}

const SMALL = Buffer.from(
  JSON.stringify({
    id: 'msg_bench',
    type: 'message',
    role: 'assistant',
    content: [{ type: 'text', text: 'Hello! How can I help you today with your project?' }],
    usage: { input_tokens: 12, output_tokens: 14 },
  }),
);
const BIG = json(64 * 1024);
const GZ = zlib.gzipSync(BIG);
const BLOCK = Buffer.alloc(64 * 1024, 0x61);

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.method === 'POST') {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 11 });
      res.end('{"ok":true}');
    });
    return;
  }
  switch (url.pathname) {
    case '/small':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': SMALL.length });
      res.end(SMALL);
      return;
    case '/json64k':
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': BIG.length });
      res.end(BIG);
      return;
    case '/gzip':
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': GZ.length,
      });
      res.end(GZ);
      return;
    case '/sse': {
      const n = Number(url.searchParams.get('n') ?? 20);
      const gap = Number(url.searchParams.get('gap') ?? 20);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let i = 0;
      const tick = () => {
        res.write(`data: ${JSON.stringify({ i, t: performance.timeOrigin + performance.now(), text: 'token ' })}\n\n`);
        if (++i >= n) res.end();
        else setTimeout(tick, gap);
      };
      tick();
      return;
    }
    case '/stream': {
      let left = Number(url.searchParams.get('mib') ?? 10) * 1024 * 1024;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
      const pump = () => {
        while (left > 0) {
          const part = BLOCK.subarray(0, Math.min(left, BLOCK.length));
          left -= part.length;
          if (!res.write(part)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    default:
      res.writeHead(404, { 'content-length': 0 });
      res.end();
  }
}

const plain = http.createServer({ keepAliveTimeout: 60_000 }, handler);
const secure = https.createServer({ ...pair, keepAliveTimeout: 60_000 }, handler);
plain.listen(0, '127.0.0.1');
secure.listen(0, '127.0.0.1');
await Promise.all([once(plain, 'listening'), once(secure, 'listening')]);
process.stdout.write(
  `${JSON.stringify({ httpPort: (plain.address() as net.AddressInfo).port, httpsPort: (secure.address() as net.AddressInfo).port, caFile: ca.certPath, caPem: ca.certPem })}\n`,
);
process.on('SIGTERM', () => process.exit(0));
