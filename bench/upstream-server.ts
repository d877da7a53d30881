// The benchmark's upstream, run as its own process so it does not share an event loop with the load
// generator. Serves the same routes over HTTP and HTTPS on 127.0.0.1 (TLS leaf for `localhost` from a
// CA made in a temp home) and prints one JSON line {httpPort, httpsPort, caFile, caPem} when ready.
// Every response has Content-Length except /sse and POST /model (chunked). Exits on SIGTERM or when its
// parent closes stdin.
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import zlib from 'node:zlib';
import { once } from 'node:events';
import { loadOrCreateCa } from '../host-services/ca.js';
import { homePaths } from '../host-services/home.js';
import { benignJson } from '../test/support/benign-corpus.js';
import { modelEvents } from './model-answer.js';

const home = process.argv[2];
if (!home) throw new Error('usage: upstream-server <ca-home>');
const ca = loadOrCreateCa(homePaths(home), { create: true })!;
const pair = ca.certFor('localhost');

const SMALL = Buffer.from(
  JSON.stringify({
    id: 'msg_bench',
    type: 'message',
    role: 'assistant',
    content: [{ type: 'text', text: 'Hello! How can I help you today with your project?' }],
    usage: { input_tokens: 12, output_tokens: 14 },
  }),
);
// A realistic LLM-API JSON document (the benign test corpus: prose, code, tool results) of about 64 KiB.
const BIG = Buffer.from(benignJson(64 * 1024, 7));
const GZ = zlib.gzipSync(BIG);
// /stream sends 64 KiB blocks of NDJSON text (scanned like any text body, up to the per-message bound).
const BLOCK = Buffer.alloc(
  64 * 1024,
  `${JSON.stringify({ role: 'assistant', content: 'The quick brown fox jumps over the lazy dog. '.repeat(3) })}\n`,
);

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.method === 'POST' && url.pathname === '/upload') {
    let bytes = 0;
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => {
      const body = JSON.stringify({ ok: true, bytes });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    return;
  }
  if (req.method === 'POST' && url.pathname === '/model') {
    let bytes = 0;
    req.on('data', (d: Buffer) => (bytes += d.length));
    req.on('end', () => {
      // No Content-Length: Node frames the answer chunked, one chunk per write.
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      for (const e of modelEvents(bytes)) res.write(e);
      res.end();
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
      const n = Math.min(10_000, Number(url.searchParams.get('n') ?? 20));
      const gap = Math.min(10_000, Number(url.searchParams.get('gap') ?? 20));
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      let i = 0;
      let timer: NodeJS.Timeout | undefined;
      res.on('close', () => clearTimeout(timer));
      // Each event carries its send time on the shared wall clock (ms, sub-ms precision).
      const tick = () => {
        const t = performance.timeOrigin + performance.now();
        res.write(`event: delta\ndata: ${JSON.stringify({ i, t, text: 'token ' })}\n\n`);
        if (++i >= n) res.end();
        else timer = setTimeout(tick, gap);
      };
      tick();
      return;
    }
    case '/stream': {
      let left = Math.min(1024, Number(url.searchParams.get('mib') ?? 10)) * 1024 * 1024;
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'content-length': left });
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
  `${JSON.stringify({ httpPort: (plain.address() as net.AddressInfo).port, httpsPort: (secure.address() as net.AddressInfo).port, caFile: ca.certPath, caPem: ca.certPem, sizes: { small: SMALL.length, json64k: BIG.length, gzip: GZ.length } })}\n`,
);
const quit = () => process.exit(0);
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
process.stdin.on('end', quit);
process.stdin.on('error', quit);
process.stdin.resume();
