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
// toolchain, no binary file): the listing below is the whole program, checked against the JS reference
// (test/support/reference/encoded-runs.ts) by test/decode-fast-paths.test.ts.

/** WebAssembly opcodes used below (core and SIMD, from the spec's binary format). */
const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  void: 0x40,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  i32Store: 0x36,
  i32Const: 0x41,
  i32GtU: 0x4b,
  i32GeU: 0x4f,
  i32Clz: 0x67,
  i32Ctz: 0x68,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Shl: 0x74,
  simd: 0xfd,
  v128Load: 0x00,
  v128Const: 0x0c,
  i8x16Swizzle: 0x0e,
  i8x16Eq: 0x23,
  v128And: 0x4e,
  i8x16Bitmask: 0x64,
  i8x16ShrU: 0x6d,
} as const;

const I32 = 0x7f;
const V128 = 0x7b;

/** Signed LEB128 (i32.const immediates). */
function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (b & 0x40) === 0) || (v === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** Unsigned LEB128 (sizes, counts, indices). */
function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
}

// Function `runs(inPtr, n, min, outPtr, max) -> count`: writes [start, end) pairs (offsets from inPtr)
// of the maximal runs of at least `min` (>= 17) run characters in mem[inPtr, inPtr + n) to outPtr, at
// most `max` of them. mem[inPtr + n, inPtr + n + 16) must be zero (a non-run byte closes the last run).
const [IN, N, MIN, OUTP, MAX, POS, START, COUNT, M, Z, END, TMP, V] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
const get = (l: number) => [OP.localGet, l];
const set = (l: number) => [OP.localSet, l];
const tee = (l: number) => [OP.localTee, l];
const i32 = (v: number) => [OP.i32Const, ...sleb(v)];
const simd = (op: number) => [OP.simd, op];

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
const v128 = (bytes: readonly number[]) => [OP.simd, OP.v128Const, ...bytes];

// One instruction group per line, as an assembler listing reads.
// prettier-ignore
const body: number[] = [
  // end = inPtr + n; pos = start = inPtr; count = 0
  ...get(IN), ...get(N), OP.i32Add, ...set(END),
  ...get(IN), ...set(POS),
  ...get(IN), ...set(START),
  ...i32(0), ...set(COUNT),
  OP.block, OP.void,
  OP.loop, OP.void,
  // Blocks up to and including the one holding byte n (a zero), so a run ending at n is closed.
  ...get(POS), ...get(END), OP.i32GtU, OP.brIf, 1,
  ...get(POS), OP.simd, OP.v128Load, 0, 0, ...set(V),
  // nm: one bit per byte that is NOT a run character.
  ...v128(LO_BITS), ...get(V), ...v128(new Array(16).fill(0x0f)), ...simd(OP.v128And), ...simd(OP.i8x16Swizzle),
  ...v128(HI_BITS), ...get(V), ...i32(4), ...simd(OP.i8x16ShrU), ...simd(OP.i8x16Swizzle),
  ...simd(OP.v128And), ...v128(new Array(16).fill(0)), ...simd(OP.i8x16Eq),
  ...simd(OP.i8x16Bitmask), ...tee(M),
  OP.if, OP.void,
  // z = ctz(nm): the first non-run byte of the block is at pos + z; it ends the run open since `start`.
  ...get(M), OP.i32Ctz, ...set(Z),
  ...get(POS), ...get(Z), OP.i32Add, ...get(START), OP.i32Sub, ...get(MIN), OP.i32GeU,
  OP.if, OP.void,
  ...get(OUTP), ...get(COUNT), ...i32(3), OP.i32Shl, OP.i32Add, ...tee(TMP),
  ...get(START), ...get(IN), OP.i32Sub, OP.i32Store, 2, 0,
  ...get(TMP), ...get(POS), ...get(Z), OP.i32Add, ...get(IN), OP.i32Sub, OP.i32Store, 2, 4,
  ...get(COUNT), ...i32(1), OP.i32Add, ...tee(COUNT), ...get(MAX), OP.i32GeU, OP.brIf, 3,
  OP.end,
  // The run open at the block's end starts after its last non-run byte: start = pos + 16 - clz(nm << 16).
  ...get(POS), ...i32(16), OP.i32Add,
  ...get(M), ...i32(16), OP.i32Shl, OP.i32Clz, OP.i32Sub, ...set(START),
  OP.end,
  ...get(POS), ...i32(16), OP.i32Add, ...set(POS),
  OP.br, 0,
  OP.end,
  OP.end,
  ...get(COUNT),
  OP.end,
];

function assemble(): Uint8Array {
  const locals = [2, 7, I32, 1, V128]; // 2 declarations: 7 i32, 1 v128
  const func = [...locals, ...body];
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, 5, I32, I32, I32, I32, I32, 1, I32]),
    ...section(3, [1, 0]),
    ...section(5, [1, 0, 2]), // one memory, 2 pages to start, grown on demand
    ...section(7, [2, ...name('runs'), 0, 0, ...name('mem'), 2, 0]),
    ...section(10, [1, ...uleb(func.length), ...func]),
  ];
  return Uint8Array.from(bytes);
}

/** The part of the WebAssembly API used here (the project's TS lib has no DOM types). */
interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
const instance = new WA.Instance(new WA.Module(assemble()), {});
const memory = instance.exports.mem as WasmMemory;
const runsFn = instance.exports.runs as (inPtr: number, n: number, min: number, outPtr: number, max: number) => number;
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
