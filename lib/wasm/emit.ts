// A tiny WebAssembly binary writer, shared by the modules the scanner builds at run time (the keyword
// walk, lib/scanner/wasm/dfa-walk.ts, and the SIMD run finder, lib/decode/wasm/run-scan.ts): just the
// opcodes they need, so each module is assembled from plain code (no compiler dependency, no binary
// file to keep in step). Each function body is a byte array written with the helpers below;
// `wasmModule` wraps bodies into a module that exports them and its memory. See
// https://webassembly.github.io/spec/core/binary/ for the encoding.

/** Unsigned LEB128. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const I32 = 0x7f;
export const V128 = 0x7b;
const VOID_BLOCK = 0x40;
const SIMD = 0xfd;

/** Instructions, as byte arrays (concatenate with `code`). */
export const op = {
  block: [0x02, VOID_BLOCK],
  loop: [0x03, VOID_BLOCK],
  if: [0x04, VOID_BLOCK],
  end: [0x0b],
  br: (depth: number) => [0x0c, ...uleb(depth)],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  call: (fn: number) => [0x10, ...uleb(fn)],
  get: (local: number) => [0x20, ...uleb(local)],
  set: (local: number) => [0x21, ...uleb(local)],
  tee: (local: number) => [0x22, ...uleb(local)],
  i32: (n: number) => [0x41, ...sleb(n)],
  load: (offset: number) => [0x28, 2, ...uleb(offset)],
  load8u: (offset: number) => [0x2d, 0, ...uleb(offset)],
  store: (offset: number) => [0x36, 2, ...uleb(offset)],
  eqz: [0x45],
  ltS: [0x48],
  ltU: [0x49],
  geU: [0x4f],
  add: [0x6a],
  sub: [0x6b],
  mul: [0x6c],
  divU: [0x6e],
  and: [0x71],
  or: [0x72],
  xor: [0x73],
  shl: [0x74],
  gtU: [0x4b],
  clz: [0x67],
  ctz: [0x68],
  // SIMD (prefix 0xfd).
  v128Load: (offset: number) => [SIMD, 0x00, 0, ...uleb(offset)],
  /** A 16-byte constant. */
  v128Const: (bytes: readonly number[]) => [SIMD, 0x0c, ...bytes],
  i8x16Swizzle: [SIMD, 0x0e],
  i8x16Eq: [SIMD, 0x23],
  v128And: [SIMD, 0x4e],
  i8x16AllTrue: [SIMD, 0x63],
  i8x16Bitmask: [SIMD, 0x64],
  i8x16ShrU: [SIMD, 0x6d],
} as const;

/** Concatenates instruction pieces. */
export function code(...parts: (readonly number[])[]): number[] {
  return parts.flat();
}

export interface WasmFunction {
  name: string;
  params: number;
  results: 0 | 1;
  /** Extra i32 locals, numbered after the params. */
  locals: number;
  /** v128 locals, numbered after the i32 ones. */
  v128Locals?: number;
  body: readonly number[];
}

function section(id: number, content: readonly number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function vec(items: readonly (readonly number[])[]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(s: string): number[] {
  const b = [...Buffer.from(s, 'utf8')];
  return [...uleb(b.length), ...b];
}

/** A module with one memory of `pages` 64 KiB pages (exported as `memory`) and the functions (i32 params and results). */
export function wasmModule(pages: number, fns: readonly WasmFunction[]): Uint8Array {
  const types = fns.map((f) => [
    0x60,
    ...vec(Array.from({ length: f.params }, () => [I32])),
    ...vec(f.results ? [[I32]] : []),
  ]);
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(7, vec([[...name('memory'), 0x02, 0x00], ...fns.map((f, i) => [...name(f.name), 0x00, ...uleb(i)])])),
    ...section(
      10,
      vec(
        fns.map((f) => {
          const decls = [
            ...(f.locals > 0 ? [[...uleb(f.locals), I32]] : []),
            ...((f.v128Locals ?? 0) > 0 ? [[...uleb(f.v128Locals!), V128]] : []),
          ];
          const body = [...vec(decls), ...f.body, ...op.end];
          return [...uleb(body.length), ...body];
        }),
      ),
    ),
  ];
  return Uint8Array.from(bytes);
}

interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports?: object) => { exports: Record<string, unknown> };
}

/** Node >= 20 has WebAssembly (with SIMD); the TypeScript lib used here does not declare it. */
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export interface WasmInstance {
  memory: WasmMemory;
  fn: Record<string, (...args: number[]) => number>;
}

/** Compiles and instantiates synchronously (the modules are small: a few hundred bytes). */
export function instantiate(bytes: Uint8Array): WasmInstance {
  const inst = new WA.Instance(new WA.Module(bytes));
  const { memory, ...fns } = inst.exports;
  return { memory: memory as WasmMemory, fn: fns as Record<string, (...args: number[]) => number> };
}
