// Scanning: request heads are scanned as they arrive, bodies and WebSocket messages by taps that get
// the bytes after they were forwarded (never buffered whole, never delaying the traffic). Findings go
// to the sink; a flow an earlier hook exempted (allow_hosts) or answered itself (self-probe) is skipped.
// With `scan_workers` > 0 bodies are scanned beside forwarding, in worker threads (scan-pool/), except
// small identity bodies (scanned here at their end, scan-pool/routed-tap.ts); heads stay on this thread.
import type http from 'node:http';
import type { Direction, Location, Protocol } from '../../../lib/finding-schema.js';
import type { MessageMeta } from '../../../lib/finding-builder.js';
import type { Rule } from '../../../lib/rules/rule.js';
import { MessageScanner, scanTextSync } from '../../../lib/scanner/message-scanner.js';
import type { FindingSink } from '../../finding-sink.js';
import type { Counters } from '../../../lib/status-schema.js';
import { ScanPool, type MessageSpec } from '../../scan-pool/scan-pool.js';
import type { DoneSummary } from '../../scan-pool/protocol.js';
import { routedTap } from '../../scan-pool/routed-tap.js';
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
  /** Worker threads scanning bodies beside forwarding; 0 (or absent) scans on the proxy thread. */
  scanWorkers?: number;
  /** Bytes copied for the workers and not yet scanned, across all messages (`scan_backlog_bytes`). */
  scanBacklogBytes?: number;
  /** The workers rebuild the rules as `rulesFor(direction, disabledRules)` (rules cannot be posted). */
  disabledRules?: readonly string[];
  /** Where the pool counts skipped bytes, its backlog peak and lost scans. */
  counters?: Counters;
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

  /** The scan workers, when `scanWorkers` > 0. */
  readonly pool: ScanPool | null;

  constructor(private readonly o: ScanOptions) {
    this.pool =
      o.scanWorkers && o.scanWorkers > 0 && o.counters
        ? new ScanPool({
            workers: o.scanWorkers,
            backlogBytes: o.scanBacklogBytes ?? 32 * 1024 * 1024,
            salt: o.salt,
            maxScanBytes: o.maxScanBytes,
            disabledRules: o.disabledRules ?? [],
            counters: o.counters,
            log: o.log,
          })
        : null;
  }

  /** Ends the workers; call after `drained`. */
  async close(): Promise<void> {
    await this.pool?.close();
  }

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
      ? this.tap(
          { direction: 'outbound', destHost: flow.target.host, contentEncoding: req.headers['content-encoding'] },
          meta,
        )
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
    return this.tap(
      {
        direction: 'inbound',
        destHost: flow.target.host,
        contentEncoding: head.contentEncoding,
        contentType: head.contentType,
      },
      meta,
    );
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
    return this.tap({ direction, destHost: flow.target.host, location: 'tunnel' }, meta);
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
      const tap = this.tap({ direction, destHost: flow.target.host }, meta);
      tap.write(data);
      tap.end(true);
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

  /** A body tap: to the pool (small identity bodies in place) when there is one, else a scanner here. */
  private tap(spec: Omit<MessageSpec, 'location'> & { location?: Location }, meta: MessageMeta): BodyTap {
    const full: MessageSpec = { ...spec, location: spec.location ?? 'body' };
    const inline = () =>
      this.scanner(full.direction, full.destHost, full.contentEncoding, meta, full.contentType, full.location);
    if (!this.pool) return this.localTap(inline(), meta);
    this.live++;
    return routedTap({
      pool: this.pool,
      spec: full,
      inline,
      events: {
        onDetection: (d) => this.o.sink.detection(d, meta),
        onDone: (s, skipped) => {
          this.report(s, meta, skipped);
          this.scanDone();
        },
      },
      onInlineDone: (s, err) => {
        if (s) this.report(s, meta);
        else this.o.log('error', `scan failed: ${err?.message ?? 'unknown error'}`);
        this.scanDone();
      },
    });
  }

  /** A body tap that feeds a scanner on this thread and reports its summary when the body ends. */
  private localTap(scanner: MessageScanner, meta: MessageMeta): BodyTap {
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

  /**
   * A scan's summary goes to the counters; a message cut at the bound, or that lost bytes because the
   * scanner was behind (`skipped`), also leaves one record naming it. `s` is null when the worker holding
   * the message died (the pool counted it).
   */
  private report(s: DoneSummary | null, meta: MessageMeta, skipped = 0): void {
    if (s) this.o.sink.scanned(s);
    const truncated = s?.truncated ?? false;
    if (!truncated && skipped === 0) return;
    // Identity: exactly what went on unscanned (a hole counts in bytesIn, never in bytesScanned);
    // content-coded: the raw bytes after the decoder stopped being fed (the decoded bound may have been
    // reached earlier, so this is a lower bound), plus the bytes never sent to the scanner.
    let unscanned = skipped;
    if (s && truncated) {
      unscanned = s.contentCoding
        ? skipped + Math.max(0, s.bytesIn - (this.o.maxScanBytes + 64 * 1024))
        : Math.max(0, s.bytesIn - s.bytesScanned);
    }
    this.o.sink.truncated(meta, unscanned, skipped > 0 ? 'behind' : 'bound');
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
