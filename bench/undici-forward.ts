// The undici variant of the guardian's forwarder, for the benchmark only (issue 11: should undici's
// dispatcher replace forward-request.ts, upstream-pool.ts and the HTTP/1 parser?). It keeps the same
// contract as forwardRequest: the request is streamed upstream on a keep-alive pool per origin, the
// response head goes through the response tap hook, body bytes are written to the client first and
// then to the taps, and a slow client pauses the upstream (controller.pause) instead of being buffered.
import type http from 'node:http';
import { Readable } from 'node:stream';
import tls from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import type { BodyTap, ForwardRequest } from '../host-services/proxy/forward-request.js';
import type { ResponseHead } from '../host-services/proxy/http1/response-parser.js';

const HOP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);
const HOP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'trailer',
]);

export function undiciForwarder(upstreamTrust: string[]): (f: ForwardRequest) => void {
  const agent = new Agent({
    keepAliveTimeout: 30_000,
    connections: 256,
    pipelining: 1,
    connect: { secureContext: tls.createSecureContext({ ca: upstreamTrust }) },
  });
  return (f) => forward(agent, f);
}

/** The request body as undici reads it; each chunk goes to the tap once undici has taken it. */
async function* tapped(req: http.IncomingMessage, tap: BodyTap): AsyncGenerator<Buffer> {
  let complete = false;
  try {
    for await (const chunk of req) {
      yield chunk as Buffer;
      tap.write(chunk as Buffer);
    }
    complete = true;
  } finally {
    tap.end(complete);
  }
}

function forward(agent: Agent, f: ForwardRequest): void {
  const { req, res, target } = f;
  const headers: string[] = [];
  const raw = req.rawHeaders;
  let host: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (HOP_REQUEST.has(lower)) {
      if (lower === 'host') host ??= raw[i + 1];
      continue;
    }
    headers.push(raw[i]!, raw[i + 1]!);
  }
  const bare = target.host.includes(':') ? `[${target.host}]` : target.host;
  const authority = target.port === (target.tls ? 443 : 80) ? bare : `${bare}:${target.port}`;
  headers.push('host', f.absolute || host === undefined ? authority : host);
  let responseTap: ReturnType<NonNullable<ForwardRequest['responseTap']>> = null;
  const handler: Dispatcher.DispatchHandler = {
    // Its presence selects undici's current handler API (controller with pause/resume/abort).
    onRequestStart() {},
    onResponseStart(controller, status, h, statusMessage) {
      const out: string[] = [];
      for (const [k, v] of Object.entries(h)) {
        if (HOP_RESPONSE.has(k) || v === undefined) continue;
        for (const one of Array.isArray(v) ? v : [v]) out.push(k, one);
      }
      const len = h['content-length'];
      const head: ResponseHead = {
        version: '1.1',
        status,
        reason: statusMessage ?? '',
        rawHeaders: out,
        contentLength: typeof len === 'string' ? Number(len) : -1,
        chunked: h['transfer-encoding'] !== undefined,
        contentType: h['content-type'] as string | undefined,
        contentEncoding: h['content-encoding'] as string | undefined,
      };
      responseTap = f.responseTap?.(head) ?? null;
      res.writeHead(status, statusMessage, out);
      res.on('drain', () => controller.resume());
      res.once('close', () => {
        if (!res.writableFinished) controller.abort(new Error('client went away'));
      });
    },
    onResponseData(controller, chunk) {
      if (!res.write(chunk)) controller.pause();
      responseTap?.write(chunk);
    },
    onResponseEnd() {
      res.end();
      responseTap?.end(true);
    },
    onResponseError(_controller, err) {
      responseTap?.end(false);
      f.onUpstreamError(err as Error & { code?: string }, !res.headersSent);
      if (!res.headersSent) {
        res.writeHead(502, { 'content-length': '0', connection: 'close' });
        res.end();
      } else res.destroy();
    },
  };
  agent.dispatch(
    {
      origin: `${target.tls ? 'https' : 'http'}://${authority}`,
      path: f.path,
      method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
      headers,
      body: f.framing.hasBody
        ? f.requestTap
          ? Readable.from(tapped(req, f.requestTap), { objectMode: false })
          : req
        : null,
    },
    handler,
  );
}
