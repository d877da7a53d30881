// The scan workers' ring allocator (host-services/scan-pool/ring-space.ts): allocations in ring order,
// given back in the same order, each at an offset aligned like its source (mod 8). Random sequences
// check what the pool relies on: no two live allocations overlap, all lie inside the ring, each has the
// asked alignment, space is never lost (all free again once all are given back), and a full ring says so.
import { describe, expect, it } from 'vitest';
import { RING_ALIGN, RingSpace } from '../host-services/scan-pool/ring-space.js';

function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) % n;
}

describe('RingSpace', () => {
  it('starts every allocation at the asked alignment, inside the ring', () => {
    const r = new RingSpace(1000);
    for (let phase = 0; phase < RING_ALIGN; phase++) {
      const off = r.reserve(10, phase);
      expect(off).toBeGreaterThanOrEqual(0);
      expect(off % RING_ALIGN).toBe(phase);
      expect(off + 10).toBeLessThanOrEqual(1000);
    }
  });

  for (const seed of [1, 2, 3, 4, 5]) {
    it(`random reserve/release in ring order never overlaps or loses space (seed ${seed})`, () => {
      const rnd = lcg(seed);
      const cap = 4096 + rnd(4096);
      const r = new RingSpace(cap);
      // Live allocations in order: [offset, length]; batches acknowledged as whole groups, like the worker.
      const live: [number, number][] = [];
      let full = 0;
      for (let step = 0; step < 20_000; step++) {
        if (live.length === 0 || rnd(3) !== 0) {
          const n = 1 + rnd(rnd(4) === 0 ? cap : 600);
          const phase = rnd(RING_ALIGN);
          const off = r.reserve(n, phase);
          if (off < 0) {
            full++;
            continue;
          }
          expect(off % RING_ALIGN).toBe(phase);
          expect(off).toBeGreaterThanOrEqual(0);
          expect(off + n).toBeLessThanOrEqual(cap);
          for (const [o, l] of live) expect(off + n <= o || o + l <= off).toBe(true);
          live.push([off, n]);
        } else {
          const k = 1 + rnd(live.length);
          const done = live.splice(0, k);
          r.release(done.reduce((a, [, l]) => a + l, 0));
        }
        expect(r.allocations).toBe(live.length);
        const data = live.reduce((a, [, l]) => a + l, 0);
        expect(r.usedBytes).toBeGreaterThanOrEqual(data);
        expect(r.usedBytes).toBeLessThanOrEqual(cap);
      }
      expect(full).toBeGreaterThan(0);
      r.release(live.reduce((a, [, l]) => a + l, 0));
      expect(r.usedBytes).toBe(0);
      expect(r.allocations).toBe(0);
      // Nothing was lost: the whole ring is one free run again.
      expect(r.reserve(cap, 0)).toBe(0);
    });
  }

  it('says full rather than overlapping, and wraps to the start once the oldest is given back', () => {
    const r = new RingSpace(100);
    expect(r.reserve(60, 0)).toBe(0);
    expect(r.reserve(30, 0)).toBe(64);
    expect(r.reserve(10, 0)).toBe(-1);
    r.release(60);
    // Room at the end is too small (94..100); the start is free again.
    expect(r.reserve(50, 3)).toBe(3);
    expect(r.reserve(10, 0)).toBe(-1);
    r.release(30);
    r.release(50);
    expect(r.usedBytes).toBe(0);
    r.reset();
    expect(r.reserve(100, 0)).toBe(0);
    expect(r.reserve(1, 0)).toBe(-1);
  });
});
