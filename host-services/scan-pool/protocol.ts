// The messages between the proxy thread and a scan worker, as a typed table. Both ends are this
// package's own code (no outside input crosses here), so the types are the check; the worker still
// ignores an op it does not know rather than throwing.
import type { Direction, Location } from '../../lib/finding-schema.js';
import type { Detection } from '../../lib/detection.js';
import type { ScanSummary } from '../../lib/scanner/message-scanner.js';

/** What a worker is started with (`workerData`): the same inputs the proxy thread's scanners get. */
export interface WorkerInit {
  salt: Uint8Array;
  /** The ring the proxy thread copies message bytes into; data ops point into it. */
  ring: SharedArrayBuffer;
  maxScanBytes: number;
  /** Rules are rebuilt in the worker with `rulesFor(direction, disabledRules)`: functions cannot be posted. */
  disabledRules: string[];
}

/** A message (request or response body, raw tunnel stream, WebSocket message) starts. */
export interface OpenOp {
  op: 'open';
  id: number;
  direction: Direction;
  destHost: string;
  contentEncoding?: string;
  contentType?: string;
  location: Location;
}

/**
 * Bytes of a message: `len` bytes at `off` in the ring. The worker copies them out before it answers
 * (the proxy thread reuses that space once the bytes are acknowledged; a scanner may keep what it is fed).
 */
export interface DataOp {
  op: 'data';
  id: number;
  off: number;
  len: number;
}

/** `n` bytes of a message went on unscanned (the backlog was full): later bytes keep true offsets. */
export interface GapOp {
  op: 'gap';
  id: number;
  n: number;
}

/** The message ended (complete or cut off: scanned as far as it arrived either way). */
export interface EndOp {
  op: 'end';
  id: number;
}

export type Op = OpenOp | DataOp | GapOp | EndOp;

/** One postMessage per worker per event-loop turn: every op of that turn, in order. */
export interface Batch {
  ops: Op[];
}

/** A summary without its detections (they were already sent one by one). */
export type DoneSummary = Omit<ScanSummary, 'detections'>;

/** What a worker sends back: detections as found, bytes taken off the backlog, summaries of ended messages. */
export interface Reply {
  /** [message id, detection] in the order found. */
  detections: [number, Detection][];
  /** [message id, bytes copied out of the ring and fed to its scanner] since the last reply, in ring order. */
  scanned: [number, number][];
  /** [message id, its summary] for messages whose scan finished. */
  done: [number, DoneSummary][];
}
