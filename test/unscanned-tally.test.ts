// Unscanned-bytes records under overload: one at once per destination and kind, the rest added up into the
// next record after the window, nothing dropped from the totals.
import { describe, expect, it } from 'vitest';
import { UnscannedTally } from '../lib/unscanned-tally.js';
import { FindingSink } from '../host-services/finding-sink.js';
import { Deduper } from '../lib/dedup.js';
import { zeroCounters } from '../lib/status-schema.js';
import type { Finding } from '../lib/finding-schema.js';

const key = { why: 'behind' as const, direction: 'outbound', dest: 'api.example:443', group: 'main' };

describe('UnscannedTally', () => {
  it('writes the first at once, holds the rest of the window, and the next record carries their sum', () => {
    const t = new UnscannedTally(1000);
    expect(t.add(key, 10, 0)).toEqual({ messages: 1, bytes: 10 });
    expect(t.add(key, 20, 500)).toBeNull();
    expect(t.add(key, 30, 999)).toBeNull();
    expect(t.add(key, 5, 1000)).toEqual({ messages: 3, bytes: 55 });
    expect(t.add(key, 1, 1001)).toBeNull();
  });

  it('keeps kinds, directions, destinations and groups apart', () => {
    const t = new UnscannedTally(1000);
    expect(t.add(key, 1, 0)).not.toBeNull();
    expect(t.add({ ...key, why: 'bound' }, 1, 0)).not.toBeNull();
    expect(t.add({ ...key, direction: 'inbound' }, 1, 0)).not.toBeNull();
    expect(t.add({ ...key, dest: 'other.example:443' }, 1, 0)).not.toBeNull();
    expect(t.add({ ...key, group: 'other' }, 1, 0)).not.toBeNull();
    expect(t.add(key, 1, 1)).toBeNull();
  });

  it('writes every message when the window is 0, and stays bounded in keys', () => {
    const t0 = new UnscannedTally(0);
    expect(t0.add(key, 7, 0)).toEqual({ messages: 1, bytes: 7 });
    expect(t0.add(key, 7, 0)).toEqual({ messages: 1, bytes: 7 });
    const t = new UnscannedTally(1000, 2);
    t.add({ ...key, dest: 'a' }, 1, 0);
    t.add({ ...key, dest: 'b' }, 1, 0);
    t.add({ ...key, dest: 'c' }, 1, 0);
    // 'a' was evicted: a new record at once rather than a held one.
    expect(t.add({ ...key, dest: 'a' }, 1, 1)).not.toBeNull();
  });
});

describe('FindingSink under a flood of unscanned messages', () => {
  it('writes one record per destination per window while the counters stay exact', () => {
    const written: Finding[] = [];
    const counters = zeroCounters();
    const sink = new FindingSink(new Deduper(60_000), { append: (f) => written.push(f) }, counters);
    const meta = { direction: 'outbound' as const, protocol: 'http' as const, source: '10.0.0.2', dest: 'x.test:80' };
    for (let i = 0; i < 2000; i++) sink.truncated(meta, 1000, 'behind');
    expect(written).toHaveLength(1);
    expect(written[0]).toMatchObject({ pattern: 'scan_truncated', unscanned_bytes: 1000 });
    expect(written[0]!.description).toBe('scanner behind: 1000 bytes forwarded unscanned');
  });
});
