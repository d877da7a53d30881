// The keyword automaton's walk (see ../keyword-automaton.ts), in WebAssembly: the scanner's hottest
// loop. The walk is one table lookup per byte whose address depends on the previous one; V8 compiles
// the same loop in JavaScript with a bounds check and tagged arithmetic on every load, the module
// below without (its memory is guarded by the engine's guard pages). Measured on the benign JSON
// corpus, prefilter alone, CPU time: JavaScript 8 lanes 470-600 MB/s outbound, 700 inbound; this
// module 1,340-1,430 / 1,600 with class-compressed rows, 1,410-1,470 / 1,860 with one row entry per
// byte value (kept: one load less per byte, for a bigger table: 1.2 MiB outbound). Lanes: 4 and 6 ran
// as fast as 8 (1,390-1,430), 10 and 12 slower (990-1,180: locals spill). 16-bit row entries (half
// the table, a shift more per byte) ran slower: 1,050 / 1,000-1,170 against 1,230-1,290 / 1,460-1,510.
//
// The module is written at run time by ../../wasm/emit.ts for one automaton, its offsets baked in as
// constants; nothing is read from disk.
import { code, instantiate, op, wasmModule, type WasmInstance } from '../../wasm/emit.js';
import { copyBytes } from '../../copy-bytes.js';

/** What the walk needs of the automaton (built by keyword-automaton.ts). */
export interface DfaTables {
  /** Byte -> character class. */
  cls: Uint8Array;
  /** `delta[state + cls]`: next state's base (state * nc), `~base` when it completes a keyword. */
  delta: Int32Array;
  nc: number;
  words: number;
  /** Rule masks completed at a state: `out[(base / nc) * words + w]`. */
  out: Int32Array;
  maxLen: number;
}

const PAGE = 64 * 1024;
/**
 * Memory layout (byte offsets): found-rule masks, final lane states, the count of completed keywords,
 * the table, masks per state, the log of completed keywords (address, state) and the view.
 */
const MASK = 0;
const STATES = 512;
const LOG_COUNT = 576;
const DELTA = 1024;
/** Completed keywords logged per view at most (more are counted, not logged). */
export const LOG_CAP = 16 * 1024;
/** A state's row: one i32 per byte value. */
const ROW = 256 * 4;
/** log2(ROW): the keyword log turns a row's offset into its state's index with a shift. */
const ROW_SHIFT = 10;
/** Lanes walked at once: independent lookup chains keep the CPU busy while each waits on its load. */
const LANES = 8;
/** Below this many bytes a view is walked in one lane. */
const LANES_FROM = 1024;

/** Locals of `lanes`: params p, q, len; then the end, the lane offsets q*1..q*7, the lane states. */
const P = 0;
const Q = 1;
const LEN = 2;
const END = 3;
const QJ = (j: number): number => 3 + j; // j >= 1
const SJ = (j: number): number => 3 + LANES + j;

/** `delta[s + byte at addr]`, left on the stack (s is a row's byte offset). */
function step(s: number, addr: readonly number[]): number[] {
  return code(op.get(s), addr, op.load8u(0), op.i32(2), op.shl, op.add, op.load(DELTA));
}

/** On the stack a completing state's `~s`: s = ~~s, and it is recorded with the byte's address (function 0). */
function onHit(s: number, addr: readonly number[]): number[] {
  return code(op.i32(-1), op.xor, op.tee(s), addr, op.call(0));
}

export class WasmDfaWalk {
  private readonly inst: WasmInstance;
  private readonly viewAt: number;
  /** A Buffer over the module's memory: copies into it go through `copyBytes` (plain memcpy). */
  private u8: Buffer;
  private i32: Int32Array;
  private readonly walk: (p: number, end: number, s: number) => number;
  private readonly lanes: (p: number, q: number, len: number) => number;
  private readonly words: number;
  private readonly maxLen: number;
  private readonly logAt: number;

  constructor(d: DfaTables) {
    if (d.words * 4 > STATES - MASK) throw new Error('too many rules for the keyword walk');
    const states = d.delta.length / d.nc;
    const outAt = DELTA + states * ROW;
    this.logAt = (outAt + d.out.length * 4 + 15) & ~15;
    this.viewAt = this.logAt + LOG_CAP * 8;
    this.words = d.words;
    this.maxLen = d.maxLen;

    // hit(s, addr): mask[w] |= out[(s / ROW) * words + w] for each word; (addr, s) logged.
    const logAt = this.logAt;
    const hit = {
      name: 'hit',
      params: 2,
      results: 0 as const,
      locals: 2,
      body: code(
        op.i32(0),
        op.i32(0),
        op.load(LOG_COUNT),
        op.tee(3),
        op.i32(1),
        op.add,
        op.store(LOG_COUNT),
        op.get(3),
        op.i32(LOG_CAP),
        op.ltU,
        op.if,
        op.get(3),
        op.i32(8),
        op.mul,
        op.tee(3),
        op.get(1),
        op.store(logAt),
        op.get(3),
        op.get(0),
        op.store(logAt + 4),
        op.end,
        op.get(0),
        op.i32(ROW),
        op.divU,
        op.i32(d.words * 4),
        op.mul,
        op.set(2),
        ...Array.from({ length: d.words }, (_, w) =>
          code(
            op.i32(0),
            op.i32(0),
            op.load(MASK + 4 * w),
            op.get(2),
            op.load(outAt + 4 * w),
            op.or,
            op.store(MASK + 4 * w),
          ),
        ),
      ),
    };
    // walk(p, end, s) -> s: one lane over [p, end) from state s.
    const walk = {
      name: 'walk',
      params: 3,
      results: 1 as const,
      locals: 0,
      body: code(
        op.block,
        op.get(0),
        op.get(1),
        op.geU,
        op.brIf(0),
        op.loop,
        step(2, op.get(0)),
        op.tee(2),
        op.i32(0),
        op.ltS,
        op.if,
        op.get(2),
        onHit(2, op.get(0)),
        op.end,
        op.get(0),
        op.i32(1),
        op.add,
        op.tee(0),
        op.get(1),
        op.ltU,
        op.brIf(0),
        op.end,
        op.end,
        op.get(2),
      ),
    };
    // lanes(p, q, len): lane j walks [p + j*q, p + j*q + len) from state 0; final states at STATES.
    const lanes = {
      name: 'lanes',
      params: 3,
      results: 1 as const,
      locals: 1 + (LANES - 1) + LANES,
      body: code(
        op.get(Q),
        op.set(QJ(1)),
        ...Array.from({ length: LANES - 2 }, (_, i) => code(op.get(QJ(i + 1)), op.get(Q), op.add, op.set(QJ(i + 2)))),
        op.get(P),
        op.get(LEN),
        op.add,
        op.set(END),
        op.block,
        op.get(P),
        op.get(END),
        op.geU,
        op.brIf(0),
        op.loop,
        ...Array.from({ length: LANES }, (_, j) =>
          code(step(SJ(j), j === 0 ? op.get(P) : code(op.get(P), op.get(QJ(j)), op.add)), op.set(SJ(j))),
        ),
        // Any lane completed a keyword (its state is negative)?
        ...Array.from({ length: LANES }, (_, j) => (j === 0 ? op.get(SJ(0)) : code(op.get(SJ(j)), op.or))),
        op.i32(0),
        op.ltS,
        op.if,
        ...Array.from({ length: LANES }, (_, j) =>
          code(
            op.get(SJ(j)),
            op.i32(0),
            op.ltS,
            op.if,
            op.get(SJ(j)),
            onHit(SJ(j), j === 0 ? op.get(P) : code(op.get(P), op.get(QJ(j)), op.add)),
            op.end,
          ),
        ),
        op.end,
        op.get(P),
        op.i32(1),
        op.add,
        op.tee(P),
        op.get(END),
        op.ltU,
        op.brIf(0),
        op.end,
        op.end,
        ...Array.from({ length: LANES }, (_, j) => code(op.i32(0), op.get(SJ(j)), op.store(STATES + 4 * j))),
        op.i32(0),
      ),
    };

    const pages = Math.ceil((this.viewAt + 128 * 1024) / PAGE);
    this.inst = instantiate(wasmModule(pages, [hit, walk, lanes]));
    this.u8 = Buffer.from(this.inst.memory.buffer);
    this.i32 = new Int32Array(this.inst.memory.buffer);
    // Rows are addressed in bytes and indexed by the byte itself (the class map folded in).
    const conv = (v: number): number => (v < 0 ? ~((~v / d.nc) * ROW) : (v / d.nc) * ROW);
    for (let st = 0; st < states; st++) {
      for (let b = 0; b < 256; b++) this.i32[DELTA / 4 + st * 256 + b] = conv(d.delta[st * d.nc + d.cls[b]!]!);
    }
    this.i32.set(d.out, outAt / 4);
    this.walk = this.inst.fn.walk! as (p: number, end: number, s: number) => number;
    this.lanes = this.inst.fn.lanes! as (p: number, q: number, len: number) => number;
  }

  /**
   * Walks `bytes`; returns the masks of the rules whose keywords it holds (a view into the module's
   * memory, valid until the next call).
   */
  run(bytes: Uint8Array): Int32Array {
    const n = bytes.length;
    if (this.viewAt + n > this.u8.length) {
      this.inst.memory.grow(Math.ceil((this.viewAt + n - this.u8.length) / PAGE));
      this.u8 = Buffer.from(this.inst.memory.buffer);
      this.i32 = new Int32Array(this.inst.memory.buffer);
    }
    const i32 = this.i32;
    i32.fill(0, MASK / 4, MASK / 4 + this.words);
    i32[LOG_COUNT / 4] = 0;
    copyBytes(bytes, this.u8, this.viewAt);
    const p = this.viewAt;
    if (n < LANES_FROM || this.maxLen * 16 > n) {
      this.walk(p, p + n, 0);
    } else {
      // Each lane starts at state 0 and reads maxLen - 1 bytes into the next slice, so a keyword
      // that crosses a boundary is whole in the lane it starts in. The last lane runs to the end.
      const q = Math.floor(n / LANES);
      const laneEnd = q + this.maxLen - 1;
      const last = (LANES - 1) * q;
      const len = Math.min(laneEnd, n - last);
      this.lanes(p, q, len);
      const st = STATES / 4;
      if (len < laneEnd) {
        for (let j = 0; j < LANES - 1; j++) this.walk(p + j * q + len, p + j * q + laneEnd, i32[st + j]!);
      }
      this.walk(p + last + len, p + n, i32[st + LANES - 1]!);
    }
    return i32.subarray(MASK / 4, MASK / 4 + this.words);
  }

  /**
   * The keywords completed in the last view: `count` (address, state row) pairs from `i32[at]` on,
   * in walk order (a position may come twice: lanes overlap); `viewAt` is the view's address and a
   * state row's byte offset shifted right by `rowShift` is the state's index. Null when there were
   * more than LOG_CAP of them.
   */
  completed(): { count: number; i32: Int32Array; at: number; viewAt: number; rowShift: number } | null {
    const count = this.i32[LOG_COUNT / 4]!;
    if (count > LOG_CAP) return null;
    return { count, i32: this.i32, at: this.logAt / 4, viewAt: this.viewAt, rowShift: ROW_SHIFT };
  }
}
