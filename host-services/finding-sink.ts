// Where detections become findings: dedup, counters, the findings log. Called by the proxy for every
// detection; never throws back into the proxy.
import type { Detection } from '../lib/detection.js';
import { buildFinding, type MessageMeta } from '../lib/finding-builder.js';
import type { Finding } from '../lib/finding-schema.js';
import { Deduper } from '../lib/dedup.js';
import type { ScanSummary } from '../lib/scanner/message-scanner.js';
import type { Counters } from '../lib/status-schema.js';

export interface FindingWriter {
  append(f: Finding): void;
}

export class FindingSink {
  constructor(
    private readonly deduper: Deduper,
    private readonly writer: FindingWriter,
    private readonly counters: Counters,
    private readonly onFinding?: (f: Finding) => void,
  ) {}

  detection(d: Detection, meta: MessageMeta): void {
    try {
      const admitted = this.deduper.admit({
        pattern: d.pattern,
        dest: meta.dest,
        direction: meta.direction,
        fingerprint: d.fingerprint,
      });
      if (!admitted) {
        this.counters.suppressed_duplicates++;
        return;
      }
      const f = buildFinding(d, meta);
      this.counters.findings[f.threat_type]++;
      this.writer.append(f);
      this.onFinding?.(f);
    } catch {
      // A malformed detection must not disturb traffic; the write path counts its own drops.
      this.counters.dropped_writes++;
    }
  }

  scanned(s: ScanSummary): void {
    this.counters.bytes_scanned += s.bytesScanned;
    if (s.truncated) this.counters.truncated_scans++;
    if (s.decodeError) this.counters.decode_errors++;
  }
}
