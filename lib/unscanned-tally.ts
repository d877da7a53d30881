// Aggregates "forwarded unscanned" records (a message past max_scan_bytes, or bytes dropped because the
// scanner was behind) per destination within the dedup window. Under sustained overload every message
// loses bytes: one record each (about 2,000 in 5 s in the bench's mix) would rotate real findings out of
// the log and fill the agent's recent findings. So the first such message for a (kind, direction, dest,
// group) writes its record at once, later ones inside the window are added up, and the next one after the
// window writes a record carrying the sum. Counters in the status answer stay exact either way.
// Bounded like the deduper: the oldest keys go first when the table is full.

export interface UnscannedKey {
  why: 'bound' | 'behind';
  direction: string;
  dest: string;
  group?: string;
}

/** What a record written now must report: this message and the ones held back since the last record. */
export interface UnscannedRecord {
  messages: number;
  bytes: number;
}

interface Entry {
  last: number;
  heldMessages: number;
  heldBytes: number;
}

export class UnscannedTally {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  /** Null when the message is only added up; otherwise the totals the record must carry. */
  add(k: UnscannedKey, bytes: number, now = Date.now()): UnscannedRecord | null {
    if (this.windowMs <= 0) return { messages: 1, bytes };
    const key = `${k.why}\u0000${k.direction}\u0000${k.dest}\u0000${k.group ?? ''}`;
    const e = this.entries.get(key);
    if (e && now - e.last < this.windowMs) {
      e.heldMessages++;
      e.heldBytes += bytes;
      return null;
    }
    const out = { messages: 1 + (e?.heldMessages ?? 0), bytes: bytes + (e?.heldBytes ?? 0) };
    this.entries.delete(key);
    this.entries.set(key, { last: now, heldMessages: 0, heldBytes: 0 });
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return out;
  }
}
