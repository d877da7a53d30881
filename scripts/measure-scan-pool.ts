// Measures what the scan pool costs the proxy thread, against scanning in place: the fixed cost of a
// pooled message, the cost per MiB handed over, and the in-place scan of identity bodies of a few sizes
// (the crossover behind INLINE_MAX_BYTES in host-services/scan-pool/routed-tap.ts). The pool's time is
// taken inside its own methods (the copies, posting, handling replies): on a busy 2-core machine the event
// loop's active time would also count moments this thread waits for a core the worker holds. Best of 5.
//
//   npm run build && node dist/scripts/measure-scan-pool.js
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { rulesFor } from '../lib/rules/index.js';
import { scanBuffer } from '../lib/scanner/message-scanner.js';
import { zeroCounters } from '../lib/status-schema.js';
import { ScanPool } from '../host-services/scan-pool/scan-pool.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const ROUNDS = 5;
const salt = randomBytes(32);
const turn = () => new Promise<void>((r) => setImmediate(r));

function body(n: number): Buffer {
  const line = '{"role":"user","content":"Please summarise the meeting notes and list the open items."},\n';
  return Buffer.from(line.repeat(Math.ceil(n / line.length)).slice(0, n));
}

let inPool = 0;
for (const name of ['write', 'end', 'open', 'flush', 'onReply']) {
  const proto = ScanPool.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const orig = proto[name]!;
  proto[name] = function (this: unknown, ...a: unknown[]) {
    const t = performance.now();
    try {
      return orig.apply(this, a);
    } finally {
      inPool += performance.now() - t;
    }
  };
}

async function main(): Promise<void> {
  const counters = zeroCounters();
  const pool = new ScanPool({
    workers: 1,
    backlogBytes: 256 * MiB,
    salt,
    // Above the 16 MiB messages below: every byte is copied (past this bound none would be).
    maxScanBytes: 64 * MiB,
    disabledRules: [],
    counters,
    log: (l, m) => console.error(`${l}: ${m}`),
  });
  const spec = { direction: 'outbound' as const, destHost: 'example.test', location: 'body' as const };

  // A pooled message per turn: open, one small chunk, end, its reply.
  const N = 2000;
  const tiny = body(64);
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    let done = 0;
    inPool = 0;
    for (let i = 0; i < N; i++) {
      const m = pool.open(spec, { onDetection: () => undefined, onDone: () => void done++ }, false)!;
      m.write(tiny);
      m.end();
      await turn();
    }
    while (done < N) await turn();
    best = Math.min(best, inPool / N);
  }
  console.log(`pooled message: ${(best * 1000).toFixed(1)} µs on the proxy thread (open, a 64-byte chunk, end, reply)`);

  // Bytes handed over: 64 KiB chunks, 4 per turn, 16 MiB per round.
  const chunk = body(64 * KiB);
  best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    let done = 0;
    inPool = 0;
    const turns = 64;
    const m = pool.open(spec, { onDetection: () => undefined, onDone: () => void done++ }, false)!;
    for (let i = 0; i < turns; i++) {
      for (let k = 0; k < 4; k++) m.write(chunk);
      await turn();
    }
    m.end();
    while (done < 1) await turn();
    while (pool.backlogBytes > 0) await new Promise((r) => setTimeout(r, 5));
    best = Math.min(best, inPool / ((turns * 4 * chunk.length) / MiB));
  }
  console.log(
    `pooled bytes: ${(best * 1000).toFixed(0)} µs on the proxy thread per MiB (copy into the ring, ops, acks)`,
  );
  if (counters.scan_skipped_bytes > 0) console.log(`(skipped ${counters.scan_skipped_bytes} bytes: numbers invalid)`);
  await pool.close();

  // In place: a whole identity body scanned on this thread at its end.
  const rules = rulesFor('outbound');
  for (const size of [1, 2, 4, 8, 16, 32, 64]) {
    const b = body(size * KiB);
    const reps = Math.max(50, Math.floor(2000 / size));
    best = Infinity;
    for (let round = 0; round < ROUNDS; round++) {
      const t = performance.now();
      for (let i = 0; i < reps; i++) await scanBuffer(b, { direction: 'outbound', rules, salt, maxScanBytes: MiB });
      best = Math.min(best, (performance.now() - t) / reps);
    }
    console.log(`in place, ${size} KiB identity body: ${(best * 1000).toFixed(1)} µs`);
  }
}

void main();
