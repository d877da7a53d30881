// Streams a body through zlib per its Content-Encoding (gzip, deflate, br, stacked) so the scanner
// sees decoded bytes while the proxy forwards the original ones. Decoded output is bounded: once
// `maxOutput` bytes have come out the decoders are destroyed, so a decompression bomb costs at most
// that much work and memory.
//
// Each write to a zlib stream is one job on libuv's thread pool, and each job fills at most one
// output chunk: the fixed cost per job dominated with 16 KiB writes. Compressed input is therefore
// gathered to IN_BATCH bytes before it is written, and zlib hands out OUT_CHUNK bytes per output
// chunk. Measured on the benign JSON corpus gzipped per 1 MiB message (inflate alone, CPU time):
//   16 KiB in, 16 KiB out (node's default): 209 MB/s    16 KiB in, 64 KiB out: 316
//   64 KiB in, 64 KiB out: 414                          64 KiB in, 128 KiB out: 440
//   zlib.gunzipSync on the whole message: 284-394       fflate's streaming Gunzip (pure JS): 101
// node:zlib has no synchronous streaming API (its sync path closes the stream after one call), so
// the streams stay; 64 KiB out keeps memory per message near the scanner's own window. A body that ends
// before filling one batch (most compressed API responses) skips the stream: one synchronous call
// (gzip JSON messages of 8 KiB, all rules: 28 -> 57 MB/s; 64 KiB: 44 -> 97).
import zlib from 'node:zlib';
import type { Transform } from 'node:stream';

export type ContentCoding = 'gzip' | 'deflate' | 'br';

export interface ParsedEncoding {
  /** Codings in the order they were applied by the sender (decode in reverse). */
  codings: readonly ContentCoding[];
  /** A coding we cannot decode (the body is then scanned as is). */
  unsupported?: string;
}

/** No Content-Encoding (the common case), shared. */
const IDENTITY: ParsedEncoding = Object.freeze({ codings: Object.freeze([]) });

export function parseContentEncoding(header: string | undefined): ParsedEncoding {
  if (!header) return IDENTITY;
  const codings: ContentCoding[] = [];
  for (const raw of header.split(',')) {
    const c = raw.trim().toLowerCase();
    if (c === '' || c === 'identity') continue;
    if (c === 'gzip' || c === 'x-gzip') codings.push('gzip');
    else if (c === 'deflate') codings.push('deflate');
    else if (c === 'br') codings.push('br');
    else return { codings: [], unsupported: c };
  }
  return { codings };
}

/** Compressed bytes gathered before one write to zlib, and zlib's output chunk size. */
export const IN_BATCH = 64 * 1024;
export const OUT_CHUNK = 64 * 1024;

/** Raw deflate (no zlib header) is common in the wild; sniff the first byte to pick the decoder. */
function deflateFor(first: number | undefined): Transform {
  const opts = { finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: OUT_CHUNK };
  return first !== undefined && (first & 0x0f) === 8 ? zlib.createInflate(opts) : zlib.createInflateRaw(opts);
}

function decoderFor(coding: ContentCoding, first: number | undefined): Transform {
  switch (coding) {
    case 'gzip':
      // Z_SYNC_FLUSH: a truncated stream yields what it has instead of an error and nothing.
      return zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH, chunkSize: OUT_CHUNK });
    case 'deflate':
      return deflateFor(first);
    case 'br':
      return zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH, chunkSize: OUT_CHUNK });
  }
}

export interface ContentDecoderEvents {
  onData(decoded: Buffer): void;
  /** Called once: after all input decoded, after the bound was hit, or after an error. */
  onEnd(result: { error?: string; bounded: boolean }): void;
}

/**
 * A chain of zlib decoders. `write` never throws; errors end the chain and are reported once.
 * The chain is built lazily on the first write so raw deflate can be sniffed.
 */
export class ContentDecoder {
  private chain: Transform[] | null = null;
  private outBytes = 0;
  private done = false;
  private ended = false;
  /** Compressed input not yet written to zlib (under IN_BATCH bytes in all). */
  private gathered: Buffer[] = [];
  private gatheredBytes = 0;
  /** The body's first byte (raw deflate is told from zlib-wrapped by it). */
  private first: number | undefined;
  /** Input decoded in one call at the end (a body that never filled a batch). */
  private decodedAtOnce = 0;

  constructor(
    private readonly codings: readonly ContentCoding[],
    private readonly maxOutput: number,
    private readonly events: ContentDecoderEvents,
  ) {}

  private build(first: number | undefined): Transform[] {
    // Sender applied codings[0] first, so we decode the last one first.
    const chain = [...this.codings].reverse().map((c, i) => decoderFor(c, i === 0 ? first : undefined));
    for (let i = 0; i < chain.length; i++) {
      const t = chain[i]!;
      t.on('error', (err: Error) => this.finish(err.message));
      if (i < chain.length - 1) {
        const next = chain[i + 1]!;
        // Inner decoders get their first byte sniffed too (stacked raw deflate is rare but cheap to handle).
        t.on('data', (d: Buffer) => {
          if (!this.done) next.write(d);
        });
        t.on('end', () => {
          if (!this.done) next.end();
        });
      } else {
        t.on('data', (d: Buffer) => this.emit(d));
        t.on('end', () => this.finish());
      }
    }
    return chain;
  }

  private emit(d: Buffer): void {
    if (this.done) return;
    const room = this.maxOutput - this.outBytes;
    if (d.length >= room) {
      if (room > 0) this.events.onData(d.subarray(0, room));
      this.outBytes = this.maxOutput;
      this.finish(undefined, true);
      return;
    }
    this.outBytes += d.length;
    this.events.onData(d);
  }

  private finish(error?: string, bounded = false): void {
    if (this.done) return;
    this.done = true;
    this.gathered = [];
    this.gatheredBytes = 0;
    if (this.chain) for (const t of this.chain) t.destroy();
    this.events.onEnd({ error, bounded });
  }

  write(chunk: Buffer): void {
    if (this.done || this.ended || chunk.length === 0) return;
    this.first ??= chunk[0];
    if (this.gatheredBytes === 0 && chunk.length >= IN_BATCH) {
      this.chain ??= this.build(this.first);
      this.chain[0]!.write(chunk);
      return;
    }
    this.gathered.push(chunk);
    this.gatheredBytes += chunk.length;
    if (this.gatheredBytes >= IN_BATCH) this.flushGathered();
  }

  private flushGathered(): void {
    if (this.gatheredBytes === 0) return;
    this.chain ??= this.build(this.first);
    const g = this.gathered;
    const batch = g.length === 1 ? g[0]! : Buffer.concat(g, this.gatheredBytes);
    this.gathered = [];
    this.gatheredBytes = 0;
    this.chain[0]!.write(batch);
  }

  end(): void {
    if (this.done || this.ended) return;
    this.ended = true;
    if (!this.chain) {
      if (this.gatheredBytes === 0) {
        this.finish();
        return;
      }
      if (this.codings.length === 1 && this.decodeAtOnce(Buffer.concat(this.gathered, this.gatheredBytes))) return;
      // It did not decode in one call: stream it as it arrived, write by write, as before batching. zlib
      // drops the output of a write that ends in an error (a bad trailer), so one write would lose all.
      this.chain = this.build(this.first);
      for (const c of this.gathered) this.chain[0]!.write(c);
      this.gathered = [];
      this.gatheredBytes = 0;
    }
    this.flushGathered();
    this.chain![0]!.end();
  }

  /**
   * A body that ended before filling one batch (most compressed API responses) is decoded in one
   * synchronous call: no stream, no thread-pool job. Only when that call succeeds within the output
   * bound; an error or a larger output goes the streaming way, which reports and cuts as always (the
   * same zlib code gives the same bytes: checked for complete, multi-member, truncated and padded gzip).
   */
  private decodeAtOnce(input: Buffer): boolean {
    const max = { maxOutputLength: this.maxOutput };
    let out: Buffer;
    try {
      switch (this.codings[0]!) {
        case 'gzip':
          out = zlib.gunzipSync(input, { ...max, finishFlush: zlib.constants.Z_SYNC_FLUSH });
          break;
        case 'deflate':
          out =
            (input[0]! & 0x0f) === 8
              ? zlib.inflateSync(input, { ...max, finishFlush: zlib.constants.Z_SYNC_FLUSH })
              : zlib.inflateRawSync(input, { ...max, finishFlush: zlib.constants.Z_SYNC_FLUSH });
          break;
        case 'br':
          out = zlib.brotliDecompressSync(input, { ...max, finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
          break;
      }
    } catch {
      return false;
    }
    this.decodedAtOnce = input.length;
    if (out.length > 0) this.emit(out);
    this.finish();
    return true;
  }

  /** Stops decoding now (client aborted, bound reached elsewhere). */
  abort(): void {
    this.finish(undefined, false);
  }

  get finished(): boolean {
    return this.done;
  }

  /** Input bytes the first decoder has taken in so far (zlib's `bytesWritten`). */
  get consumed(): number {
    const first = this.chain?.[0] as (Transform & { bytesWritten?: number }) | undefined;
    return first?.bytesWritten ?? this.decodedAtOnce;
  }
}
