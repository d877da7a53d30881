// copyBytes (lib/copy-bytes.ts) stands in for Buffer#copy wherever bytes may live in shared memory: it
// must copy exactly the source, at any alignment, into shared and plain memory alike, touch nothing
// around the range, and refuse a range that does not fit instead of cutting it short.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { copyBytes } from '../lib/copy-bytes.js';

describe('copyBytes', () => {
  for (const shared of [false, true]) {
    it(`copies exactly, at every alignment, ${shared ? 'out of and into shared memory' : 'in plain memory'}`, () => {
      const mem = (n: number) => (shared ? Buffer.from(new SharedArrayBuffer(n)) : Buffer.alloc(n));
      const src = mem(4096);
      randomBytes(4096).copy(src);
      for (const n of [1, 7, 8, 9, 63, 1000, 4000]) {
        for (let from = 0; from < 8; from++) {
          for (let at = 0; at < 8; at++) {
            const dst = mem(n + 32);
            dst.fill(0xee);
            expect(copyBytes(src.subarray(from, from + n), dst, at + 8)).toBe(n);
            expect(dst.subarray(at + 8, at + 8 + n).equals(src.subarray(from, from + n))).toBe(true);
            expect(dst.subarray(0, at + 8).every((b) => b === 0xee)).toBe(true);
            expect(dst.subarray(at + 8 + n).every((b) => b === 0xee)).toBe(true);
          }
        }
      }
    });
  }

  it('copies nothing for an empty source and refuses a range past the end', () => {
    const dst = Buffer.alloc(10, 1);
    expect(copyBytes(Buffer.alloc(0), dst, 10)).toBe(0);
    expect(() => copyBytes(Buffer.alloc(4), dst, 7)).toThrow(RangeError);
    expect(dst.every((b) => b === 1)).toBe(true);
  });
});
