// Scanning: request heads are scanned as they arrive, bodies and WebSocket messages by taps that get
// the bytes after they were forwarded (never buffered whole, never delaying the traffic). Findings go
// to the sink; a flow an earlier hook exempted (allow_hosts) or answered itself (self-probe) is skipped.
import type http from 'node:http';
import type { Direction, Location, Protocol } from '../../../lib/finding-schema.js';
import type { MessageMeta } from '../../../lib/finding-builder.js';
import type { Rule } from '../../../lib/rules/rule.js';
import { MessageScanner, scanTextSync, type ScanSummary } from '../../../lib/scanner/message-scanner.js';
import type { FindingSink } from '../../finding-sink.js';
import type { BodyTap } from '../forward-request.js';
import { formatHostPort } from '../connect-target.js';
import type { Flow } from '../flow.js';
import type { ProxyHook } from '../hooks.js';
import type { ResponseHead } from '../http1/response-parser.js';

export interface ScanOptions {
  sink: FindingSink;
  rules: { outbound: readonly Rule[]; inbound: readonly Rule[] };
  salt: Buffer;
  maxScanBytes: number;
  log: (level: 'error' | 'warn', msg: string) => void;
}

/** Proxy credentials are for the guardian and are not forwarded: not exfiltration. */
const HOP_HEADERS = new Set(['proxy-authorization', 'proxy-connection']);

/** Host names checked for secrets: agents talk to a few hosts, over and over. */
const HOSTS_CACHE_MAX = 1000;

/**
 * A host name with the labels that may carry a secret masked: every label but the last two, and those
 * too when the secret is in them (`[REDACTED].evil.test`).
 */
function maskHost(host: string, secretIn: (label: string) => boolean): string {
  const labels = host.split('.');
  return labels
    .map((l, i) => (i < labels.length - 2 || secretIn(l) ? '[REDACTED]' : l))
    .join('.')
    .replace(/^(\[REDACTED\]\.)+/, '[REDACTED].');
}

export class ScanHook implements ProxyHook {
  /** Body scans not yet reported (each ends with its message, cut off or complete). */
  private live = 0;
  private onDrained: (() => void) | undefined;
  /** Host name -> its masked form when a secret is in it, null when none is. */
  private readonly hosts = new Map<string, string | null>();

  constructor(private readonly o: ScanOptions) {}

  /**
   * A CONNECT's request head (its target and Host are the only names a blind tunnel shows) is scanned
   * like any request head; a secret in the target's name masks it in the flow's `dest`.
   */
  connect(flow: Flow, req: http.IncomingMessage): void {
    if (!flow.scan || flow.local) return;
    this.maskDest(flow);
    const meta: MessageMeta = {
      direction: 'outbound',
      protocol: 'connect',
      source: flow.client,
      dest: flow.dest,
      method: 'CONNECT',
      group: flow.group,
    };
    try {
      this.scanHead(req, flow.target.host, meta);
    } catch (err) {
      this.o.log('error', `header scan failed: ${(err as Error).message}`);
    }
  }

  /** The SNI name of a tunnel, scanned as outbound text. */
  serverName(flow: Flow, name: string): void {
    if (!flow.scan || flow.local) return;
    const meta: MessageMeta = {
      direction: 'outbound',
      protocol: 'https',
      source: flow.client,
      dest: flow.dest,
      group: flow.group,
    };
    scanTextSync(`server name: ${name.slice(0, 1024)}`, {
      direction: 'outbound',
      rules: this.o.rules.outbound,
      salt: this.o.salt,
      destHost: flow.target.host,
      location: 'headers',
      onDetection: (d) => this.o.sink.detection(d, meta),
    });
  }

  requestHeaders(flow: Flow, req: http.IncomingMessage, hasBody: boolean): BodyTap | null {
    if (!flow.scan || flow.local) return null;
    if (!flow.tunnel) this.maskDest(flow);
    const meta: MessageMeta = {
      direction: 'outbound',
      protocol: flow.protocol,
      source: flow.client,
      dest: flow.dest,
      method: flow.method,
      path: flow.path,
      group: flow.group,
    };
    try {
      this.scanHead(req, flow.target.host, meta);
    } catch (err) {
      this.o.log('error', `header scan failed: ${(err as Error).message}`);
    }
    // Most requests (GETs) have no body: no body scanner for them.
    return hasBody
      ? this.tap(this.scanner('outbound', flow.target.host, req.headers['content-encoding'], meta), meta)
      : null;
  }

  responseHeaders(flow: Flow, head: ResponseHead): BodyTap | null {
    if (!flow.scan || flow.local) return null;
    // No scanner for answers that carry no body (HEAD, 204, 304, an empty body).
    if (flow.method === 'HEAD' || head.status === 204 || head.status === 304 || head.contentLength === 0) return null;
    const meta: MessageMeta = {
      direction: 'inbound',
      protocol: flow.protocol,
      source: flow.dest,
      dest: flow.dest,
      method: flow.method,
      path: flow.path,
      group: flow.group,
    };
    return this.tap(this.scanner('inbound', flow.target.host, head.contentEncoding, meta, head.contentType), meta);
  }

  rawStream(flow: Flow, fromServer: boolean): BodyTap | null {
    if (!flow.scan || flow.local) return null;
    const direction: Direction = fromServer ? 'inbound' : 'outbound';
    const meta: MessageMeta = {
      direction,
      protocol: 'connect',
      source: fromServer ? flow.dest : flow.client,
      dest: flow.dest,
      group: flow.group,
    };
    return this.tap(this.scanner(direction, flow.target.host, undefined, meta, undefined, 'tunnel'), meta);
  }

  webSocketMessage(flow: Flow, fromServer: boolean, data: Buffer): void {
    if (!flow.scan || flow.local) return;
    try {
      const direction: Direction = fromServer ? 'inbound' : 'outbound';
      const meta: MessageMeta = {
        direction,
        protocol: 'websocket' satisfies Protocol,
        source: fromServer ? flow.dest : flow.client,
        dest: flow.dest,
        path: pathOnly(flow.path),
        group: flow.group,
      };
      const s = this.scanner(direction, flow.target.host, undefined, meta);
      s.write(data);
      s.end().then(
        (sum) => this.report(sum, meta),
        () => undefined,
      );
    } catch (err) {
      this.o.log('warn', `websocket scan failed: ${(err as Error).message}`);
    }
  }

  /** Masks the flow's `dest` when its host name carries a secret (the head scan reports the finding). */
  private maskDest(flow: Flow): void {
    const host = flow.target.host;
    let masked = this.hosts.get(host);
    if (masked === undefined) {
      const secretIn = (text: string) =>
        scanTextSync(text, {
          direction: 'outbound',
          rules: this.o.rules.outbound,
          salt: this.o.salt,
          destHost: host,
          location: 'headers',
        }).length > 0;
      masked = secretIn(host) ? maskHost(host, secretIn) : null;
      if (this.hosts.size >= HOSTS_CACHE_MAX) this.hosts.clear();
      this.hosts.set(host, masked);
    }
    if (masked !== null) flow.dest = formatHostPort({ host: masked, port: flow.target.port });
  }

  /** Resolves once every body scan has reported (or after `ms`, whatever is still open). */
  drained(ms: number): Promise<void> {
    if (this.live === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.onDrained = done;
    });
  }

  /** A body tap that feeds a scanner and reports its summary when the body ends. */
  private tap(scanner: MessageScanner, meta: MessageMeta): BodyTap {
    this.live++;
    return {
      write: (chunk) => scanner.write(chunk),
      end: () => {
        // A cut-off message is scanned as far as it arrived, like a complete one (abort() is end()).
        const now = scanner.endNow();
        if (now) {
          this.report(now, meta);
          this.scanDone();
          return;
        }
        scanner
          .end()
          .then(
            (s) => this.report(s, meta),
            (err: Error) => this.o.log('error', `scan failed: ${err.message}`),
          )
          .finally(() => this.scanDone());
      },
    };
  }

  /** A scan's summary goes to the counters; a message cut at the bound also leaves a record naming it. */
  private report(s: ScanSummary, meta: MessageMeta): void {
    this.o.sink.scanned(s);
    if (!s.truncated) return;
    // Identity: exactly what went on unscanned; content-coded: the raw bytes after the decoder stopped
    // being fed (the decoded bound may have been reached earlier, so this is a lower bound).
    const unscanned = s.contentCoding
      ? Math.max(0, s.bytesIn - (this.o.maxScanBytes + 64 * 1024))
      : Math.max(0, s.bytesIn - s.bytesScanned);
    this.o.sink.truncated(meta, unscanned);
  }

  private scanDone(): void {
    if (--this.live === 0) this.onDrained?.();
  }

  private scanHead(req: http.IncomingMessage, destHost: string, meta: MessageMeta): void {
    let text = `${req.method ?? ''} ${req.url ?? ''} HTTP/${req.httpVersion}\r\n`;
    const raw = req.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      if (HOP_HEADERS.has(raw[i]!.toLowerCase())) continue;
      text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    }
    scanTextSync(text, {
      direction: 'outbound',
      rules: this.o.rules.outbound,
      salt: this.o.salt,
      destHost,
      location: 'headers',
      onDetection: (d) => this.o.sink.detection(d, meta),
    });
  }

  private scanner(
    direction: Direction,
    destHost: string,
    encoding: string | undefined,
    meta: MessageMeta,
    contentType?: string,
    location: Location = 'body',
  ): MessageScanner {
    return new MessageScanner({
      direction,
      rules: direction === 'outbound' ? this.o.rules.outbound : this.o.rules.inbound,
      salt: this.o.salt,
      maxScanBytes: this.o.maxScanBytes,
      destHost,
      contentEncoding: encoding,
      contentType,
      location,
      onDetection: (d) => this.o.sink.detection(d, meta),
    });
  }
}

/** A WebSocket finding names the path without its query (as the library-era relay wrote it). */
function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}
