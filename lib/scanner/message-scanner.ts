// Scans one HTTP message (a request or a response body) as it streams: content-decodes a copy,
// bounds the bytes scanned per message, and reports redacted detections. The caller forwards the
// original bytes itself and feeds them here afterwards: scanning never holds up forwarding.
import type { Direction, Location } from '../finding-schema.js';
import type { Detection } from '../detection.js';
import type { Rule } from '../rules/rule.js';
import { ContentDecoder, parseContentEncoding, type ContentCoding } from '../decode/content-decoder.js';
import { TextEngine } from './text-engine.js';
import { SseTextExtractor } from '../decode/sse-text.js';
import { RawHold } from '../decode/raw-hold.js';
import { copyBytes } from '../copy-bytes.js';

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

/** The start of an application/x-www-form-urlencoded body: a field name, then `=`. */
const FORM_START = /^[A-Za-z0-9_.~%[\]-]{1,64}=/;

export class MessageScanner {
  private readonly engine: TextEngine;
  /** For event streams: the joined event text, scanned by a second engine sharing the dedup set. */
  private readonly sse: { extractor: SseTextExtractor; engine: TextEngine } | null;
  private decoder: ContentDecoder | null;
  /** Raw bytes not yet shown decodable, and the engine that scans raw bytes once decoding failed. */
  private hold: RawHold | null = null;
  private fallback: TextEngine | null = null;
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
    // Form bodies write spaces as `+` (PEM armour, JSON keys, credential files posted as forms).
    const plusAsSpace =
      opts.contentType !== undefined && /^\s*application\/x-www-form-urlencoded/i.test(opts.contentType);
    this.engine = new TextEngine({
      rules: opts.rules,
      salt: opts.salt,
      destHost: opts.destHost,
      location: opts.location ?? 'body',
      maxDetections: opts.maxDetections,
      plusAsSpace,
      decodeBudget: opts.maxScanBytes,
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
    this.decoder = enc.codings.length > 0 ? this.makeDecoder(enc.codings) : null;
  }

  private makeDecoder(codings: readonly ContentCoding[]): ContentDecoder {
    this.hold = new RawHold(this.opts.maxScanBytes);
    return new ContentDecoder(codings, this.opts.maxScanBytes + 1, {
      onData: (d) => {
        this.hold?.release(this.decoder?.consumed ?? 0);
        this.scanDecoded(d);
      },
      onEnd: ({ error }) => {
        if (error) {
          if (!this.decodeError) this.decodeError = `${this.contentCoding} decoding failed: ${error}`;
          this.startFallback();
          // Not at the end yet: later raw bytes go to the fallback engine; end() finishes.
          if (!this.closed) return;
        }
        this.hold = null;
        this.finishEngine();
      },
    });
  }

  /**
   * The declared coding did not decode: the raw bytes are scanned as they are (a server may ignore the
   * header and read them so), from where the decoder stopped making progress. Findings say so in their
   * encoding chain: `raw(gzip-failed)`.
   */
  private startFallback(): void {
    if (this.fallback) return;
    this.fallback = new TextEngine({
      rules: this.opts.rules,
      salt: this.opts.salt,
      destHost: this.opts.destHost,
      location: this.opts.location ?? 'body',
      maxDetections: this.opts.maxDetections,
      chainPrefix: [`raw(${this.contentCoding}-failed)`],
      seen: this.engine.seenSet,
      decodeBudget: this.opts.maxScanBytes,
      onDetection: (d) => {
        this.detections.push(d);
        this.opts.onDetection?.(d);
      },
    });
    for (const c of this.hold?.take() ?? []) this.scanDecoded(c, this.fallback);
    this.hold = null;
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
      if (this.fallback) {
        this.scanDecoded(chunk, this.fallback);
        return;
      }
      if (this.bytesIn === chunk.length && !this.decoder && this.sniffGzip(chunk)) {
        this.contentCoding = 'gzip(sniffed)';
        this.decoder = this.makeDecoder(['gzip']);
      }
      if (this.decoder) {
        this.hold?.push(chunk);
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

  /**
   * Feeds raw body bytes that stay valid only during this call (a view of the scan workers' shared
   * ring, reused once acknowledged). What the scanner keeps past the call is copied: a content decoder
   * gets the chunk copied (zlib queues its input), the text window its unscanned bytes. An identity body
   * is so copied once, into the window, instead of once out of the ring and again into the window.
   */
  writeTransient(chunk: Buffer): void {
    if (this.closed) return;
    const decodes = this.decoder !== null || (this.bytesIn === 0 && !this.fallback && this.sniffGzip(chunk));
    if (decodes) {
      const copy = Buffer.allocUnsafe(chunk.length);
      copyBytes(chunk, copy, 0);
      this.write(copy);
      return;
    }
    this.write(chunk);
    (this.fallback ?? this.engine).detach();
  }

  /**
   * A hole of `n` raw bytes (forwarded unscanned because the scanner was behind). An identity body goes
   * on with true offsets; the hole does not count against `maxScanBytes` (no byte of it was scanned). A
   * content-coded body cannot be decoded past a hole: its scan stops here.
   */
  gap(n: number): void {
    if (this.closed || n <= 0) return;
    this.bytesIn += n;
    if (this.decoder || this.fallback) {
      // A hole past the compressed-input bound is what that bound cuts anyway: truncated, as `write` says.
      if (this.bytesIn > this.opts.maxScanBytes + 64 * 1024) this.truncated = true;
      this.decoder?.abort();
      if (this.fallback) this.fallback.gap(n);
      return;
    }
    this.engine.gap(n);
    // An event cut by the hole ends at it: its text is not joined to what follows.
    if (this.bytesScanned < this.opts.maxScanBytes) this.sse?.extractor.feed('\n\n');
  }

  /**
   * An outbound body without a Content-Encoding that is gzip data (`tar czf - ~/.ssh | curl --data-binary
   * @- …`) is decoded too. Inbound bodies are not sniffed: downloaded archives are not the agent's doing.
   */
  private sniffGzip(first: Buffer): boolean {
    return (
      this.opts.direction === 'outbound' &&
      !this.opts.contentEncoding &&
      first.length >= 3 &&
      first[0] === 0x1f &&
      first[1] === 0x8b &&
      first[2] === 0x08
    );
  }

  private scanDecoded(d: Buffer, engine: TextEngine = this.engine): void {
    // A body that starts like `name=value` is read as a form whatever its Content-Type says (or when
    // the caller does not pass one): `+` is then a space too. One small test per message.
    if (this.bytesScanned === 0 && !engine.plusAsSpace && FORM_START.test(d.toString('latin1', 0, 80))) {
      engine.plusAsSpace = true;
    }
    if (this.bytesScanned >= this.opts.maxScanBytes) {
      if (d.length > 0) this.truncated = true;
      return;
    }
    const room = this.opts.maxScanBytes - this.bytesScanned;
    const part = d.length > room ? d.subarray(0, room) : d;
    if (d.length > room) this.truncated = true;
    this.bytesScanned += part.length;
    try {
      engine.feed(part);
      if (engine === this.engine) this.sse?.extractor.feed(part.toString('latin1'));
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
      this.fallback?.finish();
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
      if (this.decoder && !this.fallback) this.decoder.end();
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
      if (this.decoder && !this.fallback) this.decoder.end();
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
    // The request line's query string writes spaces as `+`.
    plusAsSpace: true,
    onDetection: (d) => {
      out.push(d);
      opts.onDetection?.(d);
    },
  });
  engine.feedText(latin1.slice(0, opts.maxScanBytes ?? 64 * 1024));
  engine.finish();
  return out;
}
