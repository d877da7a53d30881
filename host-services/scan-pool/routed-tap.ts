// Where one message's body is scanned. A small identity-coded body costs less to scan on the proxy
// thread than to hand to a worker (posting has a fixed cost per message, scan-pool.ts), so its chunks
// are kept (references to bytes already forwarded, at most INLINE_MAX_BYTES) and scanned here at its end.
// A body that grows past that, or any content-coded body, goes to the pool from its first byte on.
import { parseContentEncoding } from '../../lib/decode/content-decoder.js';
import type { MessageScanner, ScanSummary } from '../../lib/scanner/message-scanner.js';
import type { BodyTap } from '../proxy/forward-request.js';
import type { MessageSpec, PooledMessage, PooledMessageEvents, ScanPool } from './scan-pool.js';

/**
 * Identity bodies that end within this many bytes are scanned on the proxy thread. Measured crossover
 * (scripts/measure-scan-pool.ts): below ~16 KiB a scan in place costs less than a pooled message's fixed
 * cost plus its copy; above it the proxy thread's share of the pool's cost is a fraction of the scan.
 */
export const INLINE_MAX_BYTES = 16 * 1024;

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
