// The proxy thread's side of scanning beside forwarding: `scan_workers` worker threads, each running
// MessageScanner (scan-worker.ts). A message stays on one worker (its scanner holds state). Each chunk
// is copied once, into a ring shared with its worker (a socket's Buffer may still sit in a write queue,
// so it is never transferred or detached), and each worker gets one postMessage per event-loop turn with
// every op of that turn. The ring is reused memory: a fresh buffer per batch (transferred) cost about
// 1 ms per MiB here, most of it page faults on new memory; copying into the warm ring costs a sixth of that.
// Copies into and out of the ring go through copyBytes (lib/copy-bytes.ts, a plain memcpy), and each chunk
// lands at an offset aligned like its source (ring-space.ts), for any copy of ring bytes V8 still makes.
//
// Cost on the proxy thread (this 2-core machine, Node 20, busy with other work; best of 5 runs of
// scripts/measure-scan-pool.ts): about 6 µs per message (open, end, posting, the reply) and about 100 µs
// per MiB (the copy into the ring, its ops and acknowledgements). Scanning in place costs about 6 µs for
// a 1 KiB identity body, 11 µs for 4 KiB, 36 µs for 16 KiB and 140 µs for 64 KiB. The worker hands its
// scanner views of the ring; the scanner copies what it keeps past the call (MessageScanner.writeTransient).
// Copying at the end of the turn instead (after every socket's reads) measured no better: +7-12% rps for
// 64 KiB POSTs at 1 connection, -20% for the 256 KiB model call.
//
// Bytes past what a scanner can use (max_scan_bytes, + 64 KiB of compressed input) are never copied: the
// worker only learns their count (a hole), so its summary is the one the proxy thread's scanner would make.
//
// Backlog: bytes copied for the scanner and not yet fed to a scanner, across all messages, bounded by
// `scan_backlog_bytes`; one message may hold at most a quarter of it (so one fast upload cannot take the
// whole backlog from the others). A chunk that does not fit goes on unscanned and is counted
// (`scan_skipped_bytes`, `scan_skipped_messages`); an identity message resumes once there is room (a
// `gap` keeps its offsets true), a content-coded one stays unscanned to its end (a hole breaks decoding).
//
// A worker that dies (a bug, out of memory) is replaced; the messages it held are counted as scanner
// errors (`decode_errors`) and logged without content. When no worker is up, `open` returns null and the
// caller scans on its own thread.
import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Detection } from '../../lib/detection.js';
import type { Counters } from '../../lib/status-schema.js';
import type { Batch, DoneSummary, OpenOp, Op, Reply, WorkerInit } from './protocol.js';
import { RING_ALIGN, RingSpace } from './ring-space.js';
import { scanWorkerPath } from './worker-path.js';
import { copyBytes } from '../../lib/copy-bytes.js';

export interface ScanPoolOptions {
  workers: number;
  backlogBytes: number;
  salt: Buffer;
  maxScanBytes: number;
  disabledRules: readonly string[];
  counters: Counters;
  log: (level: 'error' | 'warn', msg: string) => void;
}

export interface PooledMessageEvents {
  onDetection(d: Detection): void;
  /**
   * The scan ended. `summary` is null when the worker holding the message died (a scanner error).
   * `skipped`: bytes forwarded unscanned because the backlog was full (0 when none).
   */
  onDone(summary: DoneSummary | null, skipped: number): void;
}

export type MessageSpec = Omit<OpenOp, 'op' | 'id'>;

/** A worker that dies this soon after it started is not restarted at once (a crash loop). */
const QUICK_DEATH_MS = 5_000;
const RESPAWN_DELAY_MAX_MS = 30_000;
/** Heap a worker may use (a message's scanner state is small; this bounds a runaway). */
const WORKER_HEAP_MB = 256;
/** Each worker's ring: its share of the backlog, at least 1 MiB. */
const MIN_RING = 1024 * 1024;

interface Msg {
  id: number;
  slot: Slot;
  ev: PooledMessageEvents;
  coded: boolean;
  /** Bytes copied and not yet acknowledged by the worker. */
  inflight: number;
  skipped: number;
  /** Skipped bytes not yet told to the worker (sent as a gap before the next data, or at the end). */
  pendingGap: number;
  /** Bytes of the message seen so far (copied, skipped or beyond the input bound). */
  pos: number;
  /** Bytes past the scanner's input bound: never copied, told to the worker as one hole at the end. */
  beyond: number;
  /** Content-coded and lost bytes: unscanned to its end. */
  stopped: boolean;
  ended: boolean;
  /** Its worker died: no more scanning, summary null. */
  failed: boolean;
}

interface Slot {
  index: number;
  worker: Worker | null;
  startedAt: number;
  quickDeaths: number;
  ops: Op[];
  /** Shared with the worker; `space` says which of its bytes are not yet acknowledged. */
  ring: Buffer;
  space: RingSpace;
  flushQueued: boolean;
  /** Bytes of this worker's messages in the backlog (the least loaded worker gets the next message). */
  inflight: number;
  msgs: Map<number, Msg>;
}

export class ScanPool {
  private readonly slots: Slot[] = [];
  private readonly share: number;
  /**
   * What a scanner can use of a message: `max_scan_bytes` (identity), or that plus 64 KiB of compressed
   * input (MessageScanner's own bound). Bytes after the chunk that crosses it are not copied at all.
   */
  private readonly inputBound: number;
  private backlog = 0;
  private nextId = 1;
  private closing = false;

  constructor(private readonly o: ScanPoolOptions) {
    // A missing script would make every worker die at birth: say so once, at start.
    if (!existsSync(scanWorkerPath())) {
      throw new Error(`scan worker script not found: ${scanWorkerPath()} (run \`npm run build\`)`);
    }
    this.share = Math.floor(o.backlogBytes / 4);
    this.inputBound = o.maxScanBytes + 64 * 1024;
    const ringBytes = Math.max(MIN_RING, Math.ceil(o.backlogBytes / o.workers));
    for (let i = 0; i < o.workers; i++) {
      const slot: Slot = {
        index: i,
        worker: null,
        startedAt: 0,
        quickDeaths: 0,
        ops: [],
        ring: Buffer.from(new SharedArrayBuffer(ringBytes)),
        space: new RingSpace(ringBytes),
        flushQueued: false,
        inflight: 0,
        msgs: new Map(),
      };
      this.slots.push(slot);
      this.spawn(slot);
    }
  }

  /** Bytes copied and not yet scanned, now. */
  get backlogBytes(): number {
    return this.backlog;
  }

  /** The live worker threads (tests terminate one to check it is replaced). */
  get threads(): Worker[] {
    return this.slots.flatMap((s) => (s.worker ? [s.worker] : []));
  }

  /** Starts a message on the least loaded worker; null when no worker is up (scan it on this thread). */
  open(spec: MessageSpec, ev: PooledMessageEvents, coded: boolean): PooledMessage | null {
    if (this.closing) return null;
    let slot: Slot | null = null;
    for (const s of this.slots) {
      if (!s.worker) continue;
      if (!slot || s.inflight < slot.inflight || (s.inflight === slot.inflight && s.msgs.size < slot.msgs.size)) {
        slot = s;
      }
    }
    if (!slot) return null;
    const m: Msg = {
      id: this.nextId++,
      slot,
      ev,
      coded,
      inflight: 0,
      skipped: 0,
      pendingGap: 0,
      pos: 0,
      beyond: 0,
      stopped: false,
      ended: false,
      failed: false,
    };
    slot.msgs.set(m.id, m);
    slot.ops.push({ op: 'open', id: m.id, ...spec });
    this.schedule(slot);
    return new PooledMessage(this, m);
  }

  /** @internal PooledMessage.write */
  write(m: Msg, chunk: Buffer): void {
    if (m.ended || m.failed) return;
    const n = chunk.length;
    if (n === 0) return;
    // Past the bound nothing more is scanned: not copied, not counted as skipped, only told as a hole
    // (so the summary's byte counts, and a size-bound record, are the same as on the proxy thread).
    if (m.pos >= this.inputBound) {
      m.pos += n;
      m.beyond += n;
      return;
    }
    m.pos += n;
    const slot = m.slot;
    const off =
      m.stopped || this.backlog + n > this.o.backlogBytes || m.inflight + n > this.share
        ? -1
        : slot.space.reserve(n, chunk.byteOffset & (RING_ALIGN - 1));
    if (off < 0) {
      this.skip(m, n);
      return;
    }
    if (m.pendingGap > 0) {
      slot.ops.push({ op: 'gap', id: m.id, n: m.pendingGap });
      m.pendingGap = 0;
    }
    copyBytes(chunk, slot.ring, off);
    slot.ops.push({ op: 'data', id: m.id, off, len: n });
    m.inflight += n;
    slot.inflight += n;
    this.backlog += n;
    if (this.backlog > this.o.counters.scan_backlog_peak_bytes) this.o.counters.scan_backlog_peak_bytes = this.backlog;
    this.schedule(slot);
  }

  /** @internal PooledMessage.end */
  end(m: Msg): void {
    if (m.ended) return;
    m.ended = true;
    if (m.failed) {
      m.ev.onDone(null, m.skipped);
      return;
    }
    const hole = m.pendingGap + m.beyond;
    if (hole > 0) m.slot.ops.push({ op: 'gap', id: m.id, n: hole });
    m.pendingGap = 0;
    m.beyond = 0;
    m.slot.ops.push({ op: 'end', id: m.id });
    this.schedule(m.slot);
  }

  private skip(m: Msg, n: number): void {
    if (m.skipped === 0) this.o.counters.scan_skipped_messages++;
    m.skipped += n;
    this.o.counters.scan_skipped_bytes += n;
    if (m.coded) m.stopped = true;
    else m.pendingGap += n;
  }

  private schedule(slot: Slot): void {
    if (slot.flushQueued) return;
    slot.flushQueued = true;
    // After the poll phase: every chunk read in this turn goes in one message.
    setImmediate(() => this.flush(slot));
  }

  private flush(slot: Slot): void {
    slot.flushQueued = false;
    if (slot.ops.length === 0 || !slot.worker) return;
    const batch: Batch = { ops: slot.ops };
    slot.ops = [];
    slot.worker.postMessage(batch);
  }

  private onReply(slot: Slot, r: Reply): void {
    // A reply acknowledges whole batches, so its total frees exactly their allocations, in ring order.
    let total = 0;
    for (const [, n] of r.scanned) total += n;
    slot.space.release(total);
    for (const [id, n] of r.scanned) {
      const m = slot.msgs.get(id);
      this.backlog -= n;
      slot.inflight -= n;
      if (m) m.inflight -= n;
    }
    for (const [id, d] of r.detections) slot.msgs.get(id)?.ev.onDetection(d);
    for (const [id, sum] of r.done) {
      const m = slot.msgs.get(id);
      if (!m) continue;
      slot.msgs.delete(id);
      m.ev.onDone(sum, m.skipped);
    }
  }

  private spawn(slot: Slot): void {
    const init: WorkerInit = {
      salt: new Uint8Array(this.o.salt),
      ring: slot.ring.buffer as SharedArrayBuffer,
      maxScanBytes: this.o.maxScanBytes,
      disabledRules: [...this.o.disabledRules],
    };
    const w = new Worker(scanWorkerPath(), {
      workerData: init,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
      stdout: false,
      stderr: false,
    });
    w.unref();
    slot.worker = w;
    slot.startedAt = Date.now();
    let reason = '';
    // A reply still queued from a worker that was replaced refers to a ring that was reset: ignored.
    w.on('message', (r: Reply) => {
      if (slot.worker === w) this.onReply(slot, r);
    });
    // Only the error's kind is logged: a message could quote what was being scanned.
    w.on('error', (err: Error & { code?: string }) => (reason = `${err.name}${err.code ? ` ${err.code}` : ''}`));
    w.on('exit', (code) => this.died(slot, w, reason || `exit code ${code}`));
  }

  private died(slot: Slot, w: Worker, reason: string): void {
    if (slot.worker !== w) return;
    slot.worker = null;
    if (this.closing) return;
    const lost = [...slot.msgs.values()];
    slot.msgs.clear();
    slot.ops = [];
    slot.space.reset();
    this.backlog -= slot.inflight;
    slot.inflight = 0;
    for (const m of lost) {
      m.failed = true;
      m.inflight = 0;
      this.o.counters.decode_errors++;
      if (m.ended) m.ev.onDone(null, m.skipped);
    }
    this.o.log(
      'error',
      `scan worker ${slot.index} stopped (${reason}); ${lost.length} message scan(s) lost, counted as decode errors; restarting it`,
    );
    slot.quickDeaths = Date.now() - slot.startedAt < QUICK_DEATH_MS ? slot.quickDeaths + 1 : 0;
    const delay = slot.quickDeaths <= 1 ? 0 : Math.min(RESPAWN_DELAY_MAX_MS, 500 * 2 ** slot.quickDeaths);
    if (delay === 0) this.spawn(slot);
    else setTimeout(() => !this.closing && !slot.worker && this.spawn(slot), delay).unref();
  }

  /** Ends the workers (the caller drained the messages it waits for first). */
  async close(): Promise<void> {
    this.closing = true;
    const ws = this.slots.flatMap((s) => (s.worker ? [s.worker] : []));
    for (const s of this.slots) {
      s.worker = null;
      for (const m of s.msgs.values()) {
        m.failed = true;
        if (m.ended) m.ev.onDone(null, m.skipped);
      }
      s.msgs.clear();
    }
    await Promise.all(ws.map((w) => w.terminate()));
  }
}

/** One message in the pool: its bytes (copied), then its end. */
export class PooledMessage {
  constructor(
    private readonly pool: ScanPool,
    private readonly m: Msg,
  ) {}

  write(chunk: Buffer): void {
    this.pool.write(this.m, chunk);
  }

  end(): void {
    this.pool.end(this.m);
  }
}
