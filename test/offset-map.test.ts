// The offset mappers walk their source exactly as the decoders in lib/decode/ do: decoding the source
// up to the mapped offset gives exactly `pos` bytes, for every position that starts a decoded unit.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeJsonEscapes } from '../lib/decode/json-escapes.js';
import { decodePercent } from '../lib/decode/percent.js';
import { jsonSourceOffset, percentSourceOffset, sourceMapper } from '../lib/scanner/offset-map.js';

const decodedLength = (decode: (b: Buffer) => Buffer | null, b: Buffer) => (decode(b) ?? b).length;

// Text made of escapes, near-escapes and plain bytes, so every branch of the decoders is taken.
const jsonPiece = fc.constantFrom(
  'a',
  'Z',
  ' ',
  '\\n',
  '\\"',
  '\\\\',
  '\\/',
  '\\u002d',
  '\\u00e9',
  '\\u20ac',
  '\\ud83d\\ude00',
  '\\ud83d',
  '\\udc00x',
  '\\x',
  '\\u12',
  '\\',
  '\xe9',
);
const pctPiece = fc.constantFrom('a', '%2D', '%', '%4', '%zz', '%e9', '%%41', ' ', '-');

function check(
  pieces: fc.Arbitrary<string>,
  decode: (b: Buffer) => Buffer | null,
  map: (raw: Uint8Array, pos: number) => number,
): void {
  fc.assert(
    fc.property(fc.array(pieces, { maxLength: 40 }), (parts) => {
      const raw = Buffer.from(parts.join(''), 'latin1');
      const total = decodedLength(decode, raw);
      let last = -1;
      for (let pos = 0; pos <= total; pos++) {
        const at = map(raw, pos);
        expect(at).toBeGreaterThanOrEqual(last);
        last = at;
        // A position that starts a unit: the prefix up to `at` decodes to exactly `pos` bytes.
        const len = decodedLength(decode, raw.subarray(0, at));
        if (len === pos) continue;
        // Inside a multi-byte unit (the UTF-8 of one escape): `at` is where that unit starts.
        expect(len).toBeLessThan(pos);
        expect(map(raw, len)).toBe(at);
      }
    }),
    { numRuns: 1500 },
  );
}

describe('offset maps', () => {
  it('map JSON-unescaped positions to their escapes', () => check(jsonPiece, decodeJsonEscapes, jsonSourceOffset));
  it('map percent-decoded positions to their escapes', () => check(pctPiece, decodePercent, percentSourceOffset));

  it('point a position inside a multi-byte escape at its backslash', () => {
    const raw = Buffer.from('ab\\u20acc', 'latin1'); // euro sign: 3 UTF-8 bytes from one escape
    expect([0, 1, 2, 3, 4, 5].map((p) => jsonSourceOffset(raw, p))).toEqual([0, 1, 2, 2, 2, 8]);
  });

  it('resuming mappers answer like the plain walks, in any order of questions', () => {
    fc.assert(
      fc.property(fc.array(jsonPiece, { maxLength: 30 }), fc.array(fc.nat(120), { maxLength: 20 }), (parts, asks) => {
        const raw = Buffer.from(parts.join(''), 'latin1');
        const json = sourceMapper('json', raw);
        const pct = sourceMapper('percent', raw);
        for (const p of asks) {
          expect(json(p)).toBe(jsonSourceOffset(raw, p));
          expect(pct(p)).toBe(percentSourceOffset(raw, p));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
