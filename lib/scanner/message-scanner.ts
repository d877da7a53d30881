// Scans one HTTP message (a request or a response body) as it streams: content-decodes a copy,
// bounds the bytes scanned per message, and reports redacted detections. The caller forwards the
// original bytes itself and feeds them here afterwards: scanning never holds up forwarding.
import type { Direction, Location } from '../finding-schema.js';
import type { Detection } from '../detection.js';
import type { Rule } from '../rules/rule.js';
import { ContentDecoder, parseContentEncoding } from '../decode/content-decoder.js';
import { TextEngine } from './text-engine.js';
import { SseTextExtractor } from '../decode/sse-text.js';

export interface MessageScanOptions {
  direction: Direction;
  /** Rules to run (already filtered for direction and disabled rules). */
  rules: readonly Rule[];
  /** Host-side salt for fingerprints. */
  salt: Buffer;
  /** Bytes scanned per message after decoding; the rest is forwarded unscanned and `truncated` is set. */
  maxScanBytes: number;
  /** Destination host (credentials sent to their issuer are normal use). */
  destHost?: string;
  /** The message's Content-Encoding header value. */
  contentEncoding?: string;
  location?: Location;
  /** The message's Content-Type; `text/event-stream` bodies also get their event text reassembled. */
  contentType?: string;
  maxDetections?: number;
  onDetection?: (d: Detection) => void;
}

export interface ScanSummary {
  detections: Detection[];
  /** Raw (possibly compressed) bytes received. */
  bytesIn: number;
  /** Decoded bytes the rules saw. */
  bytesScanned: number;
  /** True when the per-message bound stopped scanning before the end. */
  truncated: boolean;
  /** Decoding chain applied to the body, e.g. `gzip` or `br>gzip`; '' for none. */
  contentCoding: string;
  /** Set when decoding failed or the coding is unknown; what was decoded so far was still scanned. */
  decodeError?: string;
  /** Detections beyond the per-message cap (counted, not reported). */
  overflow: number;
}

export class MessageScanner {
  private readonly engine: TextEngine;
  /** For event streams: the joined event text, scanned by a second engine sharing the dedup set. */
  private readonly sse: { extractor: SseTextExtractor; engine: TextEngine } | null;
  private readonly decoder: ContentDecoder | null;
  private readonly detections: Detection[] = [];
  private contentCoding = '';
  private bytesIn = 0;
  private bytesScanned = 0;
  private truncated = false;
  private decodeError: string | undefined;
  private closed = false;
  /** Every byte fed has been scanned (or scanning failed); `end()` waits for this. */
  private settled = false;
  private onSettled: (() => void) | null = null;

  constructor(private readonly opts: MessageScanOptions) {
    this.engine = new TextEngine({
      rules: opts.rules,
      salt: opts.salt,
      destHost: opts.destHost,
      location: opts.location ?? 'body',
      maxDetections: opts.maxDetections,
      onDetection: (raw) => this.report(raw),
    });
    if (opts.contentType && /^\s*text\/event-stream/i.test(opts.contentType)) {
      const engine = new TextEngine({
        rules: opts.rules,
        salt: opts.salt,
        destHost: opts.destHost,
        location: opts.location ?? 'body',
        maxDetections: opts.maxDetections,
        chainPrefix: ['sse'],
        seen: this.engine.seenSet,
        onDetection: (raw) => this.report(raw),
      });
      this.sse = { engine, extractor: new SseTextExtractor((t) => engine.feedText(t)) };
    } else {
      this.sse = null;
    }
    const enc = parseContentEncoding(opts.contentEncoding);
    if (enc.unsupported) this.decodeError = `unsupported content-encoding "${enc.unsupported}", scanned as is`;
    // Decoded in reverse of the order applied; the chain reads outermost first.
    this.contentCoding = enc.codings.length === 0 ? '' : [...enc.codings].reverse().join('>');
    this.decoder =
      enc.codings.length > 0
        ? new ContentDecoder(enc.codings, opts.maxScanBytes + 1, {
            onData: (d) => this.scanDecoded(d),
            onEnd: ({ error }) => {
              if (error && !this.decodeError) this.decodeError = `${this.contentCoding} decoding failed: ${error}`;
              this.finishEngine();
            },
          })
        : null;
  }

  private report(raw: Detection): void {
    // The body's content coding is the outermost step of the decoding chain (`gzip>base64`).
    const d = this.contentCoding
      ? { ...raw, encoding: raw.encoding ? `${this.contentCoding}>${raw.encoding}` : this.contentCoding }
      : raw;
    this.detections.push(d);
    this.opts.onDetection?.(d);
  }

  /** Feeds raw body bytes. Never throws. */
  write(chunk: Buffer): void {
    if (this.closed) return;
    this.bytesIn += chunk.length;
    try {
      if (this.decoder) {
        // Compressed input beyond the decoded bound cannot add scannable bytes; stop feeding zlib.
        if (this.bytesIn - chunk.length > this.opts.maxScanBytes + 64 * 1024) {
          this.truncated = true;
          this.decoder.abort();
          return;
        }
        this.decoder.write(chunk);
      } else {
        this.scanDecoded(chunk);
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private scanDecoded(d: Buffer): void {
    if (this.bytesScanned >= this.opts.maxScanBytes) {
      if (d.length > 0) this.truncated = true;
      return;
    }
    const room = this.opts.maxScanBytes - this.bytesScanned;
    const part = d.length > room ? d.subarray(0, room) : d;
    if (d.length > room) this.truncated = true;
    this.bytesScanned += part.length;
    try {
      this.engine.feed(part);
      this.sse?.extractor.feed(part.toString('latin1'));
    } catch (err) {
      this.fail(err);
    }
  }

  private resolveSettled(): void {
    this.settled = true;
    this.onSettled?.();
    this.onSettled = null;
  }

  private fail(err: unknown): void {
    // A scanner bug must not take the proxy down: record it and stop scanning this message.
    this.decodeError = `scanner error: ${err instanceof Error ? err.message : String(err)}`;
    this.closed = true;
    this.decoder?.abort();
    this.resolveSettled();
  }

  private finishEngine(): void {
    try {
      this.engine.finish();
      if (this.sse) {
        this.sse.extractor.finish();
        this.sse.engine.finish();
      }
    } catch (err) {
      this.fail(err);
    }
    this.resolveSettled();
  }

  /** Marks the end of the body and resolves when every byte has been scanned. */
  async end(): Promise<ScanSummary> {
    if (!this.closed) {
      this.closed = true;
      if (this.decoder) this.decoder.end();
      else this.finishEngine();
    }
    // A promise only when decoding is still running: most messages are settled by now.
    if (!this.settled) await new Promise<void>((r) => (this.onSettled = r));
    return this.summary();
  }

  /**
   * Ends the message like `end()`, but returns the summary at once when every byte has already been
   * scanned (no content decoding still running), and null otherwise: then `end()` must be awaited. The
   * proxy's common case (identity bodies) needs no promise at all.
   */
  endNow(): ScanSummary | null {
    if (!this.closed) {
      this.closed = true;
      if (this.decoder) this.decoder.end();
      else this.finishEngine();
    }
    return this.settled ? this.summary() : null;
  }

  /**
   * The message was cut off (client or upstream went away): scan what arrived and stop. Compressed
   * bytes already handed to the decoder are flushed and scanned, not dropped: an upstream that sends
   * a compressed body and then resets the connection must not slip it past the scan. The work stays
   * within the same bounds (input fed is capped, decoded output is capped).
   */
  abort(): Promise<ScanSummary> {
    return this.end();
  }

  summary(): ScanSummary {
    return {
      detections: this.detections,
      bytesIn: this.bytesIn,
      bytesScanned: this.bytesScanned,
      truncated: this.truncated,
      contentCoding: this.contentCoding,
      decodeError: this.decodeError,
      overflow: this.engine.overflow + (this.sse?.engine.overflow ?? 0),
    };
  }
}

/** Scans a whole buffer (offline `scan`, tests). Chunking is the caller's choice via `chunkSize`. */
export async function scanBuffer(buf: Buffer, opts: MessageScanOptions, chunkSize = 64 * 1024): Promise<ScanSummary> {
  const s = new MessageScanner(opts);
  for (let i = 0; i < buf.length; i += chunkSize) s.write(buf.subarray(i, i + chunkSize));
  return s.end();
}

/** Scans a short text (a request line, a header block) synchronously. */
export function scanTextSync(
  latin1: string,
  opts: Omit<MessageScanOptions, 'contentEncoding' | 'maxScanBytes'> & { maxScanBytes?: number },
): Detection[] {
  const out: Detection[] = [];
  const engine = new TextEngine({
    rules: opts.rules,
    salt: opts.salt,
    destHost: opts.destHost,
    location: opts.location ?? 'headers',
    maxDetections: opts.maxDetections,
    onDetection: (d) => {
      out.push(d);
      opts.onDetection?.(d);
    },
  });
  engine.feedText(latin1.slice(0, opts.maxScanBytes ?? 64 * 1024));
  engine.finish();
  return out;
}
