// Suppresses repeats of the same finding within a time window, counting what it suppressed.
// Bounded: the oldest keys are dropped first when the table is full.

export interface DedupKeyParts {
  pattern: string;
  dest: string;
  direction: string;
  fingerprint: string;
}

export class Deduper {
  private readonly seen = new Map<string, number>();
  suppressed = 0;

  constructor(
    readonly windowMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  static key(p: DedupKeyParts): string {
    return `${p.pattern}\u0000${p.dest}\u0000${p.direction}\u0000${p.fingerprint}`;
  }

  /** True if this finding should be recorded; false (and counted) if it repeats one inside the window. */
  admit(parts: DedupKeyParts, now = Date.now()): boolean {
    if (this.windowMs <= 0) return true;
    const key = Deduper.key(parts);
    const last = this.seen.get(key);
    if (last !== undefined && now - last < this.windowMs) {
      this.suppressed++;
      return false;
    }
    // Re-insert so Map order stays oldest-first for eviction.
    this.seen.delete(key);
    this.seen.set(key, now);
    if (this.seen.size > this.maxEntries) this.evict(now);
    return true;
  }

  private evict(now: number): void {
    for (const [k, t] of this.seen) {
      if (this.seen.size <= this.maxEntries && now - t < this.windowMs) break;
      this.seen.delete(k);
    }
  }

  get size(): number {
    return this.seen.size;
  }
}
