// The probes of the self-check: requests to PROBE_HOST (lib/probe.ts) through the proxy this process
// was given. Only the guardian answers that name (it never resolves anywhere else), so an answer that
// parses as the guardian's proves the traffic passes it. Every probe is bounded in time and bytes, and
// resolves (never rejects) with what happened; what the other side sent is never echoed.
import http from 'node:http';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import { PROBE_HOST, PROBE_INSPECTION_OFF, ProbeAnswerSchema, type ProbeAnswer } from '../lib/probe.js';
import type { ProxyTarget } from './proxy-env.js';

export type ProbeOutcome =
  | { kind: 'guardian'; answer: ProbeAnswer }
  /** The proxy asked for credentials (407): none, or wrong ones, in the variable. */
  | { kind: 'auth_required' }
  /** A CONNECT refused by the guardian because HTTPS inspection is off. */
  | { kind: 'inspection_off' }
  /** Something answered, but not as the guardian does. */
  | { kind: 'other'; status: number }
  /** The TLS handshake failed: the guardian's certificate is not trusted (code from OpenSSL). */
  | { kind: 'untrusted'; code: string }
  | { kind: 'unreachable'; code: string };

type OkTarget = Extract<ProxyTarget, { ok: true }>;

const MAX_BODY = 4096;

/** Reads a small body (at most MAX_BODY bytes; more is dropped) as text. */
function readBody(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    res.on('data', (c: Buffer) => {
      if (size < MAX_BODY) parts.push(c.subarray(0, MAX_BODY - size));
      size += c.length;
    });
    res.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    res.on('error', () => resolve(Buffer.concat(parts).toString('utf8')));
  });
}

/** What a response to a probe request says. */
async function judge(res: http.IncomingMessage): Promise<ProbeOutcome> {
  const status = res.statusCode ?? 0;
  const body = await readBody(res);
  if (status === 407) return { kind: 'auth_required' };
  if (status !== 200) return { kind: 'other', status };
  try {
    const answer = ProbeAnswerSchema.safeParse(JSON.parse(body));
    if (answer.success) return { kind: 'guardian', answer: answer.data };
  } catch {
    // not JSON: not the guardian
  }
  return { kind: 'other', status };
}

function errorCode(err: Error & { code?: string }): string {
  return (err.code ?? err.message).replace(/[^\w .-]/g, '').slice(0, 60);
}

/** Runs `start` with a deadline: whatever is still open then is destroyed and the result is a timeout. */
function bounded(
  timeoutMs: number,
  start: (done: (o: ProbeOutcome) => void, track: (s: { destroy(): void }) => void) => void,
): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const open: { destroy(): void }[] = [];
    let settled = false;
    const done = (o: ProbeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      for (const s of open) s.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => done({ kind: 'unreachable', code: `no answer within ${timeoutMs} ms` }), timeoutMs);
    try {
      start(done, (s) => open.push(s));
    } catch (err) {
      done({ kind: 'unreachable', code: errorCode(err as Error) });
    }
  });
}

function proxyHeaders(proxy: OkTarget, extra: Record<string, string>): Record<string, string> {
  return { ...extra, ...(proxy.authorization ? { 'proxy-authorization': proxy.authorization } : {}) };
}

/** `GET http://PROBE_HOST/` through the proxy, as any HTTP client with http_proxy set sends it. */
export function probeHttp(proxy: OkTarget, timeoutMs: number): Promise<ProbeOutcome> {
  return bounded(timeoutMs, (done, track) => {
    const req = http.request({
      host: proxy.host,
      port: proxy.port,
      method: 'GET',
      path: `http://${PROBE_HOST}/`,
      headers: proxyHeaders(proxy, { host: PROBE_HOST, connection: 'close' }),
      agent: false,
    });
    track(req);
    req.on('response', (res) => void judge(res).then(done));
    req.on('error', (err) => done({ kind: 'unreachable', code: errorCode(err) }));
    req.end();
  });
}

/**
 * `CONNECT PROBE_HOST:443` through the proxy, a TLS handshake trusting `ca` (undefined: this process's
 * own default trust, which for Node includes NODE_EXTRA_CA_CERTS read at start), then `GET /` inside.
 */
export function probeHttps(proxy: OkTarget, ca: string[] | undefined, timeoutMs: number): Promise<ProbeOutcome> {
  return bounded(timeoutMs, (done, track) => {
    const req = http.request({
      host: proxy.host,
      port: proxy.port,
      method: 'CONNECT',
      path: `${PROBE_HOST}:443`,
      headers: proxyHeaders(proxy, { host: `${PROBE_HOST}:443` }),
      agent: false,
    });
    track(req);
    req.on('error', (err) => done({ kind: 'unreachable', code: errorCode(err) }));
    req.on('connect', (res: http.IncomingMessage, socket: Duplex) => {
      track(socket);
      if (res.statusCode !== 200) {
        // The CONNECT answer's body, if any, is on the socket: read a little of it for the guardian's
        // "inspection is off" refusal.
        const status = res.statusCode ?? 0;
        if (status === 407) return done({ kind: 'auth_required' });
        let text = '';
        socket.on('data', (c: Buffer) => {
          text += c.toString('utf8', 0, Math.min(c.length, MAX_BODY));
          if (text.includes(PROBE_INSPECTION_OFF)) done({ kind: 'inspection_off' });
        });
        socket.on('error', () => undefined);
        socket.on('close', () =>
          done(
            status === 403 && text.includes(PROBE_INSPECTION_OFF)
              ? { kind: 'inspection_off' }
              : { kind: 'other', status },
          ),
        );
        return;
      }
      const secure = tls.connect({
        socket,
        servername: PROBE_HOST,
        ...(ca ? { ca } : {}),
        ALPNProtocols: ['http/1.1'],
      });
      track(secure);
      secure.on('error', (err) => {
        const code = errorCode(err);
        done(/CERT|SIGN|ISSUER|ALTNAME/i.test(code) ? { kind: 'untrusted', code } : { kind: 'unreachable', code });
      });
      secure.on('secureConnect', () => {
        const inner = http.request({
          createConnection: () => secure,
          method: 'GET',
          path: '/',
          headers: { host: PROBE_HOST, connection: 'close' },
        });
        inner.on('response', (r) => void judge(r).then(done));
        inner.on('error', (err) => done({ kind: 'unreachable', code: errorCode(err) }));
        inner.end();
      });
    });
    req.end();
  });
}
