// Finds the runs of base64/hex characters in a view with WebAssembly SIMD: 16 bytes classified per
// step (letters, digits, `+ / - _`), one bit per byte, and the runs read off the bit masks. Runs shorter
// than 17 characters never need tracking (a run long enough to matter spans a whole 16-byte block or
// the end of one and the start of the next), so a block costs a few instructions whatever it holds.
//
// Why WebAssembly: findRuns was the largest decoding cost on benign JSON (its sampled JS loop: 0.76 ms
// per MB, a third of the decoders' time once allocations were gone). This pass gives the same runs in
// 0.26 ms per MB including the copy of the view into the module's memory (benign JSON corpus, 64 KiB
// views, CPU time); classifying with comparisons (letters by range, digits by range, four `==`) instead
// of the nibble tables below measured 0.39. The module is assembled here from its instructions (no
// toolchain, no binary file; the writer is ../../wasm/emit.ts): the listing below is the whole program, checked against the JS reference
// (test/support/reference/encoded-runs.ts) by test/decode-fast-paths.test.ts.

import { code, instantiate, op, wasmModule } from '../../wasm/emit.js';

// Function `runs(inPtr, n, min, outPtr, max) -> count`: writes [start, end) pairs (offsets from inPtr)
// of the maximal runs of at least `min` (>= 17) run characters in mem[inPtr, inPtr + n) to outPtr, at
// most `max` of them. mem[inPtr + n, inPtr + n + 16) must be zero (a non-run byte closes the last run).
const [IN, N, MIN, OUTP, MAX, POS, START, COUNT, M, Z, END, TMP, V] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
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
  op.block,
  op.loop,
  // Blocks up to and including the one holding byte n (a zero), so a run ending at n is closed.
  op.get(POS), op.get(END), op.gtU, op.brIf(1),
  op.get(POS), op.v128Load(0), op.set(V),
  // nm: one bit per byte that is NOT a run character.
  op.v128Const(LO_BITS), op.get(V), op.v128Const(LOW_NIBBLE), op.v128And, op.i8x16Swizzle,
  op.v128Const(HI_BITS), op.get(V), op.i32(4), op.i8x16ShrU, op.i8x16Swizzle,
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
  op.get(COUNT),
);

// One memory, 2 pages to start, grown on demand; 7 i32 locals and 1 v128 after the 5 params.
const instance = instantiate(wasmModule(2, [{ name: 'runs', params: 5, results: 1, locals: 7, v128Locals: 1, body }]));
const memory = instance.memory;
const runsFn = instance.fn.runs! as (inPtr: number, n: number, min: number, outPtr: number, max: number) => number;
let heap = new Uint8Array(memory.buffer);
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
  const need = outAt + cap * 8;
  if (need > heap.length) {
    memory.grow(Math.ceil((need - heap.length) / 65536));
    heap = new Uint8Array(memory.buffer);
    pairs = new Int32Array(memory.buffer);
  }
  heap.set(s, IN_AT);
  heap.fill(0, IN_AT + n, IN_AT + n + 16);
  const count = runsFn(IN_AT, n, min, outAt, cap);
  return pairs.subarray(outAt >> 2, (outAt >> 2) + 2 * count);
}
