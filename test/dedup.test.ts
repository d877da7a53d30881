import { describe, expect, it } from 'vitest';
import { Deduper } from '../lib/dedup.js';

const k = (fp: string, dest = 'a:443') => ({ pattern: 'p', dest, direction: 'outbound', fingerprint: fp });

describe('Deduper', () => {
  it('suppresses repeats inside the window and counts them', () => {
    const d = new Deduper(1000);
    expect(d.admit(k('x'), 0)).toBe(true);
    expect(d.admit(k('x'), 500)).toBe(false);
    expect(d.admit(k('x', 'b:443'), 500)).toBe(true);
    expect(d.admit(k('x'), 1500)).toBe(true);
    expect(d.suppressed).toBe(1);
  });

  it('admits everything with a zero window', () => {
    const d = new Deduper(0);
    expect(d.admit(k('x'), 0) && d.admit(k('x'), 0)).toBe(true);
  });

  it('stays bounded', () => {
    const d = new Deduper(60_000, 100);
    for (let i = 0; i < 1000; i++) d.admit(k(String(i)), i);
    expect(d.size).toBeLessThanOrEqual(101);
  });
});
