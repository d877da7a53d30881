// A scan worker thread: runs one MessageScanner per message the proxy thread hands it, with the same
// rules, salt and byte bound as scanning on the proxy thread, and reports detections as they are found
// (an event stream is not held until its end), the bytes it took off the backlog, and each summary.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { rulesFor } from '../../lib/rules/index.js';
import { MessageScanner } from '../../lib/scanner/message-scanner.js';
import type { Batch, Reply, WorkerInit } from './protocol.js';

/**
 * Forwarding never waits for the scanner, also for a core: where Linux lets a thread have its own nice
 * value, the worker runs at this one, so on a busy machine the proxy thread gets the CPU first and the
 * scanner the rest (when it falls behind, the backlog bound applies: bytes go on unscanned, counted).
 */
const WORKER_NICE = 5;

function lowerOwnPriority(): void {
  try {
    // `/proc/thread-self` -> `<pid>/task/<tid>`: this thread's id, which setpriority(2) takes on Linux.
    const tid = Number(path.basename(readlinkSync('/proc/thread-self')));
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, WORKER_NICE);
  } catch {
    // Not Linux, or not allowed: the worker runs at the process's priority.
  }
}
lowerOwnPriority();

const init = workerData as WorkerInit;
const salt = Buffer.from(init.salt);
const ring = Buffer.from(init.ring);
const rules = {
  outbound: rulesFor('outbound', init.disabledRules),
  inbound: rulesFor('inbound', init.disabledRules),
};
const scanners = new Map<number, MessageScanner>();

let out: Reply = { detections: [], scanned: [], done: [] };
let flushQueued = false;

function flush(): void {
  flushQueued = false;
  if (out.detections.length === 0 && out.scanned.length === 0 && out.done.length === 0) return;
  parentPort!.postMessage(out);
  out = { detections: [], scanned: [], done: [] };
}

/** Detections and summaries that come later (content decoding runs asynchronously) go out on the next turn. */
function queueFlush(): void {
  if (flushQueued) return;
  flushQueued = true;
  setImmediate(flush);
}

function handle(batch: Batch): void {
  const fed = new Map<number, number>();
  for (const op of batch.ops) {
    switch (op.op) {
      case 'open': {
        const id = op.id;
        scanners.set(
          id,
          new MessageScanner({
            direction: op.direction,
            rules: rules[op.direction],
            salt,
            maxScanBytes: init.maxScanBytes,
            destHost: op.destHost,
            contentEncoding: op.contentEncoding,
            contentType: op.contentType,
            location: op.location,
            onDetection: (d) => {
              out.detections.push([id, d]);
              queueFlush();
            },
          }),
        );
        break;
      }
      case 'data': {
        // A view of the ring, whose space is reused once acknowledged: the scanner copies what it keeps
        // (the text window's unscanned bytes, zlib's input), and only its own message's bytes. One copy
        // and one allocation per chunk fewer than copying each chunk out first; the first read of bytes
        // the proxy thread wrote (15% of this thread under the mix load) is paid either way.
        scanners.get(op.id)?.writeTransient(ring.subarray(op.off, op.off + op.len));
        fed.set(op.id, (fed.get(op.id) ?? 0) + op.len);
        break;
      }
      case 'gap':
        scanners.get(op.id)?.gap(op.n);
        break;
      case 'end': {
        const id = op.id;
        const s = scanners.get(id);
        if (!s) break;
        scanners.delete(id);
        const report = (sum: ReturnType<MessageScanner['summary']>) => {
          const { detections: _d, ...rest } = sum;
          out.done.push([id, rest]);
          queueFlush();
        };
        const now = s.endNow();
        if (now) report(now);
        else s.end().then(report, () => report(s.summary()));
        break;
      }
    }
  }
  for (const e of fed) out.scanned.push(e);
  // The backlog shrinks as soon as a batch was fed: answer this turn, not the next.
  flush();
}

parentPort!.on('message', (b: Batch) => handle(b));
