// Space in a scan worker's ring (the memory the proxy thread copies message bytes into and the worker
// reads them from): contiguous allocations handed out in ring order and given back in the same order,
// since a worker acknowledges whole batches.
//
// Each allocation starts at an offset with the same remainder modulo 8 as its source bytes' offset.
// V8 copies into (and out of) shared memory with relaxed atomic loads and stores, a word at a time only
// when source and destination are equally aligned, a byte at a time otherwise. Measured on this machine
// (Node 20): 32 KiB copies into a SharedArrayBuffer ran at 15 GB/s equally aligned against 3.2 GB/s
// not; inside the guardian under 64 KiB JSON responses at 32 connections those copies ran at 1-2.4 GB/s
// and took 23% of the proxy thread's CPU. Socket reads start at offset 0 of their own memory, so most
// chunks land at offsets that are multiples of 8, which is also what the worker's own copies (to offset
// 0 of its window and decoder buffers) want. The guardian's own copies now go through `copyBytes`
// (lib/copy-bytes.ts: a plain memcpy, alignment does not matter); the alignment still serves any copy
// of ring bytes that goes through V8 (TypedArray#set, Buffer#copy) elsewhere.

/** Alignment the copies need to run a word at a time. */
export const RING_ALIGN = 8;

export class RingSpace {
  private head = 0;
  private used = 0;
  /**
   * Allocations in ring order, four numbers each: start (its padding included), data length, bytes left
   * unused at the end of the ring when it wrapped to 0, padding before the data.
   */
  private segs: number[] = [];
  private first = 0;

  constructor(readonly capacity: number) {}

  /** Ring bytes in use: data not yet given back, plus padding and space skipped at the end. */
  get usedBytes(): number {
    return this.used;
  }

  /** Allocations not yet given back. */
  get allocations(): number {
    return (this.segs.length - this.first) / 4;
  }

  /**
   * Contiguous room for `n` bytes starting at an offset ≡ `phase` (mod 8): that offset, or -1 when the
   * ring has no such room now.
   */
  reserve(n: number, phase: number): number {
    const cap = this.capacity;
    const padAt = (p: number) => (phase - p) & (RING_ALIGN - 1);
    let start = -1;
    let skipped = 0;
    if (this.used === 0) {
      if (padAt(0) + n <= cap) start = 0;
    } else {
      // The oldest allocation starts the used space (at the end of the ring if it wrapped).
      const s = this.first;
      const tail = this.segs[s + 2]! > 0 ? cap - this.segs[s + 2]! : this.segs[s]!;
      if (this.head > tail) {
        // Used: [tail, head). Free: [head, cap), then [0, tail).
        if (this.head + padAt(this.head) + n <= cap) start = this.head;
        else if (padAt(0) + n <= tail) {
          start = 0;
          skipped = cap - this.head;
        }
      } else if (this.head + padAt(this.head) + n <= tail) {
        start = this.head; // wrapped: free is [head, tail)
      }
    }
    if (start < 0) return -1;
    const pad = padAt(start);
    this.segs.push(start, n, skipped, pad);
    this.head = start + pad + n;
    this.used += n + skipped + pad;
    return start + pad;
  }

  /** The worker is done with the oldest allocations, `n` data bytes of them (whole allocations). */
  release(n: number): void {
    let left = n;
    while (left > 0 && this.first < this.segs.length) {
      const s = this.first;
      const len = this.segs[s + 1]!;
      this.used -= len + this.segs[s + 2]! + this.segs[s + 3]!;
      left -= len;
      this.first += 4;
    }
    // Drop what was given back now and then, not on every call (a splice per batch moved the whole array).
    if (this.first === this.segs.length) {
      this.segs.length = 0;
      this.first = 0;
    } else if (this.first >= 4096) {
      this.segs.splice(0, this.first);
      this.first = 0;
    }
    if (this.used === 0) this.head = 0;
  }

  /** Everything is free again (the worker holding the ring was replaced). */
  reset(): void {
    this.segs = [];
    this.first = 0;
    this.used = 0;
    this.head = 0;
  }
}
