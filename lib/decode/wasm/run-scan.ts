// Finds the runs of base64/hex characters in a view with WebAssembly SIMD: 16 bytes classified per
// step (letters, digits, `+ / - _`), one bit per byte, and the runs read off the bit masks. Runs shorter
// than 17 characters never need tracking (a run long enough to matter spans a whole 16-byte block or
// the end of one and the start of the next), so a block costs a few instructions whatever it holds.
//
// Why WebAssembly: findRuns was the largest decoding cost on benign JSON (its sampled JS loop: 0.76 ms
// per MB, a third of the decoders' time once allocations were gone). This pass gives the same runs in
// 0.26 ms per MB including the copy of the view into the module's memory (benign JSON corpus, 64 KiB
// views, CPU time); classifying with comparisons (letters by range, digits by range, four `==`) instead
// of the nibble tables below measured 0.39. The module is assembled here from its instructions with
// ../../wasm/emit.ts (no toolchain, no binary file): the listing below is the whole program, checked
// against the JS reference (test/support/reference/encoded-runs.ts) by test/decode-fast-paths.test.ts.

import { code, instantiate, op, wasmModule } from '../../wasm/emit.js';
import { copyBytes } from '../../copy-bytes.js';

// Function `runs(inPtr, n, min, outPtr, max, sepPtr) -> count`: writes [start, end) pairs (offsets
// from inPtr) of the maximal runs of at least `min` (>= 17) run characters in mem[inPtr, inPtr + n) to
// outPtr, at most `max` of them. mem[inPtr + n, inPtr + n + 16) must be zero (a non-run byte closes the last run).
// It also writes, from sepPtr + 4 on, the offsets of the 16-byte blocks whose every byte can be part of
// a separated-hex run (see SEP_LO below), and their count at sepPtr: such a run of 31 bytes or more
// always covers one, so lib/decode/separated-hex.ts samples only near them.
const [IN, N, MIN, OUTP, MAX, SEPP, POS, START, COUNT, M, Z, END, TMP, SEPN, V, LOV, HIV] = [
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
];
/**
 * Run characters by nibbles (the usual SIMD table lookup): a byte is one when LO[low nibble] and
 * HI[high nibble] share a bit. Each high nibble that holds run characters gets a bit, set in LO for
 * its low nibbles: 2 (`+ - /`: b d f), 3 (digits: 0-9), 4 and 6 (letters: 1-f), 5 (0-a and `_` f), 7 (0-a).
 */
const HI_BITS = [0, 0, 1, 2, 4, 8, 4, 16, 0, 0, 0, 0, 0, 0, 0, 0];
const LO_BITS = Array.from({ length: 16 }, (_, lo) => {
  let bits = 0;
  if (lo === 0xb || lo === 0xd || lo === 0xf) bits |= 1;
  if (lo <= 9) bits |= 2;
  if (lo >= 1) bits |= 4;
  if (lo <= 0xa || lo === 0xf) bits |= 8;
  if (lo <= 0xa) bits |= 16;
  return bits;
});
/**
 * Bytes of separated hex (hex digits, `\t \n \r`, space, `, - :`, `x X \`) by nibbles, as above: one bit
 * per high nibble group: 0 (tab, LF, CR: 9 a d), 2 (space , -: 0 c d), 3 (digits and `:`: 0-a),
 * 4 and 6 (A-F, a-f: 1-6), 5 (`X` 8, `\` c), 7 (`x` 8).
 */
const SEP_HI = [1, 0, 2, 4, 8, 16, 8, 32, 0, 0, 0, 0, 0, 0, 0, 0];
const SEP_LO = Array.from({ length: 16 }, (_, lo) => {
  let bits = 0;
  if (lo === 9 || lo === 0xa || lo === 0xd) bits |= 1;
  if (lo === 0 || lo === 0xc || lo === 0xd) bits |= 2;
  if (lo <= 0xa) bits |= 4;
  if (lo >= 1 && lo <= 6) bits |= 8;
  if (lo === 8 || lo === 0xc) bits |= 16;
  if (lo === 8) bits |= 32;
  return bits;
});
const ZEROS = new Array<number>(16).fill(0);
const LOW_NIBBLE = new Array<number>(16).fill(0x0f);

// One instruction group per line, as an assembler listing reads.
// prettier-ignore
const body: number[] = code(
  // end = inPtr + n; pos = start = inPtr; count = 0
  op.get(IN), op.get(N), op.add, op.set(END),
  op.get(IN), op.set(POS),
  op.get(IN), op.set(START),
  op.i32(0), op.set(COUNT),
  op.i32(0), op.set(SEPN),
  op.block,
  op.loop,
  // Blocks up to and including the one holding byte n (a zero), so a run ending at n is closed.
  op.get(POS), op.get(END), op.gtU, op.brIf(1),
  // The block's low and high nibbles, for both classifications below.
  op.get(POS), op.v128Load(0), op.tee(V), op.v128Const(LOW_NIBBLE), op.v128And, op.set(LOV),
  op.get(V), op.i32(4), op.i8x16ShrU, op.set(HIV),
  // A block made only of separated-hex bytes: its offset goes to the list at sepPtr.
  op.v128Const(SEP_LO), op.get(LOV), op.i8x16Swizzle,
  op.v128Const(SEP_HI), op.get(HIV), op.i8x16Swizzle,
  op.v128And, op.i8x16AllTrue,
  op.if,
  op.get(SEPP), op.get(SEPN), op.i32(2), op.shl, op.add, op.get(POS), op.get(IN), op.sub, op.store(4),
  op.get(SEPN), op.i32(1), op.add, op.set(SEPN),
  op.end,
  // nm: one bit per byte that is NOT a run character.
  op.v128Const(LO_BITS), op.get(LOV), op.i8x16Swizzle,
  op.v128Const(HI_BITS), op.get(HIV), op.i8x16Swizzle,
  op.v128And, op.v128Const(ZEROS), op.i8x16Eq,
  op.i8x16Bitmask, op.tee(M),
  op.if,
  // z = ctz(nm): the first non-run byte of the block is at pos + z; it ends the run open since `start`.
  op.get(M), op.ctz, op.set(Z),
  op.get(POS), op.get(Z), op.add, op.get(START), op.sub, op.get(MIN), op.geU,
  op.if,
  op.get(OUTP), op.get(COUNT), op.i32(3), op.shl, op.add, op.tee(TMP),
  op.get(START), op.get(IN), op.sub, op.store(0),
  op.get(TMP), op.get(POS), op.get(Z), op.add, op.get(IN), op.sub, op.store(4),
  op.get(COUNT), op.i32(1), op.add, op.tee(COUNT), op.get(MAX), op.geU, op.brIf(3),
  op.end,
  // The run open at the block's end starts after its last non-run byte: start = pos + 16 - clz(nm << 16).
  op.get(POS), op.i32(16), op.add,
  op.get(M), op.i32(16), op.shl, op.clz, op.sub, op.set(START),
  op.end,
  op.get(POS), op.i32(16), op.add, op.set(POS),
  op.br(0),
  op.end,
  op.end,
  op.get(SEPP), op.get(SEPN), op.store(0),
  op.get(COUNT),
);

// One memory, 2 pages to start, grown on demand; 8 i32 locals and 3 v128 after the 6 params.
const instance = instantiate(wasmModule(2, [{ name: 'runs', params: 6, results: 1, locals: 8, v128Locals: 3, body }]));
const memory = instance.memory;
const runsFn = instance.fn.runs! as (
  inPtr: number,
  n: number,
  min: number,
  outPtr: number,
  max: number,
  sepPtr: number,
) => number;
// A Buffer over the module's memory: the input goes in with `copyBytes` (plain memcpy).
let heap = Buffer.from(memory.buffer);
let pairs = new Int32Array(memory.buffer);

/** The input goes here; the pairs right after it (8-byte aligned). */
const IN_AT = 0;

/**
 * [start, end) of each maximal run of at least `min` (>= 17) run characters in `s`, at most `max`, in
 * order. Padding (`=`) is not included; the caller adds it.
 */
export function wasmRuns(s: Uint8Array, min: number, max: number): Int32Array {
  const n = s.length;
  const outAt = (IN_AT + n + 16 + 7) & ~7;
  const cap = Math.min(max, Math.floor(n / min) + 1);
  const sepAt = outAt + cap * 8;
  const need = sepAt + ((n >> 4) + 2) * 4;
  if (need > heap.length) {
    memory.grow(Math.ceil((need - heap.length) / 65536));
    heap = Buffer.from(memory.buffer);
    pairs = new Int32Array(memory.buffer);
  }
  copyBytes(s, heap, IN_AT);
  heap.fill(0, IN_AT + n, IN_AT + n + 16);
  const count = runsFn(IN_AT, n, min, outAt, cap, sepAt);
  // Stopped at `cap` runs: the blocks after that point were not looked at.
  lastSep = count < cap ? pairs.subarray((sepAt >> 2) + 1, (sepAt >> 2) + 1 + pairs[sepAt >> 2]!) : null;
  return pairs.subarray(outAt >> 2, (outAt >> 2) + 2 * count);
}

let lastSep: Int32Array | null = null;

/**
 * The separated-hex candidate blocks of the last `wasmRuns` call's view (offsets of 16-byte blocks,
 * ascending), or null when that call stopped early. Valid until the next call.
 */
export function lastSepHexBlocks(): Int32Array | null {
  return lastSep;
}
