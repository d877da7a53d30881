// The raw bytes of a content-coded body that the decoder has not yet shown to be valid, kept so that a
// body whose declared coding fails to decode (a plain body sent as `Content-Encoding: gzip`, which the
// receiving server may well ignore) is still scanned as it is. Chunks the decoder has consumed are let
// go as it makes progress, so a healthy stream holds little more than what zlib has in flight.

/** Bytes kept behind the decoder's input position: the error may lie a little before where zlib reports it. */
export const HOLD_MARGIN = 64 * 1024;

export class RawHold {
  private chunks: Buffer[] = [];
  /** Absolute input offset of chunks[0]. */
  private start = 0;
  private bytes = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    // A copy: the caller's buffer is only guaranteed until its next write.
    this.chunks.push(Buffer.from(chunk));
    this.bytes += chunk.length;
    while (this.bytes > this.max && this.chunks.length > 1) this.drop();
  }

  /** Lets go of chunks wholly before `consumed - HOLD_MARGIN`. */
  release(consumed: number): void {
    const safe = consumed - HOLD_MARGIN;
    while (this.chunks.length > 0 && this.start + this.chunks[0]!.length <= safe) this.drop();
  }

  /** The held chunks (oldest first), emptied. */
  take(): Buffer[] {
    const c = this.chunks;
    this.chunks = [];
    this.bytes = 0;
    return c;
  }

  private drop(): void {
    const c = this.chunks.shift()!;
    this.start += c.length;
    this.bytes -= c.length;
  }
}
