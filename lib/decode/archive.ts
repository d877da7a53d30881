// Compressed and archived payloads found inside an encoded run (`gzip -c f | base64`,
// `tar czf - ~/.ssh | base64 -w0`, `xxd -p f.gz`): inflated and unpacked for scanning, within a byte
// budget shared by the whole message, so an encoded decompression bomb costs at most that budget.
import zlib from 'node:zlib';

export interface DecodeBudget {
  /** Bytes that inflating and unpacking may still produce for this message. */
  left: number;
}

/** Output of one payload at most (a larger one is cut, not refused). */
export const MAX_PAYLOAD_OUTPUT = 256 * 1024;

export type Compression = 'gzip' | 'zlib';

/** gzip (1f 8b 08) or a zlib header (CMF 0x78, check bits valid); null for anything else. */
export function compressionOf(b: Uint8Array): Compression | null {
  if (b.length < 4) return null;
  if (b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08) return 'gzip';
  if (b[0] === 0x78 && ((b[0] << 8) | b[1]!) % 31 === 0) return 'zlib';
  return null;
}

/**
 * Inflates `buf` (truncated input yields what it has), at most min(budget, MAX_PAYLOAD_OUTPUT) bytes.
 * Output beyond the cap is cut: when the whole payload would exceed it, a shorter prefix of the input is
 * inflated instead (node's sync zlib refuses rather than cuts), so a bomb still shows its head.
 */
export function inflateBounded(buf: Buffer, kind: Compression, budget: DecodeBudget): Buffer | null {
  const cap = Math.min(budget.left, MAX_PAYLOAD_OUTPUT);
  if (cap <= 0) return null;
  const opts: zlib.ZlibOptions = { finishFlush: zlib.constants.Z_SYNC_FLUSH, maxOutputLength: cap };
  let input = buf;
  for (let attempt = 0; attempt < 4 && input.length > 0; attempt++) {
    try {
      const out = kind === 'gzip' ? zlib.gunzipSync(input, opts) : zlib.inflateSync(input, opts);
      budget.left -= out.length;
      return out;
    } catch (err) {
      budget.left -= cap; // the work was done even though the output was refused
      if ((err as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE' || budget.left <= 0) return null;
      input = input.subarray(0, input.length >> 3);
    }
  }
  return null;
}

/** True when `b` starts with a POSIX/GNU tar header (`ustar` magic at 257). */
export function isTar(b: Uint8Array): boolean {
  return b.length >= 263 && b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72;
}

/**
 * The member names and contents of a tar archive, one after the other (`name\ncontent\n`), so the rules
 * see file contents rather than NUL-padded headers. Stops at the end marker, a damaged header, or the
 * budget; a truncated archive yields what it holds.
 */
export function tarMembers(buf: Buffer, budget: DecodeBudget): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  const cap = Math.min(budget.left, MAX_PAYLOAD_OUTPUT);
  let off = 0;
  while (off + 512 <= buf.length && total < cap) {
    const h = buf.subarray(off, off + 512);
    if (!isTar(h)) break;
    const size = parseInt(h.toString('latin1', 124, 136).replace(/[^0-7]/g, '') || '0', 8);
    const nul = h.indexOf(0);
    const name = h.subarray(0, nul === -1 || nul > 100 ? 100 : nul);
    const body = buf.subarray(off + 512, Math.min(buf.length, off + 512 + size));
    for (const p of [name, Buffer.from('\n'), body, Buffer.from('\n')]) {
      const room = cap - total;
      if (room <= 0) break;
      const piece = p.length > room ? p.subarray(0, room) : p;
      parts.push(piece);
      total += piece.length;
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  budget.left -= total;
  return Buffer.concat(parts, total);
}
