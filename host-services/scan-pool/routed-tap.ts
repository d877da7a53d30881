// Where one message's body is scanned. A small identity-coded body costs less to scan on the proxy
// thread than to hand to a worker (posting has a fixed cost per message, scan-pool.ts), so its chunks
// are kept (references to bytes already forwarded, at most INLINE_MAX_BYTES) and scanned here at its end.
// A body that grows past that, or any content-coded body, goes to the pool from its first byte on.
import { parseContentEncoding } from '../../lib/decode/content-decoder.js';
import type { MessageScanner, ScanSummary } from '../../lib/scanner/message-scanner.js';
import type { BodyTap } from '../proxy/forward-request.js';
import type { MessageSpec, PooledMessage, PooledMessageEvents, ScanPool } from './scan-pool.js';

/**
 * Identity bodies that end within this many bytes are scanned on the proxy thread. Measured
 * (scripts/measure-scan-pool.ts): a pooled message costs this thread about 6 µs plus about 0.1 µs per
 * KiB; scanning in place costs about 6 µs at 1 KiB, 8 µs at 2 KiB, 11 µs at 4 KiB and 36 µs at 16 KiB.
 * The crossover for this thread is near 2 KiB; 4 KiB keeps the usual small API body (a few hundred
 * bytes to a few KiB) off the pool, where the same scan would cost the worker its receive and copy too.
 */
export const INLINE_MAX_BYTES = 4 * 1024;

export interface RoutedTapOptions {
  pool: ScanPool;
  spec: MessageSpec;
  /** A scanner on this thread (small identity bodies, or when no worker is up). */
  inline: () => MessageScanner;
  events: PooledMessageEvents;
  /** The in-place scan's summary (the same report as a pooled one's, never skipped). */
  onInlineDone: (s: ScanSummary | null, err?: Error) => void;
}

/** An outbound body without a Content-Encoding that is gzip data is decoded by the scanner (sniffed). */
function sniffedGzip(spec: MessageSpec, first: Buffer): boolean {
  return (
    spec.direction === 'outbound' &&
    !spec.contentEncoding &&
    first.length >= 3 &&
    first[0] === 0x1f &&
    first[1] === 0x8b &&
    first[2] === 0x08
  );
}

export function routedTap(o: RoutedTapOptions): BodyTap {
  const enc = parseContentEncoding(o.spec.contentEncoding);
  let coded = enc.codings.length > 0;
  let held: Buffer[] = [];
  let heldBytes = 0;
  let first = true;
  let pooled = null as PooledMessage | null;
  let local = null as MessageScanner | null;

  /** Leaves the in-place path: the message goes to a worker (or, with none up, to a scanner here). */
  function escalate(): void {
    pooled = o.pool.open(o.spec, o.events, coded);
    if (!pooled) local = o.inline();
    const to: { write(c: Buffer): void } = pooled ?? local!;
    for (const c of held) to.write(c);
    held = [];
    heldBytes = 0;
  }

  return {
    write(chunk) {
      if (first) {
        first = false;
        if (!coded && sniffedGzip(o.spec, chunk)) coded = true;
        if (coded) escalate();
      }
      if (pooled) return pooled.write(chunk);
      if (local) return local.write(chunk);
      if (heldBytes + chunk.length <= INLINE_MAX_BYTES) {
        held.push(chunk);
        heldBytes += chunk.length;
        return;
      }
      escalate();
      (pooled ?? local!).write(chunk);
    },
    end() {
      if (pooled) return pooled.end();
      if (!local) {
        local = o.inline();
        for (const c of held) local.write(c);
        held = [];
      }
      const s = local;
      // Identity bodies settle at once; a scanner here for a coded one (no worker up) may still decode.
      const now = s.endNow();
      if (now) return o.onInlineDone(now);
      s.end().then(
        (sum) => o.onInlineDone(sum),
        (err: Error) => o.onInlineDone(null, err),
      );
    },
  };
}
