// Where detections become findings: dedup, counters, the findings log. Called by the proxy for every
// detection; never throws back into the proxy.
import type { Detection } from '../lib/detection.js';
import { buildFinding, type MessageMeta } from '../lib/finding-builder.js';
import { SCAN_TRUNCATED, type Finding } from '../lib/finding-schema.js';
import { Deduper } from '../lib/dedup.js';
import type { ScanSummary } from '../lib/scanner/message-scanner.js';
import type { Counters } from '../lib/status-schema.js';
import { UnscannedTally } from '../lib/unscanned-tally.js';

export interface FindingWriter {
  append(f: Finding): void;
}

export class FindingSink {
  /** Unscanned-bytes records added up per destination within the dedup window (see lib/unscanned-tally.ts). */
  private readonly unscanned: UnscannedTally;

  constructor(
    private readonly deduper: Deduper,
    private readonly writer: FindingWriter,
    private readonly counters: Counters,
    private readonly onFinding?: (f: Finding) => void,
  ) {
    this.unscanned = new UnscannedTally(deduper.windowMs);
  }

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

  /**
   * A message longer than `max_scan_bytes` (`bound`), or one that lost bytes because the scanner was behind
   * (`behind`, the backlog was full): a record names it (method, destination, redacted path) and how many
   * bytes went on unscanned. Not a detection and not counted as a finding (`truncated_scans` counts the
   * first kind, `scan_skipped_messages` the second). Within the dedup window, later messages of the same
   * kind to the same destination are added up into the next record (`N bytes in M messages`).
   */
  truncated(meta: MessageMeta, unscannedBytes: number, why: 'bound' | 'behind' = 'bound'): void {
    try {
      const total = this.unscanned.add(
        { why, direction: meta.direction, dest: meta.dest, group: meta.group },
        unscannedBytes,
      );
      if (total === null) return;
      const what =
        total.messages > 1
          ? `${total.bytes} bytes in ${total.messages} messages forwarded unscanned`
          : `${total.bytes} bytes forwarded unscanned`;
      const f = buildFinding(
        {
          pattern: SCAN_TRUNCATED,
          threat_type: meta.direction === 'outbound' ? 'EXFIL' : 'INJECTION',
          severity: 'low',
          description: why === 'behind' ? `scanner behind: ${what}` : `message longer than max_scan_bytes: ${what}`,
          snippet: '',
          fingerprint: '',
          encoding: '',
          offset: 0,
          location: 'body',
          untrusted: false,
        },
        meta,
      );
      delete f.fingerprint;
      delete f.offset;
      f.unscanned_bytes = total.bytes;
      this.writer.append(f);
      this.onFinding?.(f);
    } catch {
      this.counters.dropped_writes++;
    }
  }

  scanned(s: Pick<ScanSummary, 'bytesScanned' | 'truncated' | 'decodeError'>): void {
    this.counters.bytes_scanned += s.bytesScanned;
    if (s.truncated) this.counters.truncated_scans++;
    if (s.decodeError) this.counters.decode_errors++;
  }
}
